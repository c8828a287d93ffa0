"""The table-affine assignor through Faust's and Kafka's protocol, without a broker: the leader's plan
is encoded as aiokafka sends it, and every member's Faust assignor accepts it (its own checks run)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocol

from sinkapp.config import build_settings
from sinkapp.errors import ConfigError
from sinkapp.faustio.app import BatchApp
from sinkapp.faustio.assignor import PROTOCOL, AffineAssignor, install
from sinkapp.worker.app import faust_options

BASE = {"topics": "a,b,c,d", "starrocks.http.url": "127.0.0.1:8030", "starrocks.database.name": "test",
        "starrocks.username": "root"}
TOPICS = {"a": 3, "b": 3, "c": 3, "d": 3}


class Cluster:
    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        n = self.partitions.get(topic)
        return set(range(n)) if n else None


def member(port: int, tables: dict[str, str]) -> Any:
    app = BatchApp(f"affine-test-{port}", broker="kafka://127.0.0.1:9", store="memory://", web_port=port,
                   PartitionAssignor=AffineAssignor)
    app.topic_tables = tables
    return app.assignor


def rebalance(members: dict[str, Any], cluster: Cluster, topics: dict[str, set[str]]) -> dict[str, set[tuple[str, int]]]:
    """One JoinGroup/SyncGroup round: metadata → bytes → the leader's assign → bytes → on_assignment."""
    wire = {m: ConsumerProtocol.METADATA.decode(a.metadata(topics[m]).encode()) for m, a in members.items()}
    leader = members[sorted(members)[0]]
    plan = leader.assign(cluster, wire)
    for m, a in members.items():
        a.on_assignment(ConsumerProtocol.ASSIGNMENT.decode(plan[m].encode()))   # Faust asserts it matches
    return {m: {(tp.topic, tp.partition) for tp in a.assigned_actives()} for m, a in members.items()}


def tables_held(held: set[tuple[str, int]], tables: dict[str, str]) -> set[str]:
    return {tables.get(t, t) for t, _ in held}


def test_four_topics_into_four_tables_each_on_one_worker_and_sticky_across_rebalances() -> None:
    tables = {t: f"test.{t}" for t in TOPICS}
    members = {"m1": member(7001, tables), "m2": member(7002, tables)}
    assert members["m1"].name == PROTOCOL
    subs = {m: set(TOPICS) for m in members}
    first = rebalance(members, Cluster(TOPICS), subs)
    assert sorted(len(v) for v in first.values()) == [6, 6]
    assert not tables_held(first["m1"], tables) & tables_held(first["m2"], tables)
    assert rebalance(members, Cluster(TOPICS), subs) == first            # nothing changed: nothing moves
    members["m3"] = member(7003, tables)
    third = rebalance(members, Cluster(TOPICS), {m: set(TOPICS) for m in members})
    assert sorted(len(v) for v in third.values()) == [4, 4, 4]
    kept = sum(len(first[m] & third[m]) for m in first)
    assert kept >= 12 - 5, (first, third)


def test_topics_into_one_table_are_one_group_and_an_unknown_topic_is_its_own() -> None:
    """The leader groups by its own routes; a topic it has none for (another worker's topics.regex
    found it first) is placed as a table of its own, only on members subscribed to it."""
    tables = {"a": "test.t", "b": "test.t", "c": "test.u"}      # the leader does not know d yet
    members = {"m1": member(7011, tables), "m2": member(7012, {**tables, "d": "test.d"})}
    held = rebalance(members, Cluster(TOPICS), {"m1": {"a", "b", "c"}, "m2": {"a", "b", "c", "d"}})
    assert {tp for tp in held["m2"] if tp[0] == "d"} == {("d", 0), ("d", 1), ("d", 2)}
    assert sorted(len(v) for v in held.values()) == [6, 6]
    assert any({"a", "b"} == {t for t, _ in v} for v in held.values()), held   # test.t whole on one


def test_the_config_key_chooses_the_assignor_and_names_itself_when_wrong() -> None:
    affine = build_settings(dict(BASE))
    assert affine.kafka is not None and affine.kafka.assignment == "affine"
    assert faust_options(affine)["PartitionAssignor"] is AffineAssignor
    spread = build_settings({**BASE, "sinkapp.assignment": "Spread"})
    assert spread.kafka is not None and spread.kafka.assignment == "spread"
    assert "PartitionAssignor" not in faust_options(spread)
    with pytest.raises(ConfigError, match=r"sinkapp.assignment='sticky' is not allowed; use one of affine, spread"):
        build_settings({**BASE, "sinkapp.assignment": "sticky"})


def test_install_makes_affine_the_only_strategy_and_leaves_spread_alone() -> None:
    """One strategy: aiokafka 0.14 sends one JoinGroup per offered assignor, which the broker reads as a
    member whose metadata changed (another rebalance, and two workers rebalanced each other for minutes)."""
    class Consumer:
        _partition_assignment_strategy: Any = [RoundRobinPartitionAssignor]

    app = BatchApp("affine-install", broker="kafka://127.0.0.1:9", store="memory://", PartitionAssignor=AffineAssignor)
    c = Consumer()
    install(app, c)
    assert c._partition_assignment_strategy == (app.assignor,)
    install(app, c)                                  # idempotent
    assert c._partition_assignment_strategy == (app.assignor,)
    plain = BatchApp("spread-install", broker="kafka://127.0.0.1:9", store="memory://")
    c2 = Consumer()
    install(plain, c2)
    assert c2._partition_assignment_strategy == [RoundRobinPartitionAssignor]


def test_a_members_metadata_is_the_same_at_every_join_whatever_it_was_assigned() -> None:
    """Kafka starts a new rebalance when a member joins again with other metadata than before: metadata
    that carried the last assignment made every spurious rejoin another rebalance (two workers were
    seen rebalancing each other for minutes). Stickiness comes from the leader's last plan instead."""
    tables = {t: f"test.{t}" for t in TOPICS}
    members = {"m1": member(7021, tables), "m2": member(7022, tables)}
    subs = {m: set(TOPICS) for m in members}
    before = {m: a.metadata(subs[m]).encode() for m, a in members.items()}
    first = rebalance(members, Cluster(TOPICS), subs)
    assert all(first.values())
    assert {m: a.metadata(subs[m]).encode() for m, a in members.items()} == before
