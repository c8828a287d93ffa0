"""Schema Registry converters (Avro, Protobuf, JSON Schema) against the registry emulator on loopback.

Producers are played the way a Confluent serializer works: the schema is registered (through
python-schema-registry-client for Avro/JSON, raw HTTP for protobuf, which that client cannot
register), the payload is encoded (fastavro / protobuf classes built from a hand-written
FileDescriptorProto, independent of the converter's .proto parser / orjson) and framed with
``confluent_encode``. Records reach the converters as fake Faust messages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import fastavro
import httpx
import orjson
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2, wrappers_pb2
from schema_registry.client import AsyncSchemaRegistryClient
from sinkapp_testkit.registry import RegistryEmulator, confluent_encode

import sinkapp.converters.registered  # noqa: F401  (registers the factories)
from sinkapp.config import ConverterSettings, Secret
from sinkapp.config.routes import Route
from sinkapp.converters import build_converter
from sinkapp.converters.avro import AvroConverter
from sinkapp.converters.jsonschema import JsonSchemaConverter
from sinkapp.converters.protobuf import ProtobufConverter, read_indexes
from sinkapp.converters.registry import SchemaRegistry, split_frame
from sinkapp.errors import ConfigError, ConversionError
from sinkapp.streamload.encoding import JsonEncoder
from tests.fakes import Batch, Event, Msg, Record
from tests.workers import fixture_path

ORDERS_AVSC = fixture_path("orders.avsc")
AVRO = "io.confluent.connect.avro.AvroConverter"
PROTO = "io.confluent.connect.protobuf.ProtobufConverter"
JSONSR = "io.confluent.connect.json.JsonSchemaConverter"


@pytest.fixture
async def sr() -> AsyncIterator[RegistryEmulator]:
    async with RegistryEmulator() as emulator:
        yield emulator


def converter(class_name: str, url: str, user_info: str | None = None) -> Any:
    return build_converter(ConverterSettings(class_name, True, url, Secret(user_info) if user_info else None))


def msgs(values: list[bytes | None], topic: str = "t", partition: int = 0) -> list[Msg]:
    return [Msg(topic, partition, i, v) for i, v in enumerate(values)]


async def decode_all(conv: Any, values: list[bytes | None]) -> list[Any]:
    await conv.prepare(msgs(values))
    return [conv.decode(v) for v in values]


def avro_bytes(schema: Any, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


async def register_avro(url: str, subject: str, schema: Any) -> int:
    return await AsyncSchemaRegistryClient(url).register(subject, json.dumps(schema))


# -- Avro -----------------------------------------------------------------------------------------
def order(i: int) -> dict[str, Any]:
    return {"ordertime": 1500000000000 + i, "orderid": i, "itemid": f"Item_{i}", "orderunits": 1.5 * i,
            "address": {"city": f"City_{i}", "state": "State_1", "zipcode": 10000 + i}}


async def test_orders_avsc_decodes_to_nested_dicts(sr: RegistryEmulator) -> None:
    schema = json.loads(ORDERS_AVSC.read_text())
    sid = await register_avro(sr.url, "orders-value", schema)
    values: list[bytes | None] = [confluent_encode(sid, avro_bytes(schema, order(i))) for i in range(50)]
    conv = converter(AVRO, sr.url)
    assert isinstance(conv, AvroConverter)
    assert await decode_all(conv, values + [None]) == [order(i) for i in range(50)] + [None]
    fetches = [p for _, p in sr.request_log if p.startswith("/schemas/ids/")]
    await conv.prepare(msgs(values))                        # cached: no second fetch
    assert fetches == [f"/schemas/ids/{sid}"] == [p for _, p in sr.request_log if p.startswith("/schemas/ids/")]


async def test_writer_schema_change_mid_stream_decodes_both_versions(sr: RegistryEmulator) -> None:
    v1 = json.loads(ORDERS_AVSC.read_text())
    v2 = {**v1, "fields": [*v1["fields"], {"name": "channel", "type": "string", "default": "web"}]}
    id1 = await register_avro(sr.url, "orders-value", v1)
    id2 = await register_avro(sr.url, "orders-value", v2)
    assert id1 != id2
    values: list[bytes | None] = [
        confluent_encode(id1, avro_bytes(v1, order(1))),
        confluent_encode(id2, avro_bytes(v2, {**order(2), "channel": "app"})),
        confluent_encode(id1, avro_bytes(v1, order(3))),
    ]
    assert await decode_all(converter(AVRO, sr.url), values) == [
        order(1), {**order(2), "channel": "app"}, order(3)]


LOGICAL = {"type": "record", "name": "logical", "fields": [
    {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 4}},
    {"name": "dec_fixed", "type": {"type": "fixed", "name": "d16", "size": 16, "logicalType": "decimal",
                                   "precision": 30, "scale": 2}},
    {"name": "tiny", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 10}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "t_ms", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "t_us", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "lts_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "lts_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "maybe_ts", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
]}


async def test_every_avro_logical_type_becomes_starrocks_text(sr: RegistryEmulator) -> None:
    sid = await register_avro(sr.url, "logical-value", LOGICAL)
    utc = dt.UTC
    record = {
        "dec": Decimal("-12345678901234567890123456789012.3456"), "dec_fixed": Decimal("0.05"),
        "tiny": Decimal("0.0000000001"), "day": dt.date(2024, 2, 29),
        "t_ms": dt.time(13, 4, 5, 123000), "t_us": dt.time(23, 59, 59, 999999),
        "ts_ms": dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=utc),
        "ts_us": dt.datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=utc),
        "lts_ms": dt.datetime(2024, 1, 2, 3, 4, 5), "lts_us": dt.datetime(2024, 1, 2, 3, 4, 5, 7),
        "id": uuid.UUID(int=5), "maybe_ts": None,
    }
    (got,) = await decode_all(converter(AVRO, sr.url), [confluent_encode(sid, avro_bytes(LOGICAL, record))])
    # time-millis is Connect's Time (transforms see a time), written as sinkapp always wrote it
    t_ms = got.pop("t_ms")
    assert t_ms == dt.time(13, 4, 5, 123000)
    assert orjson.loads(JsonEncoder().encode_row({"t_ms": t_ms})) == {"t_ms": "13:04:05.123000"}
    assert got == {
        "dec": "-12345678901234567890123456789012.3456", "dec_fixed": "0.05", "tiny": "0.0000000001",
        "day": "2024-02-29", "t_us": "23:59:59.999999",
        "ts_ms": "2024-01-02 03:04:05.006000", "ts_us": "1969-12-31 23:59:59.000001",
        "lts_ms": "2024-01-02 03:04:05", "lts_us": "2024-01-02 03:04:05.000007",
        "id": "00000000-0000-0000-0000-000000000005", "maybe_ts": None,
    }
    assert JsonEncoder().encode_row(got)                    # StarRocks-ready: the encoder takes it as is


async def test_avro_unions_enums_arrays_maps_bytes(sr: RegistryEmulator) -> None:
    schema = {"type": "record", "name": "shapes", "fields": [
        {"name": "opt", "type": ["null", "string"], "default": None},
        {"name": "multi", "type": ["null", "long", "string"]},
        {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "int"}},
        {"name": "raw", "type": "bytes"},
        {"name": "md5", "type": {"type": "fixed", "name": "md5", "size": 4}},
        {"name": "kids", "type": {"type": "array", "items": {"type": "record", "name": "kid", "fields": [
            {"name": "name", "type": "string"}, {"name": "born", "type": {"type": "int", "logicalType": "date"}}]}}},
    ]}
    sid = await register_avro(sr.url, "shapes-value", schema)
    rec = {"opt": None, "multi": 7, "color": "GREEN", "tags": ["a", "b"], "attrs": {"x": 1}, "raw": b"\x00\xff",
           "md5": b"abcd", "kids": [{"name": "k", "born": dt.date(2020, 1, 1)}]}
    rec2 = {**rec, "opt": "yes", "multi": "seven", "kids": []}
    got = await decode_all(converter(AVRO, sr.url), [confluent_encode(sid, avro_bytes(schema, r)) for r in (rec, rec2)])
    assert got[0] == {**rec, "kids": [{"name": "k", "born": "2020-01-01"}]}
    assert got[1] == rec2
    assert orjson.loads(JsonEncoder().encode_row(got[0]))["raw"] == "AP8="


# -- Protobuf -------------------------------------------------------------------------------------
SHOP_PROTO = """
syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

// first message: index [0]
message Order {
  enum Status { UNKNOWN = 0; NEW = 1; SHIPPED = 2; }
  message Line { string sku = 1; int32 qty = 2; }
  int64 id = 1;
  Status status = 2;
  repeated Line lines = 3;
  google.protobuf.Timestamp created = 4;
  google.protobuf.StringValue note = 5;
  google.protobuf.Int64Value big = 6;
  Address address = 7;
  map<string, int64> tags = 8;
  optional string coupon = 9;
  oneof pay { string card = 10; string iban = 11; }
  repeated Status history = 12;
  bytes blob = 13;
  double total = 14;
}

message Address {            // index [1]
  string city = 1;
  message Geo { double lat = 1; double lon = 2; }   // index [1, 0]
  Geo geo = 2;
}
"""


def shop_classes() -> dict[str, Any]:
    """Producer-side classes from a hand-written descriptor (what protoc would emit for SHOP_PROTO)."""
    F = descriptor_pb2.FieldDescriptorProto
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    fdp = descriptor_pb2.FileDescriptorProto(
        name="shop.proto", package="shop.v1", syntax="proto3",
        dependency=["google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto"])
    o = fdp.message_type.add(name="Order")
    st = o.enum_type.add(name="Status")
    for n, v in (("UNKNOWN", 0), ("NEW", 1), ("SHIPPED", 2)):
        st.value.add(name=n, number=v)
    line = o.nested_type.add(name="Line")
    line.field.add(name="sku", number=1, label=opt, type=F.TYPE_STRING)
    line.field.add(name="qty", number=2, label=opt, type=F.TYPE_INT32)
    entry = o.nested_type.add(name="TagsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=opt, type=F.TYPE_STRING)
    entry.field.add(name="value", number=2, label=opt, type=F.TYPE_INT64)
    o.oneof_decl.add(name="pay")
    o.oneof_decl.add(name="_coupon")
    add = o.field.add
    add(name="id", number=1, label=opt, type=F.TYPE_INT64)
    add(name="status", number=2, label=opt, type=F.TYPE_ENUM, type_name=".shop.v1.Order.Status")
    add(name="lines", number=3, label=rep, type=F.TYPE_MESSAGE, type_name=".shop.v1.Order.Line")
    add(name="created", number=4, label=opt, type=F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    add(name="note", number=5, label=opt, type=F.TYPE_MESSAGE, type_name=".google.protobuf.StringValue")
    add(name="big", number=6, label=opt, type=F.TYPE_MESSAGE, type_name=".google.protobuf.Int64Value")
    add(name="address", number=7, label=opt, type=F.TYPE_MESSAGE, type_name=".shop.v1.Address")
    add(name="tags", number=8, label=rep, type=F.TYPE_MESSAGE, type_name=".shop.v1.Order.TagsEntry")
    add(name="coupon", number=9, label=opt, type=F.TYPE_STRING, oneof_index=1, proto3_optional=True)
    add(name="card", number=10, label=opt, type=F.TYPE_STRING, oneof_index=0)
    add(name="iban", number=11, label=opt, type=F.TYPE_STRING, oneof_index=0)
    add(name="history", number=12, label=rep, type=F.TYPE_ENUM, type_name=".shop.v1.Order.Status")
    add(name="blob", number=13, label=opt, type=F.TYPE_BYTES)
    add(name="total", number=14, label=opt, type=F.TYPE_DOUBLE)
    a = fdp.message_type.add(name="Address")
    a.field.add(name="city", number=1, label=opt, type=F.TYPE_STRING)
    geo = a.nested_type.add(name="Geo")
    geo.field.add(name="lat", number=1, label=opt, type=F.TYPE_DOUBLE)
    geo.field.add(name="lon", number=2, label=opt, type=F.TYPE_DOUBLE)
    a.field.add(name="geo", number=2, label=opt, type=F.TYPE_MESSAGE, type_name=".shop.v1.Address.Geo")
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(fdp)
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"shop.v1.{n}"))
            for n in ("Order", "Address", "Address.Geo")}


async def register_raw(url: str, subject: str, schema: str, schema_type: str,
                       auth: tuple[str, str] | None = None) -> int:
    async with httpx.AsyncClient(auth=auth) as http:
        resp = await http.post(f"{url}/subjects/{subject}/versions",
                               json={"schema": schema, "schemaType": schema_type})
    resp.raise_for_status()
    return int(resp.json()["id"])


def zigzag_indexes(indexes: list[int]) -> bytes:
    """Confluent's message-index list (all values here < 64, so each varint is one byte)."""
    return b"\x00" if indexes == [0] else bytes([len(indexes) * 2, *(i * 2 for i in indexes)])


async def test_protobuf_nested_repeated_enum_timestamp_wrappers_and_index_list(sr: RegistryEmulator) -> None:
    sid = await register_raw(sr.url, "shop-value", SHOP_PROTO, "PROTOBUF")
    cls = shop_classes()
    o = cls["Order"](id=2**62 + 1, status=2, address=cls["Address"](city="Oslo"),
                     tags={"a": 2**50}, card="4111", history=[1, 2], blob=b"\x01\x02", total=9.5)
    o.created.seconds, o.created.nanos = 1_700_000_000, 123_456_000
    o.note.value = "hi"
    o.big.value = -(2**40)
    o.lines.add(sku="X", qty=3)
    o.lines.add(sku="Y")
    bare = cls["Order"]()
    addr = cls["Address"](city="Rome", geo=cls["Address.Geo"](lat=41.9, lon=12.5))
    geo = cls["Address.Geo"](lat=-1.0)
    values: list[bytes | None] = [
        confluent_encode(sid, zigzag_indexes([0]) + o.SerializeToString()),
        confluent_encode(sid, zigzag_indexes([0]) + bare.SerializeToString()),
        confluent_encode(sid, zigzag_indexes([1]) + addr.SerializeToString()),
        confluent_encode(sid, zigzag_indexes([1, 0]) + geo.SerializeToString()),
        confluent_encode(sid, bytes([2, 0]) + o.SerializeToString()),   # explicit [0] list
    ]
    conv = converter(PROTO, sr.url)
    assert isinstance(conv, ProtobufConverter)
    full, empty, address, point, again = await decode_all(conv, values)
    assert full == {
        "id": 2**62 + 1, "status": "SHIPPED", "lines": [{"sku": "X", "qty": 3}, {"sku": "Y", "qty": 0}],
        "created": "2023-11-14 22:13:20.123456", "note": "hi", "big": -(2**40),
        "address": {"city": "Oslo", "geo": None}, "tags": {"a": 2**50}, "coupon": None,
        "card": "4111", "iban": None, "history": ["NEW", "SHIPPED"], "blob": b"\x01\x02", "total": 9.5,
    }
    assert again == full
    assert empty == {"id": 0, "status": "UNKNOWN", "lines": [], "created": None, "note": None, "big": None,
                     "address": None, "tags": {}, "coupon": None, "card": None, "iban": None,
                     "history": [], "blob": b"", "total": 0.0}
    assert address == {"city": "Rome", "geo": {"lat": 41.9, "lon": 12.5}}
    assert point == {"lat": -1.0, "lon": 0.0}


async def test_protobuf_reference_and_confluent_decimal(sr: RegistryEmulator) -> None:
    common = 'syntax = "proto3"; package common; message Money { string currency = 1; int64 cents = 2; }'
    await register_raw(sr.url, "common.proto", common, "PROTOBUF")
    main = ('syntax = "proto3"; package pay; import "common.proto"; import "confluent/type/decimal.proto";\n'
            "message Payment { common.Money amount = 1; confluent.type.Decimal rate = 2; }")
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{sr.url}/subjects/pay-value/versions", json={
            "schema": main, "schemaType": "PROTOBUF",
            "references": [{"name": "common.proto", "subject": "common.proto", "version": 1}]})
    sid = int(resp.json()["id"])
    # hand-encoded: amount{currency="EUR", cents=250}, rate{value=-1234 (big-endian), scale=3}
    amount = b"\x0a\x03EUR" + b"\x10\xfa\x01"
    rate = b"\x0a\x02" + (-1234).to_bytes(2, "big", signed=True) + b"\x18\x03"
    payload = b"\x0a" + bytes([len(amount)]) + amount + b"\x12" + bytes([len(rate)]) + rate
    (got,) = await decode_all(converter(PROTO, sr.url), [confluent_encode(sid, b"\x00" + payload)])
    assert got == {"amount": {"currency": "EUR", "cents": 250}, "rate": "-1.234"}


def test_message_index_list_parsing() -> None:
    assert read_indexes(b"\x00rest") == ((0,), 1)
    assert read_indexes(b"\x04\x02\x06") == ((1, 3), 3)
    with pytest.raises(ConversionError, match="ends inside"):
        read_indexes(b"\x04\x02")


# -- JSON Schema ----------------------------------------------------------------------------------
async def test_json_schema_payload(sr: RegistryEmulator) -> None:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}, "tags": {"type": "array"}}}
    sid = await AsyncSchemaRegistryClient(sr.url).register("j-value", json.dumps(schema), schema_type="JSON")
    docs = [{"id": 1, "tags": ["a"], "nested": {"x": 1.5}}, {"id": 2**60, "tags": []}]
    conv = converter(JSONSR, sr.url)
    assert isinstance(conv, JsonSchemaConverter)
    assert await decode_all(conv, [confluent_encode(sid, orjson.dumps(d)) for d in docs]) == docs
    with pytest.raises(ConversionError, match="not valid JSON"):
        conv.decode(confluent_encode(sid, b"{oops"))


# -- errors name topic, partition, offset ---------------------------------------------------------
async def test_prepare_errors_name_the_record(sr: RegistryEmulator) -> None:
    schema = json.loads(ORDERS_AVSC.read_text())
    sid = await register_avro(sr.url, "orders-value", schema)
    good = confluent_encode(sid, avro_bytes(schema, order(1)))
    conv = converter(AVRO, sr.url)
    cases = {
        "unknown": (confluent_encode(9999, b"\x00"), r"orders\[4\]@1: schema id 9999 is not in the Schema Registry"),
        "magic": (b"\x01" + good[1:], r"orders\[4\]@1: value starts with byte 0x01, not the Schema Registry magic"),
        "short": (b"\x00\x00\x01", r"orders\[4\]@1: value is 3 bytes, shorter than the 5-byte"),
    }
    for bad, pattern in cases.values():
        with pytest.raises(ConversionError, match=pattern):
            await conv.prepare(msgs([good, bad], topic="orders", partition=4))
    pid = await register_raw(sr.url, "p-value", SHOP_PROTO, "PROTOBUF")
    with pytest.raises(ConversionError, match=rf"orders\[4\]@0: schema id {pid} is a PROTOBUF schema, "
                                              "but the converter is io.confluent.connect.avro.AvroConverter"):
        await conv.prepare(msgs([confluent_encode(pid, b"\x00")], topic="orders", partition=4))


async def test_unparseable_protobuf_schema_names_the_record(sr: RegistryEmulator) -> None:
    sid = await register_raw(sr.url, "bad-value", 'syntax = "proto3"; message X { int32 a = ; }', "PROTOBUF")
    with pytest.raises(ConversionError, match=rf"t\[0\]@0: protobuf schema id {sid} cannot be used: .*line 1"):
        await converter(PROTO, sr.url).prepare(msgs([confluent_encode(sid, b"\x00")]))


async def run_through_sink(conv: Any, values: list[bytes | None]) -> str:
    """Feed values as orders[3]@100.. through the sink core; the reason the route stopped."""
    from sinkapp.pipeline.encode import Chunker
    from tests.pipeline_fakes import harness

    h = harness(max_rows=10**6)
    route = Route("orders", "db", "t", {}, ConverterSettings(AVRO, True), None)
    h.pipe.routes.clear()
    h.pipe.by_topic.clear()
    h.pipe.add_route(route, conv, Chunker(conv, JsonEncoder()), JsonEncoder(), {})
    events = [Event(Batch("orders", 3, [Record("orders", 3, 100 + i, v) for i, v in enumerate(values)]))]
    await h.take(*events)                      # the good records before the bad one load first
    return h.pipe.routes[0].stats.failed or ""


async def test_corrupt_payloads_stop_the_route_naming_topic_partition_offset(sr: RegistryEmulator) -> None:
    schema = json.loads(ORDERS_AVSC.read_text())
    aid = await register_avro(sr.url, "orders-value", schema)
    good = confluent_encode(aid, avro_bytes(schema, order(1)))
    reason = await run_through_sink(converter(AVRO, sr.url), [good, good[:-12]])
    assert "orders[3]@101" in reason and "truncated or corrupt" in reason and f"schema id {aid}" in reason

    pid = await register_raw(sr.url, "shop-value", SHOP_PROTO, "PROTOBUF")
    ok = confluent_encode(pid, b"\x00" + shop_classes()["Order"](id=5).SerializeToString())
    corrupt = confluent_encode(pid, b"\x00\x0a\xff\xff\xff")   # length-delimited field longer than the payload
    reason = await run_through_sink(converter(PROTO, sr.url), [ok, ok, corrupt])
    assert "orders[3]@102" in reason and "truncated or corrupt" in reason

    reason = await run_through_sink(converter(PROTO, sr.url), [confluent_encode(pid, b"\x02\x0e")])
    assert "orders[3]@100" in reason and "message index [7] is not in protobuf schema" in reason

    reason = await run_through_sink(converter(AVRO, sr.url), [good, confluent_encode(777, b"")])
    assert "orders[3]@101" in reason and "schema id 777 is not in the Schema Registry" in reason


# -- outages, auth, settings ----------------------------------------------------------------------
async def test_registry_down_then_up_prepare_waits_then_succeeds(
        sr: RegistryEmulator, caplog: pytest.LogCaptureFixture) -> None:
    schema = json.loads(ORDERS_AVSC.read_text())
    sid = await register_avro(sr.url, "orders-value", schema)
    values: list[bytes | None] = [confluent_encode(sid, avro_bytes(schema, order(i))) for i in range(3)]
    conv = AvroConverter(SchemaRegistry(sr.url), backoff_initial_s=0.01, backoff_max_s=0.05)
    await sr.down()
    caplog.set_level(logging.WARNING, "sinkapp.converters.registry")
    task = asyncio.create_task(conv.prepare(msgs(values)))
    # the converter's only trace of each attempt is its warning (what the operator reads): 3 of them
    for _ in range(500):
        if sum("schema registry unavailable" in r.getMessage() for r in caplog.records) >= 3:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError(f"fewer than 3 retries in 5 s: {[r.getMessage() for r in caplog.records]}")
    assert not task.done()                                  # waiting, not failing, not skipping
    sr.fail_next(2, 503)                                    # 5xx answers are waited out too
    await sr.up()
    await asyncio.wait_for(task, 5)
    assert [conv.decode(v) for v in values] == [order(i) for i in range(3)]
    assert "t[0]@0" in caplog.records[0].getMessage()


async def test_basic_auth() -> None:
    async with RegistryEmulator(user_info="key:s3cret") as sr:
        schema = json.loads(ORDERS_AVSC.read_text())
        sid = await AsyncSchemaRegistryClient(sr.url, auth=httpx.BasicAuth("key", "s3cret")).register(
            "orders-value", json.dumps(schema))
        value = confluent_encode(sid, avro_bytes(schema, order(7)))
        assert await decode_all(converter(AVRO, sr.url, "key:s3cret"), [value]) == [order(7)]
        with pytest.raises(ConversionError, match="refused the request for schema id .*HTTP 401.*user.info"):
            await converter(AVRO, sr.url, "key:wrong").prepare(msgs([value]))


async def test_worker_wide_registry_settings_are_the_fallback(sr: RegistryEmulator) -> None:
    schema = json.loads(ORDERS_AVSC.read_text())
    sid = await register_avro(sr.url, "orders-value", schema)
    cs = ConverterSettings(AVRO, True)
    conv = build_converter(cs, registry_url=sr.url, registry_user_info=None)
    value = confluent_encode(sid, avro_bytes(schema, order(2)))
    assert await decode_all(conv, [value]) == [order(2)]
    with pytest.raises(ConfigError, match="value.converter.schema.registry.url"):
        build_converter(cs, registry_url=None, registry_user_info=None)
    with pytest.raises(ConfigError, match="http:// or https://"):
        build_converter(ConverterSettings(PROTO, True, "registry:8081"))
    with pytest.raises(ConfigError, match="value.converter.schema.registry.ssl.truststore.location=.* PEM"):
        build_converter(ConverterSettings(JSONSR, True, "https://registry:8081", options={
            "schema.registry.ssl.truststore.location": str(ORDERS_AVSC)}))


def test_split_frame() -> None:
    assert split_frame(confluent_encode(258, b"abc")) == (258, b"abc")
    with pytest.raises(ConversionError, match="shorter"):
        split_frame(b"")
