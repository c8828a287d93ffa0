"""Formats end to end on the real broker: Avro / Protobuf / JSON Schema through the registry emulator,
CSV bodies, a writer-schema change mid-stream, Confluent-Cloud-style SASL settings, a bad record.

Each test produces to a fresh topic, runs ONE ``sinkapp worker --config FILE`` subprocess against
the session broker, a module-wide Stream Load emulator and a module-wide Schema Registry emulator,
then checks the rows in the emulator and the consumer group's committed offsets. Producers are
played the way a Confluent serializer works: the schema is registered (python-schema-registry-client
for Avro / JSON Schema, raw HTTP for PROTOBUF, which that client cannot register), the payload is
encoded independently of the product's decoders (fastavro, protobuf classes from a hand-written
FileDescriptorProto, orjson) and framed with ``confluent_encode``.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import fastavro
import httpx
import orjson
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from schema_registry.client import SchemaRegistryClient
from sinkapp_testkit.registry import RegistryThread, confluent_encode

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
ORDERS_JSONPATHS = fixture_path("connector-avro.json")


def tname(stem: str) -> str:
    """A topic name that is also a valid StarRocks table name."""
    return f"{stem}_{uuid.uuid4().hex[:8]}"


def connector(kafka: Any, emulator: Any, fixture: str | None = None, **over: str) -> dict[str, str]:
    """A connector config: the product fixture (or a minimal one) with StarRocks URL, credentials,
    Kafka bootstrap and group changed. ``bufferflush.intervalms`` is lowered from the 300 s default
    to 1000 ms (the minimum) only so that the tests do not wait minutes for the age-based flush, and
    ``heartbeat.interval.ms`` from 3000 to 1000 so that a worker notices a rebalance another worker
    started within a second (test speed only)."""
    cfg: dict[str, str] = json.loads((fixture_path(fixture)).read_text()) if fixture else {}
    cfg.update({
        "starrocks.http.url": emulator.fe_url,
        "starrocks.username": "root",
        "starrocks.password": "pw",
        "bootstrap.servers": kafka.bootstrap_servers,
        "group.id": f"g-{uuid.uuid4().hex[:8]}",
        "bufferflush.intervalms": "1000",     # test speed only, see the docstring
        "heartbeat.interval.ms": "1000",      # test speed only, see the docstring
    })
    cfg.setdefault("starrocks.database.name", "test")
    cfg.update(over)
    return cfg


def orders_table(emulator: Any, table: str, extra_columns: str = "") -> None:
    """The fixture's test123 DDL under ``table`` (optionally with more columns at the end)."""
    ddl = (fixture_path("test123.sql")).read_text().replace("test123", table)
    if extra_columns:
        head, sep, tail = ddl.partition("\n)")
        ddl = f"{head},\n    {extra_columns}{sep}{tail}"
    emulator.add_table("test", ddl)


def wait_for(w: Worker, pred: Any, timeout_s: float, what: str) -> None:
    """``wait_until`` that puts the worker's log tail into the failure message."""
    try:
        wait_until(pred, timeout_s, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; worker alive={w.alive()}; log tail:\n{w.log()[-4000:]}") from None


def run_until_loaded(w: Worker, emulator: Any, kafka: Any, cfg: dict[str, str], topic: str, table: str,
                     n: int, timeout_s: float = 60) -> None:
    """Wait for ``n`` rows in ``table`` and committed == end offsets, then stop the worker (SIGTERM)."""
    try:
        wait_for(w, lambda: emulator.count("test", table) >= n or not w.alive(), timeout_s, f"{n} rows in {table}")
        assert w.alive(), w.log()[-3000:]
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
    finally:
        rc = w.stop()
    assert rc == 0, w.log()[-3000:]


def assert_orders(rows: list[dict[str, Any]], ids: list[int]) -> dict[int, dict[str, Any]]:
    """Rows hold exactly orders ``ids`` with the nested address flattened into city/state/zipcode."""
    by_id = {r["orderid"]: r for r in rows}
    assert len(rows) == len(by_id) == len(ids) and sorted(by_id) == ids
    for i in {ids[0], ids[len(ids) // 2], ids[-1], *ids[1:4]}:
        o, r = datagen_order(i), by_id[i]
        assert int(r["ordertime"]) == o["ordertime"]
        assert r["itemid"] == o["itemid"]
        assert float(r["orderunits"]) == o["orderunits"]
        assert (r["city"], r["state"], r["zipcode"]) == (
            o["address"]["city"], o["address"]["state"], o["address"]["zipcode"])
    return by_id


def avro_value(schema_id: int, parsed: Any, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, record)
    return confluent_encode(schema_id, buf.getvalue())


# -- 1. Avro: the product's connector-avro.json fixture, 10k Datagen orders --------------------------
def test_connector_avro_fixture_loads_10k_datagen_orders(kafka: Any, emulator: Any, registry: RegistryThread,
                                                         topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=3, name=tname("avro"))
    table = f"t_{topic}"
    orders_table(emulator, table)
    schema_text = (fixture_path("orders.avsc")).read_text()
    sid = SchemaRegistryClient(registry.url).register(f"{topic}-value", schema_text)
    parsed = fastavro.parse_schema(json.loads(schema_text))
    n = 10_000
    produce_sync(kafka.bootstrap_servers, topic, (avro_value(sid, parsed, datagen_order(i)) for i in range(n)),
                 keys=(str(i).encode() for i in range(n)), partitions=3)
    # the fixture has confluent.custom.schema.registry.auto=true and no registry URL: a Confluent
    # Cloud user gives it to the worker by environment
    cfg = connector(kafka, emulator, "connector-avro.json", topics=topic,
                    **{"starrocks.topic2table.map": f"{topic}:{table}"})
    assert cfg["confluent.custom.schema.registry.auto"] == "true" and "schema.registry.url" not in cfg
    w = Worker(cfg, tmp_path, env={"SINKAPP_SCHEMA_REGISTRY_URL": registry.url}).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, table, n, timeout_s=90)
    assert_orders(emulator.rows("test", table), list(range(n)))
    committed, ends = offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)
    assert committed == ends and sum(ends.values()) == n and len(ends) == 3


# -- 2. Protobuf and JSON Schema ------------------------------------------------------------------
ORDER_PROTO = """syntax = "proto3";
package datagen.v1;

message Order {
  int64 ordertime = 1;
  int32 orderid = 2;
  string itemid = 3;
  double orderunits = 4;
  Address address = 5;
  message Address {
    string city = 1;
    string state = 2;
    int64 zipcode = 3;
  }
}
"""


def order_proto_class() -> Any:
    """Producer-side class from a hand-written descriptor (what protoc would emit for ORDER_PROTO)."""
    F = descriptor_pb2.FieldDescriptorProto
    opt = F.LABEL_OPTIONAL
    fdp = descriptor_pb2.FileDescriptorProto(name="order.proto", package="datagen.v1", syntax="proto3")
    o = fdp.message_type.add(name="Order")
    a = o.nested_type.add(name="Address")
    a.field.add(name="city", number=1, label=opt, type=F.TYPE_STRING)
    a.field.add(name="state", number=2, label=opt, type=F.TYPE_STRING)
    a.field.add(name="zipcode", number=3, label=opt, type=F.TYPE_INT64)
    o.field.add(name="ordertime", number=1, label=opt, type=F.TYPE_INT64)
    o.field.add(name="orderid", number=2, label=opt, type=F.TYPE_INT32)
    o.field.add(name="itemid", number=3, label=opt, type=F.TYPE_STRING)
    o.field.add(name="orderunits", number=4, label=opt, type=F.TYPE_DOUBLE)
    o.field.add(name="address", number=5, label=opt, type=F.TYPE_MESSAGE, type_name=".datagen.v1.Order.Address")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("datagen.v1.Order"))


def register_raw(url: str, subject: str, schema: str, schema_type: str) -> int:
    resp = httpx.post(f"{url}/subjects/{subject}/versions", json={"schema": schema, "schemaType": schema_type})
    resp.raise_for_status()
    return int(resp.json()["id"])


def test_protobuf_topic_with_nested_message_loads_through_jsonpaths(
        kafka: Any, emulator: Any, registry: RegistryThread, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("proto"))
    table = f"t_{topic}"
    orders_table(emulator, table)
    sid = register_raw(registry.url, f"{topic}-value", ORDER_PROTO, "PROTOBUF")
    order_cls = order_proto_class()
    n = 2_000
    # b"\x00" is Confluent's message-index list [0]: the first message of the file, Order
    produce_sync(kafka.bootstrap_servers, topic,
                 (confluent_encode(sid, b"\x00" + order_cls(**datagen_order(i)).SerializeToString())
                  for i in range(n)), partitions=2)
    # jsonpaths exactly as in the fixture ($.address.city, ...), converter and registry named directly
    jsonpaths = json.loads(ORDERS_JSONPATHS.read_text())["sink.properties.jsonpaths"]
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "io.confluent.connect.protobuf.ProtobufConverter",
        "value.converter.schema.registry.url": registry.url,
        "starrocks.topic2table.map": f"{topic}:{table}",
        "sink.properties.jsonpaths": jsonpaths,
    })
    w = Worker(cfg, tmp_path).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, table, n)
    assert_orders(emulator.rows("test", table), list(range(n)))


def test_json_schema_topic_loads_by_plain_column_names(
        kafka: Any, emulator: Any, registry: RegistryThread, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("jsonsr"))
    emulator.add_table("test", DDL_T.format(name=topic))   # unmapped topic → table of the same name
    schema = {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "amount": {"type": ["number", "null"]},
        "meta": {"type": "object"}}, "required": ["id"]}
    sid = SchemaRegistryClient(registry.url).register(f"{topic}-value", json.dumps(schema), schema_type="JSON")
    n = 1_500
    docs = [{"id": i, "name": f"n{i}", "amount": None if i % 100 == 7 else i * 0.25, "meta": {"seq": i}}
            for i in range(n)]
    produce_sync(kafka.bootstrap_servers, topic, (confluent_encode(sid, orjson.dumps(d)) for d in docs),
                 partitions=2)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "io.confluent.connect.json.JsonSchemaConverter",
        "value.converter.schema.registry.url": registry.url,
    })
    w = Worker(cfg, tmp_path).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, topic, n)
    rows = {r["id"]: r for r in emulator.rows("test", topic)}
    assert sorted(rows) == list(range(n))
    for d in docs:
        assert (rows[d["id"]]["name"], rows[d["id"]]["amount"]) == (d["name"], d["amount"])


# -- 3. CSV bodies -----------------------------------------------------------------------------------
def test_csv_route_encodes_json_values_by_columns(kafka: Any, emulator: Any, topic_factory: Any,
                                                  tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("csvj"))
    emulator.add_table("test", DDL_T.format(name=topic))
    n = 1_000
    # keys in another order than the table and the columns header; names hold commas and tabs,
    # which \x01 separates safely; every 50th amount is null (CSV \N)
    docs = [{"amount": None if i % 50 == 3 else i * 1.5, "name": f"n{i}, x\ty", "id": i, "ignored": "z"}
            for i in range(n)]
    produce_sync(kafka.bootstrap_servers, topic, (orjson.dumps(d) for d in docs), partitions=2)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "sink.properties.format": "csv",
        "sink.properties.column_separator": "\\x01",
        "sink.properties.columns": "name,id,amount",
    })
    w = Worker(cfg, tmp_path).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, topic, n)
    loads = [{k.lower(): v for k, v in ld.headers.items()} for ld in emulator.loads("test", topic)]
    assert loads and all(h.get("format") == "csv" and h.get("column_separator") == "\\x01" for h in loads), loads[:1]
    rows = {r["id"]: r for r in emulator.rows("test", topic)}
    assert sorted(rows) == list(range(n))
    for d in docs:
        assert (rows[d["id"]]["name"], rows[d["id"]]["amount"]) == (d["name"], d["amount"])


def test_csv_route_passes_string_values_verbatim(kafka: Any, emulator: Any, topic_factory: Any,
                                                 tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("csvs"))
    emulator.add_table("test", DDL_T.format(name=topic))
    n = 1_000
    lines = [f"{i},s{i},{i / 4}" for i in range(n)]
    produce_sync(kafka.bootstrap_servers, topic, (line.encode() for line in lines))
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "sink.properties.format": "csv",
        "sink.properties.column_separator": ",",
    })
    w = Worker(cfg, tmp_path).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, topic, n)
    rows = {r["id"]: r for r in emulator.rows("test", topic)}
    assert sorted(rows) == list(range(n))
    assert all((rows[i]["name"], rows[i]["amount"]) == (f"s{i}", i / 4) for i in range(n))


# -- 4. Writer schema change mid-stream --------------------------------------------------------------
def test_avro_writer_schema_change_mid_stream(kafka: Any, emulator: Any, registry: RegistryThread,
                                              topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("evolve"))
    table = f"t_{topic}"
    orders_table(emulator, table, "channel string")
    v1 = json.loads((fixture_path("orders.avsc")).read_text())
    v2 = {**v1, "fields": [*v1["fields"], {"name": "channel", "type": "string", "default": "web"}]}
    client = SchemaRegistryClient(registry.url)
    subject = f"{topic}-value"
    id1 = client.register(subject, json.dumps(v1))
    id2 = client.register(subject, json.dumps(v2))       # BACKWARD-compatible new version, new id
    assert id1 != id2
    assert client.get_versions(subject) == [1, 2]
    p1, p2 = fastavro.parse_schema(v1), fastavro.parse_schema(v2)
    n = 1_200
    # v1 for 0..399, v2 for 400..799, then v1 and v2 interleaved (an old producer still running)

    def value(i: int) -> bytes:
        if i < 400 or (i >= 800 and i % 2):
            return avro_value(id1, p1, datagen_order(i))
        return avro_value(id2, p2, {**datagen_order(i), "channel": f"app{i % 3}"})

    def is_v2(i: int) -> bool:
        return 400 <= i < 800 or (i >= 800 and not i % 2)

    produce_sync(kafka.bootstrap_servers, topic, (value(i) for i in range(n)), partitions=2)
    jsonpaths = json.loads(json.loads(ORDERS_JSONPATHS.read_text())["sink.properties.jsonpaths"]) + ["$.channel"]
    cfg = connector(kafka, emulator, "connector-avro.json", topics=topic, **{
        "starrocks.topic2table.map": f"{topic}:{table}",
        "sink.properties.jsonpaths": json.dumps(jsonpaths),
    })
    w = Worker(cfg, tmp_path, env={"SINKAPP_SCHEMA_REGISTRY_URL": registry.url}).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, table, n)
    by_id = assert_orders(emulator.rows("test", table), list(range(n)))
    for i in range(n):
        assert by_id[i]["channel"] == (f"app{i % 3}" if is_v2(i) else None), (i, by_id[i])


# -- 5. Confluent-Cloud-style Kafka settings -----------------------------------------------------------
def test_sasl_plain_settings_reach_the_consumer_and_password_stays_out_of_the_log(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("sasl"))
    emulator.add_table("test", DDL_T.format(name=topic))
    n = 500
    produce_sync(kafka.bootstrap_servers, topic,
                 (orjson.dumps({"id": i, "name": f"n{i}", "amount": i * 1.5}) for i in range(n)), partitions=2)
    cfg = connector(kafka, emulator, topics=topic, **{
        "bootstrap.servers": kafka.sasl_bootstrap_servers,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
    })
    assert "sasl.password" not in cfg
    w = Worker(cfg, tmp_path, env={"SINKAPP_SASL_PASSWORD": "alice-secret"}).start()
    assert "alice-secret" not in w.config_path.read_text()
    run_until_loaded(w, emulator, kafka, cfg, topic, topic, n)
    assert sorted(r["id"] for r in emulator.rows("test", topic)) == list(range(n))
    # the SASL listener accepts nothing but SASL/PLAIN, so the rows prove the settings reached the
    # client; aiokafka's own warning says it took the PLAIN path
    log = w.log()
    assert "Sending username and password in the clear" in log
    assert "alice-secret" not in log


# -- 6. A record that is not in the Confluent wire format -----------------------------------------
def test_bad_magic_byte_stops_route_and_offset_never_passes_it(
        kafka: Any, emulator: Any, registry: RegistryThread, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("badmagic"))
    table = f"t_{topic}"
    orders_table(emulator, table)
    schema_text = (fixture_path("orders.avsc")).read_text()
    sid = SchemaRegistryClient(registry.url).register(f"{topic}-value", schema_text)
    parsed = fastavro.parse_schema(json.loads(schema_text))
    cfg = connector(kafka, emulator, "connector-avro.json", topics=topic,
                    **{"starrocks.topic2table.map": f"{topic}:{table}"})
    w = Worker(cfg, tmp_path, env={"SINKAPP_SCHEMA_REGISTRY_URL": registry.url}, web=True).start()
    try:
        # 20 good records load and commit first, so the committed offset sits right before the bad one
        produce_sync(kafka.bootstrap_servers, topic, (avro_value(sid, parsed, datagen_order(i)) for i in range(20)))
        wait_for(w, lambda: emulator.count("test", table) >= 20 or not w.alive(), 60, "the first 20 rows")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
        good = avro_value(sid, parsed, datagen_order(20))
        bad = b"\x01" + good[1:]                       # wrong magic byte at offset 20
        produce_sync(kafka.bootstrap_servers, topic,
                     [bad] + [avro_value(sid, parsed, datagen_order(i)) for i in range(21, 31)])
        w.wait_failed()
        committed, ends = offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)
    finally:
        w.stop()    # the last chance to (wrongly) load or commit past the bad record: the drain at SIGTERM
    log = w.log()
    stop_lines = [ln for ln in log.splitlines() if "STOPPED" in ln]
    assert stop_lines, log[-3000:]
    assert f"{topic}[0]@20" in stop_lines[0] and "magic byte" in stop_lines[0], stop_lines[0]
    assert ends == {0: 31}
    assert committed == {0: 20}
    assert sorted(r["orderid"] for r in emulator.rows("test", table)) == list(range(20))
    # the graceful shutdown (SIGTERM: drain, commit) did not move it past the bad record either
    assert offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)[0] == {0: 20}
