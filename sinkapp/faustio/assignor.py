"""The consumer group's partition assignor: Faust's, distributing partitions by target table.

Who calls: aiokafka's group coordinator, on the member the broker elects group leader, at every
rebalance (``assign``), and on every member (``metadata`` when it joins, ``on_assignment`` when the
leader's plan arrives). :func:`install` puts it in the worker's consumer
(:class:`sinkapp.faustio.consumer.BatchConsumerThread`) when the app's ``PartitionAssignor`` setting
is :class:`AffineAssignor` (``sinkapp.assignment=affine``, the default; ``spread`` keeps Kafka's round
robin, as Faust configures it for an app without tables).

Why: each worker holding partitions of a table sends it one Stream Load per flush interval, so a
table spread over W workers gets W loads per interval, W data versions. The plan is
:func:`sinkapp.faustio.affinity.place` (balance within one partition, then whole tables, then
stickiness). The leader groups the partitions of every subscribed topic by the table its own routes
send that topic to (``BatchApp.topic_tables``; every worker of a group runs the same configuration);
a topic it has no route for yet (``topics.regex``: another worker picked it up first) is a table of
its own until the leader routes it. Stickiness needs what each member held: the leader keeps its last
plan (a member keeps its member id across rebalances), so a group whose leader stays keeps its
partitions where they were; a new leader plans afresh (deterministically). A member's metadata is
its topics and URL only, never its last assignment: Kafka starts a new rebalance whenever a member
joins again with metadata that differs from its last JoinGroup's, so metadata that changed with every
assignment turned each spurious rejoin (a subscription refresh, a metadata update) into another
rebalance, and two workers could rebalance each other for minutes without one settling.

The consumer offers ``AffineAssignor`` alone. Offering round robin second (so that a group with an
older sinkapp or a ``spread`` worker in it would fall back to it) is what Kafka's protocol is for, but
aiokafka 0.14 sends one JoinGroup per offered assignor, the first with the first protocol only
(``perform_group_join``: the request loop sits inside the loop over assignors; aio-libs/aiokafka
PR #1168, open), and the broker reads the second as a member whose metadata changed: a new rebalance.
Two workers joining together then rebalanced each other for minutes (seen in
tests/test_topics_live_kafka.py, 2 runs in 9). So a group is either all affine or all spread: a
worker with the other setting, or a sinkapp before 0.3's assignor, is refused by the broker
(INCONSISTENT_GROUP_PROTOCOL) until the others have left; change the setting with all workers stopped. Faust tables (changelog topics, standbys) are Faust's own
business: with any, Faust's copartitioned assignment runs unchanged.

Private Faust and aiokafka names used here, pinned by tests/test_faust_contract.py:
``PartitionAssignor._perform_assignment``, ``_get_client_metadata``, ``_update_member_urls``,
``_protocol_assignments``, ``_get_changelog_distribution``, ``_get_external_topic_distribution``,
``_assignment``, ``_url``, and ``AIOKafkaConsumer._partition_assignment_strategy``.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from faust.assignor import PartitionAssignor
from faust.assignor.client_assignment import ClientAssignment, ClientMetadata

from sinkapp.faustio.affinity import TP, place

log = logging.getLogger(__name__)

PROTOCOL = "sinkapp-affine"


class AffineAssignor(PartitionAssignor):
    """Faust's assignor with the distribution of topic partitions replaced by :func:`place`."""

    @property
    def name(self) -> str:
        return PROTOCOL

    plan: dict[str, list[TP]] | None = None      # the leader's last plan, by member id

    def metadata(self, topics: set[str]) -> ConsumerProtocolMemberMetadata:
        """What this member tells the leader: its topics and its URL (the same at every join)."""
        meta = ClientMetadata(assignment=ClientAssignment(actives={}, standbys={}), url=str(self._url),
                              changelog_distribution={}, external_topic_distribution={}, topic_groups={})
        return ConsumerProtocolMemberMetadata(self.version, sorted(topics), meta.dumps())

    def _perform_assignment(self, cluster: Any, member_metadata: Any) -> Any:
        if self.app.tables.changelog_topics:      # Faust tables: their standbys need Faust's own plan
            return super()._perform_assignment(cluster, member_metadata)
        clients = {m: self._get_client_metadata(md) for m, md in member_metadata.items()}
        self._update_member_urls(clients)
        subscriptions = {m: set(md.subscription) for m, md in member_metadata.items()}
        topics = sorted({t for sub in subscriptions.values() for t in sub})
        groups = table_groups(topics, getattr(self.app, "topic_tables", {}), cluster.partitions_for_topic)
        previous = {m: list((self.plan or {}).get(m, ())) for m in clients}
        placed = self.plan = place(member_metadata, groups, previous, subscriptions)
        assignments = {m: ClientAssignment(actives=by_topic(placed.get(m, [])), standbys={})
                       for m in member_metadata}
        log.info("%s", describe(placed, groups, previous))
        return self._protocol_assignments(assignments, self._get_changelog_distribution(assignments),
                                          self._get_external_topic_distribution(assignments),
                                          {t: i for i, t in enumerate(topics)})


def table_groups(topics: list[str], topic_tables: dict[str, str], partitions_for_topic: Any) -> dict[str, list[TP]]:
    """Table key → the partitions of every topic loading into it (a topic without a route: its own)."""
    groups: dict[str, list[TP]] = {}
    for t in topics:
        parts = sorted(partitions_for_topic(t) or ())
        if not parts:
            log.warning("assignment: topic %s has no partitions in the leader's metadata; not assigned", t)
            continue
        groups.setdefault(topic_tables.get(t) or f"topic {t}", []).extend((t, p) for p in parts)
    return groups


def by_topic(tps: list[TP]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for t, p in sorted(tps):
        out.setdefault(t, []).append(p)
    return out


def describe(placed: dict[str, list[TP]], groups: dict[str, list[TP]], previous: dict[str, list[TP]]) -> str:
    """One log line for the leader: the shape of the plan and how much of it moved."""
    table_of = {tp: g for g, tps in groups.items() for tp in tps}
    spans = Counter(g for g, _ in {(table_of[tp], m) for m, tps in placed.items() for tp in tps})
    old = {tuple(tp): m for m, tps in previous.items() for tp in tps}
    moved = sum(1 for m, tps in placed.items() for tp in tps if tp in old and old[tp] != m)
    counts = sorted(len(tps) for tps in placed.values())
    return (f"assignment (table-affine): {sum(counts)} partitions of {len(groups)} tables over {len(placed)} "
            f"members ({counts[0] if counts else 0}..{counts[-1] if counts else 0} each); "
            f"{sum(1 for n in spans.values() if n > 1)} tables split; {moved} partitions moved")


def install(app: Any, consumer: Any) -> None:
    """Make the app's :class:`AffineAssignor` ``consumer``'s only strategy (before it starts), when the
    app is configured with it (see the module doc for why not beside round robin)."""
    assignor = app.assignor
    if isinstance(assignor, AffineAssignor):
        consumer._partition_assignment_strategy = (assignor,)
