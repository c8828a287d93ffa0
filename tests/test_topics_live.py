"""``topics.regex`` followed live, without a broker: the discovery diff, the ``metadata.max.age.ms`` key,
a route added to a running pipeline, a removed route on the pages, aiokafka's deleted-topic record.

The same on the real broker: tests/test_topics_live_kafka.py.
"""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest

from sinkapp.config import build_settings
from sinkapp.config.routes import Route, TopicChanges, topic_changes
from sinkapp.converters import build_converter
from sinkapp.errors import ConfigError
from sinkapp.faustio.subscribe import DeletedTopicNotice
from sinkapp.observe import web
from sinkapp.pipeline.encode import Chunker
from sinkapp.pipeline.types import RouteState
from sinkapp.streamload.encoding import JsonEncoder
from sinkapp.worker.app import faust_options
from tests.pipeline_fakes import harness
from tests.test_config import BASE


def regex_settings(regex: str = r"orders_\w+", **over: str):
    raw = {k: v for k, v in BASE.items() if k != "topics"}
    raw.update({"topics.regex": regex, **over})
    return build_settings(raw)


def test_new_matches_are_added_and_deleted_routed_topics_removed() -> None:
    s = regex_settings()
    existing = ["orders_a", "orders_c", "orders_b", "other", "__consumer_offsets", "orders_x-changelog"]
    assert topic_changes(s, ["orders_a", "orders_gone"], existing) == TopicChanges(("orders_b", "orders_c"),
                                                                                   ("orders_gone",))
    assert not topic_changes(s, ["orders_a", "orders_b", "orders_c"], existing)


def test_every_worker_adds_the_same_routes_in_the_same_order_whatever_the_listing_order() -> None:
    """Workers of a group list the topics independently: the order they add routes in is sorted."""
    s = regex_settings()
    a = topic_changes(s, ["orders_a"], ["orders_z", "orders_m", "orders_a", "orders_b"])
    b = topic_changes(s, {"orders_a"}, reversed(["orders_z", "orders_m", "orders_a", "orders_b"]))
    assert a == b and a.added == ("orders_b", "orders_m", "orders_z")


def test_a_topics_list_is_fixed_at_start() -> None:
    s = build_settings(dict(BASE))
    assert topic_changes(s, ["orders"], ["orders", "orders_new"]) == TopicChanges()
    assert topic_changes(s, ["orders"], []) == TopicChanges()      # not even a deleted one


def test_metadata_max_age_ms_is_read_and_passed_to_the_consumer() -> None:
    s = regex_settings()
    assert s.kafka is not None and s.kafka.metadata_max_age_ms == 300_000        # Kafka's default
    fast = regex_settings(**{"metadata.max.age.ms": "2000"})
    assert fast.kafka is not None and fast.kafka.metadata_max_age_ms == 2000
    assert faust_options(fast)["consumer_metadata_max_age_ms"] == 2000
    with pytest.raises(ConfigError, match=re.escape("metadata.max.age.ms=10 is out of range")):
        regex_settings(**{"metadata.max.age.ms": "10"})


async def test_a_route_added_to_a_running_pipeline_loads_and_its_removal_is_not_a_failure() -> None:
    h = harness(topics=("orders_a",), max_rows=2)
    await h.take(h.batch(0, range(0, 2), topic="orders_a"))
    await h.flush()
    conv, enc = build_converter(h.pipe.routes[0].route.value_converter), JsonEncoder()
    route = Route("orders_b", "test", "tb", {}, h.pipe.routes[0].route.value_converter, None)
    ri = h.pipe.add_route(route, conv, Chunker(conv, enc), enc, {"format": "json"})
    assert ri.id == 1 and h.pipe.by_topic["orders_b"] is ri
    await h.take(h.batch(0, range(5, 7), topic="orders_b"), route=1)
    await h.flush()
    assert [(t, len(rows)) for t, _, rows in h.client.attempts] == [("t", 2), ("tb", 2)]
    assert ri.stats.rows_loaded == 2

    h.pipe.topic_gone("orders_b")
    snap = dataclasses.replace(h.pipe.snapshot(), assigned_once=True)
    view = next(r for r in snap.routes if r.topic == "orders_b")
    assert ri.state is RouteState.REMOVED and view.state == "REMOVED"
    assert web.route_state(view) == ("REMOVED", "topic orders_b was deleted")
    assert web.readiness(snap, 60.0) == (True, [])
    assert web.status(snap)["ok"]
    await h.take(h.batch(0, range(7, 9), topic="orders_b"), route=1)   # nothing of a removed route loads
    await h.flush()
    assert len(h.client.attempts) == 2
    h.pipe.topic_gone("orders_b", gone=False)                           # created again
    assert ri.state is RouteState.RUNNING


def test_a_stopped_route_stays_stopped_when_its_topic_is_deleted() -> None:
    h = harness(topics=("orders_a",))
    h.pipe.stop_routes([0], "bad record")
    h.pipe.topic_gone("orders_a")
    assert h.pipe.routes[0].state is RouteState.STOPPED
    h.pipe.topic_gone("orders_a", gone=False)
    assert h.pipe.routes[0].state is RouteState.STOPPED


def test_aiokafkas_deleted_topic_error_becomes_a_warning_and_nothing_else_does() -> None:
    f = DeletedTopicNotice()
    gone = logging.LogRecord("aiokafka.cluster", logging.ERROR, __file__, 1,
                             "Topic %s not found in cluster metadata", ("orders_b",), None)
    other = logging.LogRecord("aiokafka.cluster", logging.ERROR, __file__, 1,
                              "Topic %s is not authorized for this client", ("orders_b",), None)
    assert f.filter(gone) and f.filter(other)
    assert (gone.levelname, other.levelname) == ("WARNING", "ERROR")
