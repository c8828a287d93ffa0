"""``topics.regex`` followed live, on the real broker: a topic created after the worker started is
routed, assigned and loaded without a restart (within ``metadata.max.age.ms``); a deleted topic's route
stops cleanly (REMOVED, no ERROR line, no stuck rebalance) while the others go on loading.

Every wait is on state (rows in the emulator, /status), never a fixed sleep.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_worker_kafka import DDL_T, connector
from tests.workers import Worker, produce_sync, wait_until

pytestmark = pytest.mark.kafka


def _rows(n: int, start: int = 0) -> list[bytes]:
    return [orjson.dumps({"id": i, "name": f"n{i}", "amount": i * 1.5}) for i in range(start, start + n)]


def _ids(emulator: Any, table: str) -> list[int]:
    return sorted(r["id"] for r in emulator.rows("test", table))


def _task(w: Worker, route: str) -> str | None:
    """The /status state of the route named ``route`` (None when it is not listed, or no page yet)."""
    code, body = w.get("/status")
    if code != 200:
        return None
    return next((t["state"] for t in orjson.loads(body)["tasks"] if t["id"] == route), None)


def _errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(w in line for w in ("[ERROR]", "[CRITICAL]", "Traceback"))]


def test_a_topic_created_after_start_is_loaded_and_a_deleted_one_stops_cleanly(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    stem = f"live{uuid.uuid4().hex[:6]}"
    one, two = f"{stem}_one", f"{stem}_two"
    for t in (one, two):
        emulator.add_table("test", DDL_T.format(name=t))
    topic_factory(partitions=2, name=one)
    produce_sync(kafka.bootstrap_servers, one, _rows(100), partitions=2)
    cfg = connector(kafka, emulator, **{"topics.regex": f"{stem}_.*", "metadata.max.age.ms": "2000"})
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        wait_until(lambda: emulator.count("test", one) >= 100 or not w.alive(), 60, f"the rows of {one}")
        assert _task(w, f"{two}->test.{two}") is None
        # a second matching topic, created while the worker runs and the first topic keeps flowing
        topic_factory(partitions=2, name=two)
        produce_sync(kafka.bootstrap_servers, two, _rows(150, start=1000), partitions=2)
        produce_sync(kafka.bootstrap_servers, one, _rows(100, start=100), partitions=2)
        wait_until(lambda: emulator.count("test", two) >= 150 or not w.alive(), 60,
                   f"the rows of {two}, created after the worker started")
        wait_until(lambda: emulator.count("test", one) >= 200 or not w.alive(), 30, f"the next rows of {one}")
        assert f"new topic {two} matches topics.regex: route {two}->test.{two} added" in w.log()
        assert _task(w, f"{two}->test.{two}") == "RUNNING"
        assert sorted(w.assigned()) == sorted(f"{t}[{p}]" for t in (one, two) for p in (0, 1))

        # the second topic is deleted: its route shows REMOVED, the first keeps loading
        kafka.delete_topic(two)
        wait_until(lambda: _task(w, f"{two}->test.{two}") == "REMOVED" or not w.alive(), 30,
                   f"the route of {two} REMOVED")
        wait_until(lambda: sorted(w.assigned()) == [f"{one}[0]", f"{one}[1]"] or not w.alive(), 30,
                   f"only {one}'s partitions assigned")
        produce_sync(kafka.bootstrap_servers, one, _rows(100, start=200), partitions=2)
        wait_until(lambda: emulator.count("test", one) >= 300 or not w.alive(), 60, f"the last rows of {one}")
        assert w.ready(), w.get("/health/ready")
        assert w.metric("sinkapp_route_up", route=f"{two}->test.{two}") == 0
        assert w.metric("sinkapp_route_up", route=f"{one}->test.{one}") == 1
    finally:
        assert w.stop() == 0
    log = w.log()
    assert _ids(emulator, one) == list(range(300)), log[-3000:]
    assert _ids(emulator, two) == list(range(1000, 1150)), log[-3000:]
    assert f"topic {two} was deleted: route {two}->test.{two} removed" in log
    assert not _errors(log), "\n".join(_errors(log))
