"""Debezium CDC end to end on the real broker: r, c, u, d (+ tombstone) events into a PRIMARY KEY
table, with the Java connector's own Debezium configuration, compared row by row with the source."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_formats_kafka import connector, tname, wait_for
from tests.workers import Worker, produce_sync, wait_committed

pytestmark = pytest.mark.kafka

DDL = ("CREATE TABLE {name} (id BIGINT, name STRING, born DATE, seen DATETIME, amount DECIMAL(12,3)) "
       "PRIMARY KEY(id);")


ROW_SCHEMA = {"type": "struct", "optional": True, "name": "mysql.shop.customers.Value", "fields": [
    {"field": "id", "type": "int64"},
    {"field": "name", "type": "string", "optional": True},
    {"field": "born", "type": "int32", "optional": True, "name": "io.debezium.time.Date"},
    {"field": "seen", "type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp"},
    {"field": "amount", "type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
     "parameters": {"scale": "3"}},
]}
ENVELOPE_SCHEMA = {"type": "struct", "name": "mysql.shop.customers.Envelope", "fields": [
    {"field": "before", **ROW_SCHEMA}, {"field": "after", **ROW_SCHEMA},
    {"field": "source", "type": "struct", "fields": [{"field": "table", "type": "string"}]},
    {"field": "op", "type": "string"}, {"field": "ts_ms", "type": "int64", "optional": True}]}


def source_row(i: int, version: int) -> dict[str, Any]:
    born = dt.date(1990, 1, 1) + dt.timedelta(days=i * 37)
    seen = dt.datetime(2024, 5, 1, 12, 0, 0) + dt.timedelta(seconds=i * 3601, microseconds=i * 7 + version)
    cents = (i * 1000 + version * 7) * (-1 if i % 5 == 0 else 1)
    return {"id": i, "name": f"c{i}v{version}", "born": born, "seen": seen, "amount_milli": cents}


def wire(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The row as Debezium's JsonConverter writes it (epoch days, epoch µs, base64 unscaled decimal)."""
    if row is None:
        return None
    us = int((row["seen"] - dt.datetime(1970, 1, 1)) / dt.timedelta(microseconds=1))
    unscaled = row["amount_milli"].to_bytes(8, "big", signed=True)
    return {"id": row["id"], "name": row["name"], "born": (row["born"] - dt.date(1970, 1, 1)).days, "seen": us,
            "amount": base64.b64encode(unscaled).decode()}


def event(op: str, before: dict | None, after: dict | None) -> bytes:
    return orjson.dumps({"schema": ENVELOPE_SCHEMA, "payload": {
        "before": wire(before), "after": wire(after), "source": {"table": "customers"}, "op": op, "ts_ms": 1}})


def test_debezium_snapshot_inserts_updates_deletes_reach_the_primary_key_table(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("cdc"))
    emulator.add_table("test", DDL.format(name=topic))
    state: dict[int, dict[str, Any]] = {}
    values: list[bytes | None] = []
    keys: list[bytes | None] = []

    def emit(op: str, i: int, before: dict | None, after: dict | None) -> None:
        values.append(event(op, before, after))
        keys.append(orjson.dumps({"id": i}))

    for i in range(30):                                        # snapshot
        state[i] = source_row(i, 0)
        emit("r", i, None, state[i])
    for i in range(30, 40):                                    # inserts
        state[i] = source_row(i, 0)
        emit("c", i, None, state[i])
    for i in range(0, 40, 3):                                  # updates
        old, state[i] = state[i], source_row(i, 1)
        emit("u", i, old, state[i])
    for i in range(0, 40, 4):                                  # deletes, each followed by its tombstone
        emit("d", i, state.pop(i), None)
        values.append(None)
        keys.append(orjson.dumps({"id": i}))
    values.append(orjson.dumps({"schema": ENVELOPE_SCHEMA, "payload": {     # a truncate: skipped
        "before": None, "after": None, "source": {"table": "customers"}, "op": "t", "ts_ms": 1}}))
    keys.append(None)
    produce_sync(kafka.bootstrap_servers, topic, values, keys=keys)
    # the Java connector's documented Debezium configuration, unchanged
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "transforms": "addfield,unwrap",
        "transforms.addfield.type": "com.starrocks.connector.kafka.transforms.AddOpFieldForDebeziumRecord",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.drop.tombstones": "true",
        "transforms.unwrap.delete.handling.mode": "rewrite",
        "sink.properties.columns": "id, name, born, seen, amount",
        "sink.properties.jsonpaths": '["$.id", "$.name", "$.born", "$.seen", "$.amount"]',
        "group.id": f"cdc-{uuid.uuid4().hex[:6]}"})
    w = Worker(cfg, tmp_path).start()
    try:
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w.log)
        wait_for(w, lambda: sorted(r["id"] for r in emulator.rows("test", topic)) == sorted(state), 30,
                 "the table to equal the source")
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    rows = {r["id"]: r for r in emulator.rows("test", topic)}
    assert sorted(rows) == sorted(state)                       # deletes applied, nothing extra
    for i, src in state.items():
        r = rows[i]
        assert r["name"] == src["name"]
        assert str(r["born"]) == src["born"].isoformat()
        assert str(r["seen"]).replace("T", " ").startswith(src["seen"].strftime("%Y-%m-%d %H:%M:%S"))
        assert str(r["amount"]) == f"{src['amount_milli'] / 1000:.3f}"


def test_rows_routed_to_tables_by_a_field_value(kafka: Any, emulator: Any, topic_factory: Any,
                                                tmp_path: Path) -> None:
    """TableByField on the broker: one topic into two tables, each row once, committed to the end."""
    topic = topic_factory(partitions=2, name=tname("route"))
    for kind in ("click", "view"):
        emulator.add_table("test", f"CREATE TABLE {topic}_{kind} (id BIGINT, page STRING) DUPLICATE KEY(id);")
    kinds = ["click" if i % 3 else "view" for i in range(300)]
    produce_sync(kafka.bootstrap_servers, topic,
                 [orjson.dumps({"id": i, "kind": k, "page": f"/p{i}"}) for i, k in enumerate(kinds)], partitions=2)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "transforms": "route", "transforms.route.type": "TableByField", "transforms.route.field": "kind",
        "transforms.route.format": f"{topic}_{{}}", "transforms.route.remove": "true",
        "group.id": f"route-{uuid.uuid4().hex[:6]}"})
    w = Worker(cfg, tmp_path).start()
    try:
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w.log)
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    for kind in ("click", "view"):
        ids = sorted(r["id"] for r in emulator.rows("test", f"{topic}_{kind}"))
        assert ids == [i for i, k in enumerate(kinds) if k == kind]
