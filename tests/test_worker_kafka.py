"""End to end on the real broker: sinkapp worker processes load topics into the Stream Load emulator.

Each test produces to a fresh topic, runs ``sinkapp worker --config FILE`` as a subprocess,
and checks the rows in the emulator and the consumer group's committed offsets.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.workers import (
    Worker,
    datagen_order,
    fixture_path,
    offsets_sync,
    produce_sync,
    wait_committed,
    wait_until,
)

pytestmark = pytest.mark.kafka


DDL_T = "CREATE TABLE {name} (id BIGINT, name STRING, amount DOUBLE) DUPLICATE KEY(id);"


def tname(stem: str) -> str:
    """A topic name that is also a valid StarRocks table name."""
    return f"{stem}_{uuid.uuid4().hex[:8]}"


def connector(kafka: Any, emulator: Any, fixture: str | None = None, **over: str) -> dict[str, str]:
    """A connector config: the product fixture (or a minimal one) with URL, credentials, Kafka changed."""
    cfg: dict[str, str] = json.loads((fixture_path(fixture)).read_text()) if fixture else {}
    cfg.update({
        "starrocks.http.url": emulator.fe_url,
        "starrocks.username": "root",
        "starrocks.password": "pw",
        "starrocks.database.name": "test",
        "bootstrap.servers": kafka.bootstrap_servers,
        "group.id": f"g-{uuid.uuid4().hex[:8]}",
        "bufferflush.intervalms": "1000",
        "sinkapp.drain.timeout.ms": "10000",
    })
    cfg.update(over)
    return cfg


def test_connector_json_fixture_loads_10k_orders(kafka: Any, emulator: Any, topic_factory: Any,
                                                 tmp_path: Path) -> None:
    topic = topic_factory(partitions=3, name=tname("orders"))
    emulator.add_table("test", (fixture_path("test123.sql")).read_text().replace("test123", f"t_{topic}"))
    cfg = connector(kafka, emulator, "connector-json.json", topics=topic,
                    **{"starrocks.topic2table.map": f"{topic}:t_{topic}"})
    n = 10_000
    produce_sync(kafka.bootstrap_servers, topic, (orjson.dumps(datagen_order(i)) for i in range(n)),
                 keys=(str(i).encode() for i in range(n)), partitions=3)
    w = Worker(cfg, tmp_path).start()
    try:
        wait_until(lambda: emulator.count("test", f"t_{topic}") >= n or not w.alive(), 90,
                   "10,000 rows in the emulator")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
    finally:
        w.stop()
    rows = emulator.rows("test", f"t_{topic}")
    assert len(rows) == n, w.log()[-3000:]
    by_id = {r["orderid"]: r for r in rows}
    assert len(by_id) == n
    for i in (0, 1, 4321, n - 1):
        o = datagen_order(i)
        r = by_id[i]
        assert r["ordertime"] == o["ordertime"]
        assert r["itemid"] == o["itemid"]
        assert float(r["orderunits"]) == o["orderunits"]
        assert (r["city"], r["state"], r["zipcode"]) == (
            o["address"]["city"], o["address"]["state"], o["address"]["zipcode"])
    committed, ends = offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)
    assert committed == ends and sum(ends.values()) == n


def _rows(n: int, start: int = 0) -> list[bytes]:
    return [orjson.dumps({"id": i, "name": f"n{i}", "amount": i * 1.5}) for i in range(start, start + n)]


def test_two_topics_into_two_tables(kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    a, b = topic_factory(partitions=2, name=tname("a")), topic_factory(partitions=1, name=tname("b"))
    emulator.add_table("test", DDL_T.format(name="ta_" + a))
    emulator.add_table("test", DDL_T.format(name="tb_" + b))
    cfg = connector(kafka, emulator, topics=f"{a},{b}",
                    **{"starrocks.topic2table.map": f"{a}:ta_{a},{b}:tb_{b}"})
    produce_sync(kafka.bootstrap_servers, a, _rows(300), partitions=2)
    produce_sync(kafka.bootstrap_servers, b, _rows(200, start=1000))
    w = Worker(cfg, tmp_path).start()
    try:
        wait_until(lambda: emulator.count("test", "ta_" + a) >= 300 and emulator.count("test", "tb_" + b) >= 200,
                   60, "rows in both tables")
    finally:
        w.stop()
    assert sorted(r["id"] for r in emulator.rows("test", "ta_" + a)) == list(range(300))
    assert sorted(r["id"] for r in emulator.rows("test", "tb_" + b)) == list(range(1000, 1200))


def test_topics_regex_routes_matching_topics(kafka: Any, emulator: Any, topic_factory: Any,
                                             tmp_path: Path) -> None:
    stem = f"rx{uuid.uuid4().hex[:6]}"
    t1, t2, other = (topic_factory(partitions=1, name=f"{stem}_{s}") for s in ("one", "two", "skip"))
    for t in (t1, t2, other):
        emulator.add_table("test", DDL_T.format(name=t))
        produce_sync(kafka.bootstrap_servers, t, _rows(50))
    cfg = connector(kafka, emulator, **{"topics.regex": f"{stem}_(one|two)"})
    w = Worker(cfg, tmp_path).start()
    try:
        wait_until(lambda: emulator.count("test", t1) >= 50 and emulator.count("test", t2) >= 50, 60,
                   "rows of both matching topics")
    finally:
        w.stop()
    assert emulator.count("test", other) == 0


def test_failing_loads_hold_offsets_then_every_row_arrives(kafka: Any, emulator: Any, topic_factory: Any,
                                                           tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("fail"))
    emulator.add_table("test", DDL_T.format(name=topic))
    cfg = connector(kafka, emulator, topics=topic, **{"sink.maxretries": "-1"})
    emulator.faults.fail_next(10_000, http_status=500, table=topic)
    produce_sync(kafka.bootstrap_servers, topic, _rows(500), partitions=2)
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        wait_until(lambda: w.get("/status")[0] == 200 and w.route()["retries"] >= 4, 60, "several load retries")
        committed, ends = offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)
        assert sum(committed.values()) == 0 and sum(ends.values()) == 500
        assert emulator.count("test", topic) == 0
        emulator.faults.clear()
        wait_until(lambda: emulator.count("test", topic) >= 500, 60, "all rows after the fault cleared")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
    finally:
        w.stop()
    assert sorted(r["id"] for r in emulator.rows("test", topic)) == list(range(500))


def test_rejected_row_stops_route_with_error_url_after_loading_the_rows_before_it(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """errors.tolerance=none and StarRocks refuses a row: the batch is halved to find it, the rows
    before it are loaded and committed, the route stops there with StarRocks' message."""
    topic = topic_factory(partitions=1, name=tname("bad"))
    emulator.add_table("test", DDL_T.format(name=topic))
    cfg = connector(kafka, emulator, topics=topic, **{"sink.properties.strict_mode": "true"})
    good = _rows(10)
    bad = [orjson.dumps({"id": "not-a-number", "name": "x", "amount": "also-bad"})]
    produce_sync(kafka.bootstrap_servers, topic, good + bad + _rows(5, start=100))
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        w.wait_failed()
    finally:
        w.stop()
    log = w.log()                                      # what the operator reads: StarRocks' reason, where
    assert "too many filtered rows" in log
    assert "ErrorURL" in log and "Error:" in log
    stop = next(ln for ln in log.splitlines() if "STOPPED" in ln)
    assert f"{topic}[0]@10" in stop and "refused by StarRocks" in stop
    committed, _ = offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)
    assert committed == {0: 10}
    assert sorted(r["id"] for r in emulator.rows("test", topic)) == list(range(10))


def test_sigterm_flushes_buffer_and_commits(kafka: Any, emulator: Any, topic_factory: Any,
                                            tmp_path: Path) -> None:
    topic = topic_factory(partitions=3, name=tname("term"))
    emulator.add_table("test", DDL_T.format(name=topic))
    cfg = connector(kafka, emulator, topics=topic, **{"bufferflush.intervalms": "3600000"})
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        w.wait_ready()
        produce_sync(kafka.bootstrap_servers, topic, _rows(900), partitions=3)
        wait_until(lambda: w.route()["buffered_rows"] == 900, 40, "900 rows buffered")
        assert emulator.count("test", topic) == 0
    finally:
        rc = w.stop()
    assert rc == 0, w.log()[-2000:]
    assert emulator.count("test", topic) == 900
    committed, ends = offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)
    assert committed == ends


def test_records_of_aborted_upstream_transactions_are_never_loaded(kafka: Any, emulator: Any,
                                                                  topic_factory: Any, tmp_path: Path) -> None:
    """An upstream producer with transactions (Kafka Streams, Flink, Debezium exactly-once):
    sinkapp reads committed records only."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    topic = topic_factory(partitions=1, name=tname("txn"))
    emulator.add_table("test", DDL_T.format(name=topic))

    async def produce() -> None:
        p = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, transactional_id=f"t-{topic}")
        await p.start()
        try:
            for start, commit in ((0, True), (100, False), (10, True)):
                async with p.transaction() if commit else _aborting(p):
                    for v in _rows(10, start=start):
                        await p.send(topic, v)
        finally:
            await p.stop()

    class _aborting:                                   # noqa: N801  (a context manager)
        def __init__(self, p: Any) -> None:
            self.p = p

        async def __aenter__(self) -> None:
            await self.p.begin_transaction()

        async def __aexit__(self, *exc: object) -> bool:
            await self.p.abort_transaction()
            return False

    asyncio.run(produce())
    cfg = connector(kafka, emulator, topics=topic)
    w = Worker(cfg, tmp_path).start()
    try:
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w.log)   # commits follow loads
    finally:
        w.stop()
    assert sorted(r["id"] for r in emulator.rows("test", topic)) == list(range(20))
