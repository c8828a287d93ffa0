"""``topics.regex`` followed live, on the real broker: a topic created after the worker started is
routed, assigned and loaded without a restart (within ``metadata.max.age.ms``); a deleted topic's route
stops cleanly (REMOVED, no ERROR line, no stuck rebalance) while the others go on loading.

Every wait is on state (rows in the emulator, /status), never a fixed sleep.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_worker_kafka import DDL_T, connector
from tests.workers import Worker, produce_sync, wait_until

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def ddl_emulator() -> Iterator[Any]:
    """A Stream Load emulator with its MySQL front, where auto.create makes tables."""
    from sinkapp_testkit.streamload import EmulatorThread

    with EmulatorThread(user="root", password="pw", databases=["test"], mysql_port=0) as emu:
        yield emu


def _rows(n: int, start: int = 0) -> list[bytes]:
    return [orjson.dumps({"id": i, "name": f"n{i}", "amount": i * 1.5}) for i in range(start, start + n)]


def _ids(emulator: Any, table: str) -> list[int]:
    return sorted(r["id"] for r in emulator.rows("test", table))


def _count(emulator: Any, table: str) -> int:
    """Rows in ``test.table``; 0 while the table does not exist (auto.create makes it)."""
    return emulator.count("test", table) if table in emulator.cluster.catalog.dbs["test"] else 0


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


def test_two_workers_both_route_a_new_topic_whose_table_auto_create_makes(
        kafka: Any, ddl_emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    from tests.test_tables_follow_kafka import F_ID, F_QTY_INT, _connect_value

    stem = f"liveac{uuid.uuid4().hex[:6]}"
    one, two = f"{stem}_one", f"{stem}_two"
    topic_factory(partitions=2, name=one)

    def values(start: int, n: int) -> list[bytes]:
        return [_connect_value([F_ID, F_QTY_INT], {"id": i, "qty": i}) for i in range(start, start + n)]

    emulator = ddl_emulator
    produce_sync(kafka.bootstrap_servers, one, values(0, 40), partitions=2)
    cfg = connector(kafka, emulator, **{
        "topics.regex": f"{stem}_.*", "metadata.max.age.ms": "2000",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "true",
        "auto.create": "true", "starrocks.jdbc.url": emulator.jdbc_url})
    ws = [Worker(cfg, tmp_path, f"w{i}", web=True).start() for i in range(2)]

    def spread(topics: tuple[str, ...]) -> bool:
        held = [p for w in ws for p in w.assigned()]
        return sorted(held) == sorted(f"{t}[{p}]" for t in topics for p in (0, 1))

    try:
        wait_until(lambda: _count(emulator, one) >= 40 or not all(w.alive() for w in ws), 90,
                   f"the rows of {one} (its table made by auto.create)")
        wait_until(lambda: spread((one,)) and all(w.assigned() for w in ws) or not all(w.alive() for w in ws), 60,
                   "both workers holding a partition")
        assert all(w.alive() for w in ws), ws[0].log()[-3000:]
        topic_factory(partitions=2, name=two)
        produce_sync(kafka.bootstrap_servers, two, values(1000, 60), partitions=2)
        wait_until(lambda: _count(emulator, two) >= 60 or not all(w.alive() for w in ws), 90, f"the rows of {two}, created after both workers started")
        wait_until(lambda: spread((one, two)), 60, "the four partitions spread over the two workers once")
        assert [_task(w, f"{two}->test.{two}") for w in ws] == ["RUNNING", "RUNNING"]
    finally:
        codes = [w.stop() for w in ws]
    logs = [w.log() for w in ws]
    assert codes == [0, 0], logs[0][-3000:]
    for log in logs:
        assert f"new topic {two} matches topics.regex: route {two}->test.{two} added" in log
        assert not _errors(log), "\n".join(_errors(log))
    assert _ids(emulator, one) == list(range(40))
    assert _ids(emulator, two) == list(range(1000, 1060))
