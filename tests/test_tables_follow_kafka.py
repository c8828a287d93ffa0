"""Tables that follow the data, end to end on the real broker: ``auto.create`` makes the table from
the first record's schema, ``auto.evolve`` adds the columns a new schema version brings, over the
emulator's MySQL port (the FE's query port on a real cluster), through worker subprocesses.

Avro through the registry emulator (python-schema-registry-client registers, fastavro encodes);
Debezium change events in the Connect JSON envelope; Protobuf and JSON Schema subjects; refused
schemas (a type change, a new required field); a source widening int32 → int64 and uuid → text
mid-stream (MODIFY COLUMN); ``check --connect`` on a table that lacks columns;
kill -9 between the ALTER and the load; two workers racing the same ALTER; hostile field names.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from schema_registry.client import SchemaRegistryClient
from sinkapp_testkit.registry import RegistryThread, confluent_encode

from tests.test_formats_kafka import connector, register_raw, tname, wait_for
from tests.workers import Worker, datagen_order, fixture_path, produce_sync, wait_committed, wait_until

pytestmark = pytest.mark.kafka

SCHEMA_CHANGE_S = 2.0           # the emulator's schema change job time (tables without fast_schema_evolution)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    """A Stream Load emulator with its MySQL front (DDL) and 2 s schema change jobs."""
    from sinkapp_testkit.streamload import EmulatorThread

    with EmulatorThread(user="root", password="pw", databases=["test"], mysql_port=0,
                        schema_change_s=SCHEMA_CHANGE_S) as emu:
        yield emu


V1 = json.loads((fixture_path("orders.avsc")).read_text())
V2 = {**V1, "fields": [*V1["fields"],
                       {"name": "note", "type": ["null", "string"], "default": None},
                       {"name": "discount", "type": ["null", {"type": "bytes", "logicalType": "decimal",
                                                              "precision": 10, "scale": 2}], "default": None}]}


def avro(schema_id: int, parsed: Any, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, record)
    return confluent_encode(schema_id, buf.getvalue())


def v2_order(i: int) -> dict[str, Any]:
    return {**datagen_order(i), "note": f"n{i}", "discount": Decimal(i % 100) / 4}


def auto_config(kafka: Any, emulator: Any, registry: Any, topic: str, **over: str) -> dict[str, str]:
    return connector(kafka, emulator, topics=topic, **{
        "value.converter": "io.confluent.connect.avro.AvroConverter",
        "value.converter.schema.registry.url": registry.url,
        "auto.create": "true", "auto.evolve": "true",
        "starrocks.jdbc.url": emulator.jdbc_url,
        "sinkapp.table.create.properties.replication_num": "1",
        **over})


def as_json(v: Any) -> Any:
    """A JSON column's value as the emulator stores it (parsed) or as text."""
    return v if isinstance(v, dict | list) else json.loads(v)


def statements(emulator: Any, table: str, verb: str) -> list[Any]:
    return [s for s in emulator.statements() if s.sql.lstrip().upper().startswith(verb) and table in s.sql]


def columns(emulator: Any, table: str) -> list[str]:
    return [c.name for c in emulator.cluster.catalog.table("test", table).schema.columns]


def assert_v1_v2(rows: list[dict[str, Any]], n1: int, n: int) -> None:
    by_id = {r["orderid"]: r for r in rows}
    assert sorted(by_id) == list(range(n)) and len(rows) == n, "every row exactly once"
    for i in range(n):
        r = by_id[i]
        assert r["itemid"] == f"Item_{i % 997}" and as_json(r["address"])["city"] == f"City_{i % 89}"
        if i < n1:
            assert (r["note"], r["discount"]) == (None, None), r
        else:
            assert (r["note"], Decimal(str(r["discount"]))) == (f"n{i}", Decimal(i % 100) / 4), r


def produce_v1_v2(kafka: Any, registry: Any, topic: str, n1: int, n: int, partitions: int = 2) -> None:
    client = SchemaRegistryClient(registry.url)
    id1 = client.register(f"{topic}-value", json.dumps(V1))
    id2 = client.register(f"{topic}-value", json.dumps(V2))
    p1, p2 = fastavro.parse_schema(V1), fastavro.parse_schema(V2)
    produce_sync(kafka.bootstrap_servers, topic, (avro(id1, p1, datagen_order(i)) for i in range(n1)),
                 partitions=partitions)
    if n > n1:
        produce_sync(kafka.bootstrap_servers, topic, (avro(id2, p2, v2_order(i)) for i in range(n1, n)),
                     partitions=partitions)


def test_avro_v1_creates_the_table_and_v2_adds_its_columns_before_its_rows_load(
        kafka: Any, emulator: Any, registry: RegistryThread, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("auto"))
    produce_v1_v2(kafka, registry, topic, 300, 600)
    cfg = auto_config(kafka, emulator, registry, topic)
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        wait_for(w, lambda: topic in emulator.cluster.catalog.dbs["test"]
                 and emulator.count("test", topic) >= 600, 90, "600 rows in the created table")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
        created = w.metric("sinkapp_schema_changes_total", table=f"test.{topic}", kind="create")
        added = w.metric("sinkapp_schema_changes_total", table=f"test.{topic}", kind="add_column")
    finally:
        w.stop()
    assert (created, added) == (1, 2)
    assert_v1_v2(emulator.rows("test", topic), 300, 600)
    created = statements(emulator, topic, "CREATE TABLE")
    assert len(created) == 1 and "IF NOT EXISTS" in created[0].sql.upper() and created[0].error is None
    schema = emulator.cluster.catalog.table("test", topic).schema
    assert schema.keys_type == "DUPLICATE"                   # the record key has no schema
    assert columns(emulator, topic) == ["ordertime", "orderid", "itemid", "orderunits", "address", "note",
                                        "discount"]
    types = {c.name: (c.type, c.precision, c.scale, c.nullable) for c in schema.columns}
    assert types["discount"] == ("DECIMAL", 10, 2, True) and types["note"][0] in ("STRING", "VARCHAR")
    assert types["address"][0] == "JSON" and types["ordertime"][0] == "BIGINT"
    alters = [s for s in statements(emulator, topic, "ALTER TABLE") if s.error is None]
    assert len(alters) == 1 and "`note`" in alters[0].sql and "`discount`" in alters[0].sql
    log = w.log()
    assert "schema change: created table" in log and "schema change: added column(s) note" in log
    assert "pw" not in log.replace("password", "")


def test_kill_9_between_the_alter_and_the_load_replays_the_batch_once(
        kafka: Any, emulator: Any, registry: RegistryThread, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("autokill"))
    # a killed worker's group membership ends after session.timeout.ms: 6 s, not the default 60 s; the
    # new owner then meets the hung load still RUNNING and waits for it (sink.maxretries=-1, as the
    # exactly-once tests have it: with the default 3 the route stops after ~2 s of "label is RUNNING")
    cfg = auto_config(kafka, emulator, registry, topic, **{"session.timeout.ms": "6000",
                                                           "heartbeat.interval.ms": "1000",
                                                           "sink.maxretries": "-1"})
    produce_v1_v2(kafka, registry, topic, 200, 200)
    w1 = Worker(cfg, tmp_path, "w1").start()
    try:
        wait_for(w1, lambda: topic in emulator.cluster.catalog.dbs["test"]
                 and emulator.count("test", topic) >= 200, 90, "the v1 rows")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w1.log)
        emulator.faults.hang_next(1, seconds=10.0, then="abort", table=topic)
        client = SchemaRegistryClient(registry.url)
        id2 = client.register(f"{topic}-value", json.dumps(V2))
        p2 = fastavro.parse_schema(V2)
        produce_sync(kafka.bootstrap_servers, topic, (avro(id2, p2, v2_order(i)) for i in range(200, 400)),
                     partitions=2)
        wait_until(lambda: not emulator.faults.pending(), 60, "the first v2 batch's load to hang")
        assert "note" in columns(emulator, topic), "the ALTER ran before the load"
        w1.kill()
    finally:
        if w1.alive():
            w1.kill()
    w2 = Worker(cfg, tmp_path, "w2").start()
    try:
        wait_for(w2, lambda: emulator.count("test", topic) >= 400, 90, "the v2 rows after the restart")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w2.log)
    finally:
        w2.stop()
    assert_v1_v2(emulator.rows("test", topic), 200, 400)
    alters = [s for s in statements(emulator, topic, "ALTER TABLE") if s.error is None]
    assert len(alters) == 1, [s.sql for s in alters]          # the new owner found the columns there
    assert "schema change" not in w2.log()


def test_two_workers_race_the_same_alter_and_both_load(
        kafka: Any, emulator: Any, registry: RegistryThread, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("autorace"))
    produce_v1_v2(kafka, registry, topic, 100, 700)
    cfg = auto_config(kafka, emulator, registry, topic)
    ws = [Worker(cfg, tmp_path, f"w{i}", web=True).start() for i in range(2)]
    try:
        wait_for(ws[0], lambda: topic in emulator.cluster.catalog.dbs["test"]
                 and emulator.count("test", topic) >= 700, 120, "700 rows from two workers")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, ws[0].log)
        # neither lost the race: both still run, their routes RUNNING (no record refused, no crash)
        states = [(w.alive(), w.tasks()) for w in ws]
    finally:
        codes = [w.stop() for w in ws]
    assert states == [(True, ["RUNNING"])] * 2 and codes == [0, 0], (states, codes, ws[0].log()[-3000:])
    assert_v1_v2(emulator.rows("test", topic), 100, 700)
    assert len([s for s in statements(emulator, topic, "ALTER TABLE") if s.error is None]) == 1


# -- refused schemas ---------------------------------------------------------------------------

def _connect_value(fields: list[dict[str, Any]], payload: dict[str, Any], name: str = "shop.Order") -> bytes:
    return orjson.dumps({"schema": {"type": "struct", "name": name, "optional": False, "fields": fields},
                         "payload": payload})


F_ID = {"field": "id", "type": "int64", "optional": False}
F_QTY_INT = {"field": "qty", "type": "int32", "optional": True}
F_QTY_STR = {"field": "qty", "type": "string", "optional": True}
F_REQ = {"field": "region", "type": "string", "optional": False}


def json_auto(kafka: Any, emulator: Any, topic: str, **over: str) -> dict[str, str]:
    return connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "auto.create": "true", "auto.evolve": "true", "starrocks.jdbc.url": emulator.jdbc_url, **over})


def refused_values() -> list[bytes]:
    good = [_connect_value([F_ID, F_QTY_INT], {"id": i, "qty": i}) for i in range(5)]
    retyped = _connect_value([F_ID, F_QTY_STR], {"id": 5, "qty": "five"})
    required = _connect_value([F_ID, F_QTY_INT, F_REQ], {"id": 6, "qty": 6, "region": "eu"})
    after = [_connect_value([F_ID, F_QTY_INT], {"id": i, "qty": i}) for i in range(7, 10)]
    return [*good, retyped, required, *after]


def test_a_type_change_and_a_new_required_field_are_dead_lettered_naming_the_field(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    from tests.test_dlq_kafka import read_topic

    topic = topic_factory(partitions=1, name=tname("autobad"))
    dlq = f"{topic}-dlq"
    produce_sync(kafka.bootstrap_servers, topic, refused_values())
    cfg = json_auto(kafka, emulator, topic, **{"errors.tolerance": "all",
                                                 "errors.deadletterqueue.topic.name": dlq,
                                                 "errors.deadletterqueue.topic.replication.factor": "1",
                                                 "errors.deadletterqueue.context.headers.enable": "true"})
    w = Worker(cfg, tmp_path).start()
    try:
        wait_for(w, lambda: topic in emulator.cluster.catalog.dbs["test"]
                 and emulator.count("test", topic) >= 8, 90, "8 good rows")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
    finally:
        w.stop()
    assert sorted(r["id"] for r in emulator.rows("test", topic)) == [0, 1, 2, 3, 4, 7, 8, 9]
    assert columns(emulator, topic) == ["id", "qty"]          # never retyped, never a required column
    letters = read_topic(kafka.bootstrap_servers, dlq, 2)
    reasons = {json.loads(r.value)["payload"]["id"]: dict(r.headers)[
        "__connect.errors.exception.message"].decode() for r in letters}
    assert "'qty'" in reasons[5] and "string" in reasons[5] and "never changes a column's type" in reasons[5]
    assert "'region'" in reasons[6] and "required" in reasons[6] and "default" in reasons[6]


def test_with_tolerance_none_a_type_change_stops_the_route_naming_the_field(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("autostop"))
    produce_sync(kafka.bootstrap_servers, topic, refused_values())
    cfg = json_auto(kafka, emulator, topic)
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        w.wait_failed(90)
        wait_for(w, lambda: topic in emulator.cluster.catalog.dbs["test"] and emulator.count("test", topic) >= 5,
                 30, "the rows before offset 5")
    finally:
        w.stop()
    assert sorted(r["id"] for r in emulator.rows("test", topic)) == [0, 1, 2, 3, 4]
    log = w.log()
    assert f"record {topic}[0]@5 cannot be loaded" in log and "'qty'" in log and "never changes" in log


# -- type widening ------------------------------------------------------------------------------

F_REF_UUID = {"field": "ref", "type": "string", "optional": True, "name": "io.debezium.data.Uuid"}   # VARCHAR(36)
F_REF_TEXT = {"field": "ref", "type": "string", "optional": True}                                   # STRING
F_QTY_LONG = {"field": "qty", "type": "int64", "optional": True}


def widening_source(n1: int, n: int) -> dict[int, tuple[int, str]]:
    """id → (qty, ref): int32 quantities and uuid refs first, then int64 quantities beyond int32 (both
    signs) and refs longer than a uuid, as a source whose int column became bigint and whose uuid
    column became text would write them."""
    src = {i: (i, f"{i:08x}-0000-4000-8000-{i:012x}") for i in range(n1)}
    src.update({i: ((2**31 + 1000 * i) * (-1 if i % 2 else 1), f"ref-{i}-" + "x" * 60) for i in range(n1, n)})
    return src


def test_a_source_widening_int32_to_int64_and_uuid_to_text_mid_stream_loads_every_value_intact(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("autowiden"))
    src = widening_source(40, 100)
    v1 = [_connect_value([F_ID, F_QTY_INT, F_REF_UUID], {"id": i, "qty": q, "ref": r})
          for i, (q, r) in src.items() if i < 40]
    v2 = [_connect_value([F_ID, F_QTY_LONG, F_REF_TEXT], {"id": i, "qty": q, "ref": r})
          for i, (q, r) in src.items() if i >= 40]
    produce_sync(kafka.bootstrap_servers, topic, v1, partitions=2)
    produce_sync(kafka.bootstrap_servers, topic, v2, partitions=2)
    cfg = json_auto(kafka, emulator, topic)                    # errors.tolerance=none: a refusal stops it
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        wait_for(w, lambda: topic in emulator.cluster.catalog.dbs["test"]
                 and emulator.count("test", topic) >= 100, 90, "100 rows in the created table")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
        widened = w.metric("sinkapp_schema_changes_total", table=f"test.{topic}", kind="modify_column")
    finally:
        w.stop()
    rows = emulator.rows("test", topic)
    assert len(rows) == 100 and {r["id"]: (r["qty"], r["ref"]) for r in rows} == src
    assert {i for i, (q, _) in src.items() if abs(q) > 2**31} == set(range(40, 100))   # beyond int32, intact
    types = {c.name: (c.type, c.length) for c in emulator.cluster.catalog.table("test", topic).schema.columns}
    assert types["qty"] == ("BIGINT", 0) and types["ref"][0] in ("STRING", "VARCHAR") and types["ref"][1] == 65533
    modify = [s for s in statements(emulator, topic, "ALTER TABLE") if "MODIFY COLUMN" in s.sql]
    assert [s.error for s in modify] == [None] and widened == 2
    assert "MODIFY COLUMN `qty` BIGINT NULL, MODIFY COLUMN `ref` STRING NULL" in modify[0].sql
    assert "schema change: widened column(s) qty int(11) -> BIGINT, ref varchar(36) -> STRING" in w.log()


# -- Debezium, Protobuf, JSON Schema ------------------------------------------------------------

DBZ_ROW = [{"field": "id", "type": "int32", "optional": False},
           {"field": "name", "type": "string", "optional": True},
           {"field": "price", "type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
            "version": 1, "parameters": {"scale": "2", "connect.decimal.precision": "8"}},
           {"field": "created", "type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp",
            "version": 1}]


def dbz_event(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[bytes, bytes]:
    row = {"type": "struct", "optional": True, "name": "inv.products.Value", "fields": DBZ_ROW}
    schema = {"type": "struct", "name": "inv.products.Envelope", "optional": False, "fields": [
        {**row, "field": "before"}, {**row, "field": "after"},
        {"field": "source", "type": "struct", "optional": False, "name": "io.debezium.connector.mysql.Source",
         "fields": [{"field": "db", "type": "string", "optional": False},
                    {"field": "table", "type": "string", "optional": True}]},
        {"field": "op", "type": "string", "optional": False},
        {"field": "ts_ms", "type": "int64", "optional": True}]}
    key_id = (after or before or {})["id"]
    key = orjson.dumps({"schema": {"type": "struct", "name": "inv.products.Key", "optional": False,
                                   "fields": [{"field": "id", "type": "int32", "optional": False}]},
                        "payload": {"id": key_id}})
    value = orjson.dumps({"schema": schema, "payload": {"before": before, "after": after, "op": op,
                                                        "source": {"db": "inv", "table": "products"},
                                                        "ts_ms": 1700000000000}})
    return key, value


def price(p: str) -> str:
    """Connect Decimal bytes in JSON: base64 of the unscaled big-endian two's complement."""
    import base64

    unscaled = int(Decimal(p).scaleb(2))
    return base64.b64encode(unscaled.to_bytes(8, "big", signed=True).lstrip(b"\x00") or b"\x00").decode()


def test_debezium_change_events_create_a_primary_key_table_and_apply_c_u_d(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("autodbz"))

    def r(i: int, name: str, p: str) -> dict[str, Any]:
        return {"id": i, "name": name, "price": price(p), "created": 1700000000000000 + i}

    events = [dbz_event("c", None, r(i, f"p{i}", f"{i}.50")) for i in range(1, 6)]
    events += [dbz_event("u", r(2, "p2", "2.50"), r(2, "p2-new", "20.25")),
               dbz_event("d", r(3, "p3", "3.50"), None),
               dbz_event("c", None, r(6, "p6", "6.00"))]
    produce_sync(kafka.bootstrap_servers, topic, [v for _, v in events], keys=[k for k, _ in events])
    cfg = json_auto(kafka, emulator, topic, **{"key.converter": "org.apache.kafka.connect.json.JsonConverter",
                                               "key.converter.schemas.enable": "true",
                                               "transforms": "dbz", "transforms.dbz.type": "Debezium"})
    w = Worker(cfg, tmp_path).start()
    try:
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 90, w.log)
    finally:
        w.stop()
    schema = emulator.cluster.catalog.table("test", topic).schema
    assert schema.keys_type == "PRIMARY" and schema.key_columns == ("id",)
    assert [c.name for c in schema.columns] == ["id", "name", "price", "created"]
    rows = {x["id"]: (x["name"], str(x["price"]), str(x["created"])) for x in emulator.rows("test", topic)}
    assert sorted(rows) == [1, 2, 4, 5, 6]                                  # 3 deleted
    assert rows[2][:2] == ("p2-new", "20.25") and rows[6][:2] == ("p6", "6.00")
    assert rows[1][2].startswith("2023-11-14 22:13:20")


PROTO = """syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
message Item {
  int64 id = 1;
  string sku = 2;
  double weight = 3;
  bool active = 4;
  google.protobuf.Timestamp at = 5;
  repeated string tags = 6;
}
"""


def test_protobuf_and_json_schema_subjects_create_their_tables(
        kafka: Any, emulator: Any, registry: RegistryThread, topic_factory: Any, tmp_path: Path) -> None:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

    t_pb, t_js = topic_factory(partitions=1, name=tname("autopb")), topic_factory(partitions=1, name=tname("autojs"))
    pb_id = register_raw(registry.url, f"{t_pb}-value", PROTO, "PROTOBUF")
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    fdp = descriptor_pb2.FileDescriptorProto(name="item.proto", package="shop", syntax="proto3",
                                             dependency=["google/protobuf/timestamp.proto"])
    m = fdp.message_type.add(name="Item")
    F = descriptor_pb2.FieldDescriptorProto
    for num, (name, typ) in enumerate([("id", F.TYPE_INT64), ("sku", F.TYPE_STRING), ("weight", F.TYPE_DOUBLE),
                                       ("active", F.TYPE_BOOL)], 1):
        m.field.add(name=name, number=num, type=typ, label=F.LABEL_OPTIONAL)
    m.field.add(name="at", number=5, type=F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp",
                label=F.LABEL_OPTIONAL)
    m.field.add(name="tags", number=6, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
    pool.Add(fdp)
    Item = message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Item"))
    pb_values = []
    for i in range(5):
        it = Item(id=i, sku=f"s{i}", weight=i + 0.5, active=bool(i % 2), tags=[f"t{i}", "x"])
        it.at.seconds = 1700000000 + i
        pb_values.append(confluent_encode(pb_id, b"\x00" + it.SerializeToString()))
    produce_sync(kafka.bootstrap_servers, t_pb, pb_values)
    js_schema = {"type": "object", "title": "Reading", "properties": {
        "id": {"type": "integer"}, "sensor": {"type": "string"}, "value": {"type": "number"},
        "day": {"type": "string", "format": "date"}, "ok": {"type": ["boolean", "null"]}},
        "required": ["id", "sensor"]}
    js_id = SchemaRegistryClient(registry.url).register(f"{t_js}-value", json.dumps(js_schema), schema_type="JSON")
    produce_sync(kafka.bootstrap_servers, t_js, [confluent_encode(js_id, orjson.dumps(
        {"id": i, "sensor": f"s{i}", "value": i / 4, "day": f"2024-01-0{i + 1}", "ok": None if i % 2 else True}))
        for i in range(5)])
    workers = []
    for topic, conv in ((t_pb, "io.confluent.connect.protobuf.ProtobufConverter"),
                        (t_js, "io.confluent.connect.json.JsonSchemaConverter")):
        cfg = auto_config(kafka, emulator, registry, topic, **{"value.converter": conv})
        workers.append((Worker(cfg, tmp_path, topic).start(), cfg, topic))
    try:
        for w, cfg, topic in workers:
            wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 90, w.log)
    finally:
        for w, _, _ in workers:
            w.stop()
    pb_rows = sorted(emulator.rows("test", t_pb), key=lambda r: r["id"])
    assert [r["sku"] for r in pb_rows] == [f"s{i}" for i in range(5)]
    assert pb_rows[1]["weight"] == 1.5 and pb_rows[1]["active"] in (True, 1)
    assert str(pb_rows[2]["at"]).startswith("2023-11-14 22:13:22") and as_json(pb_rows[2]["tags"]) == ["t2", "x"]
    js_rows = sorted(emulator.rows("test", t_js), key=lambda r: r["id"])
    assert [str(r["day"]) for r in js_rows] == [f"2024-01-0{i + 1}" for i in range(5)]
    assert js_rows[1]["ok"] is None and js_rows[2]["value"] == 0.5
    js_cols = {c.name: c for c in emulator.cluster.catalog.table("test", t_js).schema.columns}
    # a column outside the key is NULL even for a required field (tableshape/ddl.py): a later schema
    # may drop the requirement, and a NOT NULL column would then refuse the rows
    assert js_cols["sensor"].nullable and js_cols["ok"].nullable, js_cols


# -- check --connect, hostile names ---------------------------------------------------------------

def test_check_connect_names_the_columns_a_table_lacks_and_what_auto_evolve_adds(
        kafka: Any, emulator: Any, registry: RegistryThread, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("autochk"))
    emulator.add_table("test", f"CREATE TABLE {topic} (ordertime BIGINT, orderid INT, itemid STRING, "
                               "orderunits DOUBLE, address JSON) DUPLICATE KEY(ordertime);")
    produce_v1_v2(kafka, registry, topic, 0, 0)             # registers v1 then v2: latest is v2
    cfg = auto_config(kafka, emulator, registry, topic)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    out = subprocess.run([sys.executable, "-m", "sinkapp.cli", "check", "--config", str(path), "--connect"],
                         capture_output=True, text=True, timeout=120)
    lines = [ln for ln in out.stdout.splitlines() if f"table test.{topic}" in ln and " for " in ln]
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(lines) == 1 and lines[0].startswith("ok"), out.stdout
    assert "lacks 2 column(s)" in lines[0] and "note" in lines[0] and "discount DECIMAL(10,2)" in lines[0]
    assert "auto.evolve adds them" in lines[0]
    cfg["auto.evolve"] = "false"
    path.write_text(json.dumps(cfg))
    out = subprocess.run([sys.executable, "-m", "sinkapp.cli", "check", "--config", str(path), "--connect"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "auto.evolve=false" in out.stdout, out.stdout


HOSTILE = ["a`; DROP TABLE t; --", "back`tick", "x" * 200, "prix_€", "名前"]


def test_hostile_field_names_reach_ddl_quoted_and_no_other_statement_runs(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("autohostile"))
    fields = [F_ID] + [{"field": n, "type": "string", "optional": True} for n in HOSTILE]
    produce_sync(kafka.bootstrap_servers, topic, [_connect_value(fields, {"id": i, **{n: f"{i}" for n in HOSTILE}})
                                                  for i in range(3)])
    before = len(emulator.statements())
    cfg = json_auto(kafka, emulator, topic)
    w = Worker(cfg, tmp_path).start()
    try:
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 90, w.log)
    finally:
        w.stop()
    ran = emulator.statements()[before:]
    verbs = {s.sql.split()[0].upper() for s in ran}
    assert verbs <= {"SELECT", "CREATE", "SHOW", "SET", "ALTER"}, verbs
    assert all(s.error is None or "not run" not in s.error for s in ran)
    assert columns(emulator, topic) == ["id", *HOSTILE]
    assert [r[HOSTILE[0]] for r in sorted(emulator.rows("test", topic), key=lambda r: r["id"])] == ["0", "1", "2"]


def test_rows_routed_by_a_field_go_into_three_tables_that_auto_create_makes(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """TableByField + auto.create: one topic's Connect JSON records routed by their ``tenant`` field into two
    tables of the route's database and one of a database that does not exist yet; each table is created from
    the record schema (without the removed ``tenant``) and holds exactly the rows routed to it."""
    topic = topic_factory(partitions=2, name=tname("autoroute"))
    targets = [f"{topic}_eu", f"{topic}_us", f"{topic}_arch.apac"]
    fields = [F_ID, {"field": "tenant", "type": "string", "optional": False},
              {"field": "amount", "type": "double", "optional": True},
              {"field": "note", "type": "string", "optional": True}]
    sent = [{"id": i, "tenant": targets[i % 7 % 3], "amount": i / 4, "note": None if i % 5 == 0 else f"n{i}"}
            for i in range(300)]
    produce_sync(kafka.bootstrap_servers, topic, [_connect_value(fields, p) for p in sent], partitions=2)
    cfg = json_auto(kafka, emulator, topic, **{
        "transforms": "route", "transforms.route.type": "TableByField", "transforms.route.field": "tenant",
        "transforms.route.remove": "true"})
    w = Worker(cfg, tmp_path).start()
    try:
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 90, w.log)
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    assert topic not in emulator.cluster.catalog.dbs["test"]          # the route's own table: no row, no table
    for target in targets:
        db, table = target.split(".") if "." in target else ("test", target)
        schema = emulator.cluster.catalog.table(db, table).schema
        assert [(c.name, c.type) for c in schema.columns] == [("id", "BIGINT"), ("amount", "DOUBLE"),
                                                               ("note", "STRING")]
        want = [{k: v for k, v in p.items() if k != "tenant"} for p in sent if p["tenant"] == target]
        assert sorted(emulator.rows(db, table), key=lambda r: r["id"]) == want
        assert len([s for s in statements(emulator, table, "CREATE TABLE") if s.error is None]) == 1
