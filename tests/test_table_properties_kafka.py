"""Per-table load properties on the real broker: two topics into two tables, each table loaded with
its own ``sink.table.<table>.properties.*`` (tests/test_table_properties.py has the unit tests).

One ``sinkapp worker`` subprocess against the session broker and the module's Stream Load emulator;
the rows stored in the emulator show which headers each table's loads carried.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from sinkapp.config import Secret
from sinkapp.streamload.client import StreamLoadClient
from tests.test_formats_kafka import connector, tname, wait_for
from tests.workers import Worker, produce_sync, wait_committed

pytestmark = pytest.mark.kafka

DDL = "CREATE TABLE {name} (id BIGINT, name STRING, amount DOUBLE) PRIMARY KEY(id) DISTRIBUTED BY HASH(id);"


def preload(emulator: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows already in ``table`` before the worker starts (a Stream Load of their own)."""
    async def run() -> None:
        client = StreamLoadClient([emulator.fe_url], "root", Secret("pw"))
        try:
            await client.load("test", table, f"pre-{uuid.uuid4().hex}", orjson.dumps(rows),
                              {"format": "json", "strip_outer_array": "true"})
        finally:
            await client.close()

    asyncio.run(run())


def test_two_topics_into_two_tables_load_with_their_own_properties(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """Both topics carry ``{"id", "amount"}`` updates of rows that already have a name. Table A (bare
    name) computes ``name`` in its ``columns``; table B (``db.table``) is a partial update of ``amount``,
    so its names stay. With the global ``sink.properties.*`` alone both would lose their names."""
    ta, tb = topic_factory(name=tname("pa")), topic_factory(name=tname("pb"))
    a, b = f"t_{ta}", f"t_{tb}"
    n = 20
    for table in (a, b):
        emulator.add_table("test", DDL.format(name=table))
        preload(emulator, table, [{"id": i, "name": f"old{i}", "amount": 0.0} for i in range(n)])
    for topic in (ta, tb):
        produce_sync(kafka.bootstrap_servers, topic, (orjson.dumps({"id": i, "amount": i + 0.5}) for i in range(n)))
    cfg = connector(kafka, emulator, topics=f"{ta},{tb}", **{
        "starrocks.topic2table.map": f"{ta}:{a},{tb}:{b}",
        "sink.properties.max_filter_ratio": "0",
        f"sink.table.{a}.properties.columns": "id, amount, name = 'from_a'",
        f"sink.table.test.{b}.properties.partial_update": "true",
        f"sink.table.test.{b}.properties.columns": "id,amount",
    })
    w = Worker(cfg, tmp_path).start()
    try:
        def updated(table: str) -> bool:
            return sum(r["amount"] > 0 for r in emulator.rows("test", table)) == n

        for table in (a, b):
            wait_for(w, lambda t=table: updated(t) or not w.alive(), 60, f"{n} rows updated in {table}")
        assert w.alive(), w.log()[-3000:]
        for topic in (ta, tb):
            wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
    finally:
        rc = w.stop()
    assert rc == 0, w.log()[-3000:]
    rows_a = {r["id"]: r for r in emulator.rows("test", a)}
    rows_b = {r["id"]: r for r in emulator.rows("test", b)}
    assert len(rows_a) == len(rows_b) == n
    assert all((r["name"], r["amount"]) == ("from_a", i + 0.5) for i, r in rows_a.items()), rows_a
    assert all((r["name"], r["amount"]) == (f"old{i}", i + 0.5) for i, r in rows_b.items()), rows_b
    heads = {table: [ld.headers for ld in emulator.loads("test", table) if not ld.label.startswith("pre-")]
             for table in (a, b)}
    assert heads[a] and all(h.get("columns") == "id, amount, name = 'from_a'" and "partial_update" not in h
                            for h in heads[a]), heads[a]
    assert heads[b] and all(h.get("partial_update") == "true" and h.get("columns") == "id,amount"
                            for h in heads[b]), heads[b]
