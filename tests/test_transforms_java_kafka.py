"""The Java connector's transform configurations end to end on the real broker: records as a
Connect JSON / Debezium producer writes them, the documented config unchanged, rows read back
from the Stream Load emulator."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_formats_kafka import connector, run_until_loaded, tname, wait_for
from tests.workers import Worker, produce_sync, wait_committed

pytestmark = pytest.mark.kafka

JSON = "org.apache.kafka.connect.json.JsonConverter"
TIME = "org.apache.kafka.connect.data.Time"

#: the Java class's own test vectors (milliseconds since midnight → the default HH:mm:ss); without the
#: transform sinkapp writes a Connect Time as HH:MM:SS.fff (18:02:37.000), so these can only come from it
VECTORS = {64957000: "18:02:37", 0: "00:00:00", 86399999: "23:59:59", 64957123: "18:02:37"}


def test_time_millis_to_string_through_a_connect_envelope(kafka: Any, emulator: Any, topic_factory: Any,
                                                          tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("tm"))
    emulator.add_table("test", f"CREATE TABLE {topic} (id BIGINT, TMCTDR STRING, TMLDDR STRING, n BIGINT) "
                               "DUPLICATE KEY(id);")
    schema = {"type": "struct", "name": "CFPDR", "fields": [
        {"field": "id", "type": "int64"},
        {"field": "TMCTDR", "type": "int32", "optional": True, "name": TIME, "version": 1},
        {"field": "TMLDDR", "type": "int32", "optional": True, "name": TIME, "version": 1},
        {"field": "n", "type": "int32"}]}
    millis = list(VECTORS)
    docs = [{"id": i, "TMCTDR": millis[i % 4], "TMLDDR": None if i % 5 == 0 else millis[(i + 1) % 4],
             "n": millis[i % 4]} for i in range(40)]
    produce_sync(kafka.bootstrap_servers, topic, [orjson.dumps({"schema": schema, "payload": d}) for d in docs])
    # the HowTo's "Specifying Field Names" configuration (default format), JsonConverter with schemas
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": JSON, "value.converter.schemas.enable": "true",
        "transforms": "timeconv",
        "transforms.timeconv.type": "com.starrocks.connector.kafka.transforms.TimeMillisToStringTransform",
        "transforms.timeconv.fields": "TMCTDR,TMLDDR"})
    w = Worker(cfg, tmp_path).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, topic, len(docs))
    rows = {r["id"]: r for r in emulator.rows("test", topic)}
    assert sorted(rows) == [d["id"] for d in docs]
    for d in docs:
        r = rows[d["id"]]
        assert r["TMCTDR"] == VECTORS[d["TMCTDR"]]
        assert r["TMLDDR"] == (None if d["TMLDDR"] is None else VECTORS[d["TMLDDR"]])
        assert r["n"] == d["n"]                                     # a plain int32 field is untouched


ROW = {"type": "struct", "optional": True, "name": "pg.public.users.Value", "fields": [
    {"field": "id", "type": "int64"}, {"field": "name", "type": "string", "optional": True}]}
ENVELOPE = {"type": "struct", "name": "pg.public.users.Envelope", "fields": [
    {"field": "before", **ROW}, {"field": "after", **ROW},
    {"field": "source", "type": "struct", "fields": [
        {"field": "table", "type": "string"}, {"field": "ts_ms", "type": "int64"},
        {"field": "lsn", "type": "int64", "optional": True}]},
    {"field": "op", "type": "string"}, {"field": "ts_ms", "type": "int64", "optional": True}]}


def test_debezium_rewrite_marks_live_rows_false_in_a_soft_delete_table(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """ExtractNewRecordState with delete.handling.mode=rewrite: __deleted is "false" for every
    live row (not NULL) and "true" for deleted ones; add.fields brings source metadata."""
    topic = topic_factory(partitions=1, name=tname("soft"))
    emulator.add_table("test", f"CREATE TABLE {topic} (id BIGINT, name STRING, __deleted STRING, __table STRING, "
                               "__lsn BIGINT, __source_ts_ms BIGINT) PRIMARY KEY(id);")
    values: list[bytes | None] = []
    keys: list[bytes | None] = []
    deleted = set(range(0, 30, 4))

    def emit(op: str, i: int, before: dict | None, after: dict | None) -> None:
        values.append(orjson.dumps({"schema": ENVELOPE, "payload": {
            "before": before, "after": after, "op": op, "ts_ms": 2,
            "source": {"table": "users", "ts_ms": 1_700_000_000_000 + i, "lsn": 100 + len(values)}}}))
        keys.append(orjson.dumps({"id": i}))

    for i in range(30):
        emit("r" if i < 10 else "c", i, None, {"id": i, "name": f"u{i}"})
    for i in range(0, 30, 3):
        emit("u", i, {"id": i, "name": f"u{i}"}, {"id": i, "name": f"v{i}"})
    for i in sorted(deleted):
        emit("d", i, {"id": i, "name": "gone"}, None)
        values.append(None)                                        # the tombstone Debezium writes next
        keys.append(orjson.dumps({"id": i}))
    lsn = {orjson.loads(v)["payload"]["after"]["id"]: orjson.loads(v)["payload"]["source"]["lsn"]
           for v in values if v is not None and orjson.loads(v)["payload"]["after"]}
    produce_sync(kafka.bootstrap_servers, topic, values, keys=keys)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": JSON, "value.converter.schemas.enable": "true",
        "transforms": "unwrap",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
        "transforms.unwrap.drop.tombstones": "true",
        "transforms.unwrap.delete.handling.mode": "rewrite",
        "transforms.unwrap.add.fields": "table,lsn,source.ts_ms"})
    w = Worker(cfg, tmp_path).start()
    try:
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w.log)
        wait_for(w, lambda: sum(1 for r in emulator.rows("test", topic) if r["__deleted"] == "true") == len(deleted),
                 30, "the deletes to be marked")
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    rows = {r["id"]: r for r in emulator.rows("test", topic)}
    assert sorted(rows) == list(range(30))
    for i, r in rows.items():
        assert r["__deleted"] == ("true" if i in deleted else "false"), r
        assert r["__table"] == "users" and r["__source_ts_ms"] == 1_700_000_000_000 + i
        if i not in deleted:
            assert r["name"] == (f"v{i}" if i % 3 == 0 else f"u{i}") and r["__lsn"] == lsn[i]


def test_a_top_level_decimal_value_loads_as_a_one_column_csv_row(kafka: Any, emulator: Any, topic_factory: Any,
                                                                 tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("prim"))
    emulator.add_table("test", f"CREATE TABLE {topic} (amount DECIMAL(12,2)) DUPLICATE KEY(amount);")
    schema = {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
              "parameters": {"scale": "2"}}
    cents = [156, -5, 0, 123456789, 100, 7]
    values = [orjson.dumps({"schema": schema, "payload": base64.b64encode(
        c.to_bytes(8, "big", signed=True)).decode()}) for c in cents]
    assert values[0].endswith(b'"payload":"AAAAAAAAAJw="}')                  # 1.56, as in the issue (8 bytes)
    produce_sync(kafka.bootstrap_servers, topic, values)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": JSON, "value.converter.schemas.enable": "true",
        "sink.properties.format": "csv", "sink.properties.columns": "amount"})
    w = Worker(cfg, tmp_path).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, topic, len(cents))
    got = sorted(Decimal(str(r["amount"])) for r in emulator.rows("test", topic))
    assert got == sorted(Decimal(c).scaleb(-2) for c in cents)
