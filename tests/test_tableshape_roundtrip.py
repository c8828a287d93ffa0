"""Round trips: a schema with every mapped type → columns (sinkapp.tableshape) → CREATE TABLE sent to
the Stream Load emulator's MySQL front (sqlglot's StarRocks dialect) → a record decoded by sinkapp's
real converter (registry emulator for Avro, Protobuf and JSON Schema; JsonConverter for Connect
JSON and Debezium) → JsonEncoder body → Stream Load with strict_mode → the row read back: nothing
filtered, every column holds the value that was sent. No Kafka."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import aiomysql
import fastavro
import orjson
import pytest
from sinkapp_testkit.registry import RegistryEmulator, confluent_encode
from sinkapp_testkit.streamload import StreamLoadEmulator, parse_ddl
from sinkapp_testkit.streamload.probe import stream_load

import sinkapp.converters.registered  # noqa: F401  (registers the factories)
from sinkapp.config import ConverterSettings
from sinkapp.converters import build_converter
from sinkapp.converters.simple import JsonConverter
from sinkapp.streamload.encoding import JsonEncoder
from sinkapp.tableshape import (
    Column,
    avro_columns,
    connect_columns,
    create_table_sql,
    json_schema_columns,
    key_columns,
    protobuf_columns,
    row_schema,
)
from sinkapp.transforms.base import Meta
from sinkapp.transforms.debezium import debezium
from tests.fakes import Msg
from tests.test_tableshape import PROTO, PROTO_TYPES

HEADERS = {"format": "json", "strip_outer_array": "true", "strict_mode": "true", "max_filter_ratio": "0"}


class Env:
    def __init__(self, emu: StreamLoadEmulator, sr: RegistryEmulator, conn: Any, http: aiohttp.ClientSession) -> None:
        self.emu, self.sr, self.conn, self.http = emu, sr, conn, http

    def converter(self, class_name: str) -> Any:
        return build_converter(ConverterSettings(class_name, True, self.sr.url, None))

    async def register(self, subject: str, schema: str, schema_type: str) -> int:
        body = {"schema": schema, **({"schemaType": schema_type} if schema_type != "AVRO" else {})}
        r = await self.http.post(f"{self.sr.url}/subjects/{subject}/versions", json=body)
        assert r.status == 200, await r.text()
        return int((await r.json())["id"])

    async def load(self, table: str, columns: list[Column], key: list[str], rows: list[dict[str, Any]]) -> list[dict]:
        sql = create_table_sql("rt", table, columns, key, 2, {"replication_num": "1"})
        assert [t.name for t in parse_ddl(sql)] == [table]          # the emulator's DDL-file parser too
        async with self.conn.cursor() as cur:
            await cur.execute(sql)
        enc = JsonEncoder()
        body = bytes(enc.body([enc.encode_chunk(rows)]))
        r = await stream_load(self.http, self.emu.fe_url, "rt", table, body, {**HEADERS, "label": table},
                              password="pw")
        answer = r.json
        assert (answer["Status"], answer["NumberFilteredRows"]) == ("Success", 0), answer
        return self.emu.rows("rt", table)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with StreamLoadEmulator(password="pw", mysql_port=0) as emu, RegistryEmulator() as sr, \
            aiohttp.ClientSession() as http:
        conn = await aiomysql.connect(host="127.0.0.1", port=emu.mysql_port, user="root", password="pw",
                                      autocommit=True)
        async with conn.cursor() as cur:
            await cur.execute("CREATE DATABASE rt")
        yield Env(emu, sr, conn, http)
        conn.close()


def same(stored: Any, sent: Any) -> bool:
    """Whether a stored value is the value the body carried (as JSON: text, number, object)."""
    if isinstance(stored, bool) or isinstance(sent, bool):
        return stored == sent
    if isinstance(stored, dt.datetime):
        return stored == dt.datetime.fromisoformat(sent)
    if isinstance(stored, dt.date):
        return stored == dt.date.fromisoformat(sent)
    if isinstance(stored, Decimal):
        return stored == Decimal(str(sent))
    if isinstance(stored, float):
        return stored == pytest.approx(float(sent), rel=1e-6)
    if isinstance(stored, dict | list) and isinstance(sent, str):
        return stored == orjson.loads(sent)
    if isinstance(stored, str) and not isinstance(sent, str):
        return orjson.loads(stored) == sent
    return bool(stored == sent)


def assert_loaded(stored_rows: list[dict], sent_rows: list[dict[str, Any]], columns: list[Column]) -> None:
    assert len(stored_rows) == len(sent_rows)
    for stored, row in zip(stored_rows, sent_rows, strict=True):
        sent = orjson.loads(JsonEncoder().encode_row(row))
        for c in columns:
            if sent.get(c.name) is None:
                assert stored[c.name] is None, c
            else:
                assert stored[c.name] is not None, f"{c} loaded NULL for {sent[c.name]!r}"
                assert same(stored[c.name], sent[c.name]), (c, stored[c.name], sent[c.name])


# -- Avro ----------------------------------------------------------------------------------------
def dec(p: int, s: int) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": p, "scale": s}


AVRO_SCHEMA = {"type": "record", "name": "every", "namespace": "rt", "fields": [
    {"name": "id", "type": "long"}, {"name": "b", "type": "boolean"}, {"name": "i", "type": "int"},
    {"name": "i8", "type": {"type": "int", "connect.type": "int8"}},
    {"name": "i16", "type": {"type": "int", "connect.type": "int16"}},
    {"name": "f", "type": "float"}, {"name": "d", "type": "double"}, {"name": "s", "type": "string"},
    {"name": "raw", "type": "bytes"}, {"name": "dec", "type": dec(10, 2)}, {"name": "dec38", "type": dec(38, 10)},
    {"name": "dec_fixed", "type": {"type": "fixed", "name": "d16", "size": 16, "logicalType": "decimal",
                                   "precision": 30, "scale": 4}},
    {"name": "dec_big", "type": dec(60, 5)},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "t_ms", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "t_us", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "lts_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "lts_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "ts_ns", "type": {"type": "long", "logicalType": "timestamp-nanos"}},
    {"name": "u", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "u_fixed", "type": {"type": "fixed", "name": "u16", "size": 16, "logicalType": "uuid"}},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "fx", "type": {"type": "fixed", "name": "f4", "size": 4}},
    {"name": "arr", "type": {"type": "array", "items": "int"}},
    {"name": "m", "type": {"type": "map", "values": "double"}},
    {"name": "rec", "type": {"type": "record", "name": "Addr", "fields": [{"name": "city", "type": "string"}]}},
    {"name": "rec2", "type": ["null", "Addr"]},
    {"name": "opt", "type": ["null", "long"], "default": None}, {"name": "opt_null", "type": ["null", "string"]},
    {"name": "multi", "type": ["null", "string", "long"]}, {"name": "multi_rec", "type": ["long", "Addr"]},
    {"name": "dbz_ts", "type": {"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}},
    {"name": "dbz_day", "type": {"type": "int", "connect.name": "io.debezium.time.Date"}},
    {"name": "dbz_time", "type": {"type": "long", "connect.name": "io.debezium.time.MicroTime"}},
    {"name": "dbz_zoned", "type": {"type": "string", "connect.name": "io.debezium.time.ZonedTimestamp"}},
    {"name": "dbz_json", "type": {"type": "string", "connect.name": "io.debezium.data.Json"}},
    {"name": "dbz_year", "type": {"type": "int", "connect.name": "io.debezium.time.Year"}},
    {"name": "dbz_vsd", "type": {"type": "record", "name": "VariableScaleDecimal", "namespace": "io.debezium.data",
                                 "connect.name": "io.debezium.data.VariableScaleDecimal",
                                 "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}]}},
]}


def avro_record(i: int) -> dict[str, Any]:
    return {
        "id": i, "b": i % 2 == 0, "i": -2**31 + i, "i8": -128 + i, "i16": 32767 - i, "f": 1.5 * i, "d": -1e300,
        "s": "prix_€ 名前 \"quoted\"", "raw": bytes(range(i, i + 8)), "dec": Decimal("-12345678.9") + i,
        "dec38": Decimal("1234567890123456789012345678.0123456789"), "dec_fixed": Decimal("-12345678901234567890123456.7891"),
        "dec_big": Decimal("123456789012345678901234567890123456789012345678901234.56789"),
        "day": dt.date(2024, 2, 29), "t_ms": dt.time(23, 59, 59, 999000), "t_us": dt.time(1, 2, 3, 456789),
        "ts_ms": dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
        "ts_us": dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        "lts_ms": dt.datetime(2024, 1, 2, 3, 4, 5, 678000), "lts_us": dt.datetime(2024, 1, 2, 3, 4, 5, 678901),
        "ts_ns": 1_700_000_000_123_456_789, "u": str(uuid.UUID(int=i)), "u_fixed": uuid.UUID(int=2**100 + i).bytes,
        "color": "GREEN", "fx": b"\x00\xff\x10\x80", "arr": [1, 2, i], "m": {"a": 1.5, "名": -2.0},
        "rec": {"city": "Zürich"}, "rec2": None if i else {"city": "x"}, "opt": 7, "opt_null": None,
        "multi": "text" if i else 42, "multi_rec": {"city": "Lyon"} if i else 5,
        "dbz_ts": 1_700_000_000_123_456, "dbz_day": 19_000, "dbz_time": 45_296_789_012,
        "dbz_zoned": "2024-03-10T10:00:00+02:00", "dbz_json": '{"a": [1, {"b": null}]}', "dbz_year": 2024,
        "dbz_vsd": {"scale": 3, "value": (-1234567).to_bytes(4, "big", signed=True)},
    }


async def test_avro_every_type_round_trips(env: Env) -> None:
    sid = await env.register("every-value", json.dumps(AVRO_SCHEMA), "AVRO")
    values = []
    for i in range(3):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, fastavro.parse_schema(AVRO_SCHEMA), avro_record(i))
        values.append(confluent_encode(sid, buf.getvalue()))
    conv = env.converter("io.confluent.connect.avro.AvroConverter")
    await conv.prepare([Msg("t", 0, i, v) for i, v in enumerate(values)])
    rows = [conv.decode(v) for v in values]
    columns = avro_columns(conv.schemas[sid])          # the parsed writer schema the converter holds
    types = {c.name: c.type for c in columns}
    assert (types["dec_big"], types["dbz_vsd"], types["multi_rec"], types["ts_ns"]) == (
        "STRING", "STRING", "STRING", "BIGINT")
    stored = await env.load("avro_every", columns, ["id"], rows)
    assert_loaded(stored, rows, columns)
    assert stored[1]["dec_big"] == "123456789012345678901234567890123456789012345678901234.56789"
    assert stored[1]["dbz_vsd"] == "-1234.567" and stored[1]["t_ms"] == "23:59:59.999000"
    assert stored[1]["raw"] == base64.b64encode(bytes(range(1, 9))).decode()
    assert stored[1]["dbz_zoned"] == dt.datetime(2024, 3, 10, 8, 0)       # converted to UTC


# -- Protobuf ------------------------------------------------------------------------------------
def proto_message(cls: Any, i: int) -> Any:
    m = cls(f_double=-1.25e200, f_float=2.5, f_int32=-2**31, f_int64=-2**63 + i, f_uint32=2**32 - 1,
            f_uint64=2**64 - 1, f_sint32=-7, f_sint64=-2**62, f_fixed32=2**32 - 2, f_fixed64=2**64 - 2,
            f_sfixed32=-3, f_sfixed64=-4, f_bool=True, f_string="名前 €", f_bytes=b"\x00\x01\xfe",
            f_enum=1, f_repeated=[1, 2, 3], f_opt=0, o_num=-9)
    m.f_inner.a = 5
    m.f_map["k"] = 2**40
    m.f_ts.FromDatetime(dt.datetime(2024, 5, 6, 7, 8, 9, 123456))
    m.f_i64w.value = -1
    m.f_sw.value = "wrapped"
    m.f_u64w.value = 2**64 - 1
    m.f_bw.value = False
    m.f_dur.FromTimedelta(dt.timedelta(seconds=1, microseconds=500000))
    m.f_struct.update({"a": [1, "x"], "b": None})
    m.f_date.year, m.f_date.month, m.f_date.day = 2024, 12, 31
    m.f_tod.hours, m.f_tod.minutes, m.f_tod.seconds, m.f_tod.nanos = 13, 14, 15, 16_000_000
    m.f_dec.value, m.f_dec.scale = (-123456).to_bytes(3, "big", signed=True), 2
    m.f_dw.value = 0.5
    m.f_value.string_value = "any"
    if i:
        m.o_text = "text wins"
    return m


async def test_protobuf_every_type_round_trips(env: Env) -> None:
    sid = await env.register("proto-value", PROTO, "PROTOBUF")
    conv = env.converter("io.confluent.connect.protobuf.ProtobufConverter")
    await conv.prepare([Msg("t", 0, 0, confluent_encode(sid, b"\x00"))])
    cls = conv.schemas[sid].message_class((1,), sid)               # t.v1.M: the second message
    values = [confluent_encode(sid, b"\x02\x02" + proto_message(cls, i).SerializeToString()) for i in range(2)]
    rows = [conv.decode(v) for v in values]
    empty = conv.decode(confluent_encode(sid, b"\x02\x02" + cls(f_int64=99).SerializeToString()))
    columns = protobuf_columns(cls.DESCRIPTOR)
    assert {c.name: (c.type, c.nullable) for c in columns} == PROTO_TYPES
    stored = await env.load("proto_every", columns, ["f_int64"], rows + [empty])
    assert_loaded(stored, rows + [empty], columns)
    by_key = {r["f_int64"]: r for r in stored}
    assert by_key[-2**63]["f_uint64"] == 2**64 - 1 and by_key[-2**63]["f_dec"] == "-1234.56"
    assert by_key[-2**63]["f_tod"] == "13:14:15.016000" and by_key[-2**63]["f_dur"] == "1.500s"
    assert (by_key[99]["f_ts"], by_key[99]["f_opt"], by_key[99]["f_int32"]) == (None, None, 0)


# -- JSON Schema ---------------------------------------------------------------------------------
JSON_SCHEMA = {"type": "object", "required": ["id", "flag", "n", "x", "s", "day"], "properties": {
    "id": {"type": "integer"}, "flag": {"type": "boolean"}, "n": {"type": "integer", "connect.type": "int16"},
    "x": {"type": "number"}, "f32": {"type": "number", "connect.type": "float32"}, "s": {"type": "string"},
    "day": {"type": "string", "format": "date"}, "at": {"type": "string", "format": "date-time"},
    "u": {"type": "string", "format": "uuid"}, "obj": {"type": "object", "properties": {"a": {"type": "integer"}}},
    "arr": {"type": "array", "items": {"type": "string"}}, "e": {"enum": ["A", "B"]},
    "maybe": {"type": ["integer", "null"]}, "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "money": {"$ref": "#/definitions/Money"}, "anything": {},
}, "definitions": {"Money": {"type": "number"}}}


async def test_json_schema_every_type_round_trips(env: Env) -> None:
    sid = await env.register("js-value", json.dumps(JSON_SCHEMA), "JSON")
    docs = [
        {"id": 1, "flag": True, "n": -32768, "x": 1.25, "f32": 0.5, "s": "名前", "day": "2024-02-29",
         "at": "2024-02-29T10:00:00+02:00", "u": str(uuid.uuid4()), "obj": {"a": 1}, "arr": ["x", "y"], "e": "B",
         "maybe": None, "either": 5, "money": 9.99, "anything": {"deep": [1]}},
        {"id": 2, "flag": False, "n": 1, "x": -1e-300, "s": "", "day": "1970-01-01", "either": "five",
         "anything": "text"},
    ]
    conv = env.converter("io.confluent.connect.json.JsonSchemaConverter")
    values = [confluent_encode(sid, orjson.dumps(d)) for d in docs]
    await conv.prepare([Msg("t", 0, i, v) for i, v in enumerate(values)])
    rows = [conv.decode(v) for v in values]
    columns = json_schema_columns(JSON_SCHEMA)
    stored = await env.load("js_every", columns, ["id"], rows)
    assert_loaded(stored, rows, columns)
    assert stored[0]["at"] == "2024-02-29T10:00:00+02:00"      # kept verbatim, offset included


# -- Connect JSON and Debezium -------------------------------------------------------------------
def cf(name: str, type_: str, logical: str | None = None, optional: bool = False, **extra: Any) -> dict[str, Any]:
    return {"field": name, "type": type_, "optional": optional, **({"name": logical} if logical else {}), **extra}


CONNECT_ROW = {"type": "struct", "name": "rt.Value", "optional": True, "fields": [
    cf("id", "int64"), cf("i8", "int8"), cf("i16", "int16"), cf("i32", "int32"), cf("f32", "float"),
    cf("f64", "double"), cf("ok", "boolean"), cf("s", "string"), cf("raw", "bytes"),
    cf("arr", "array", items={"type": "int32"}), cf("m", "map", keys={"type": "string"}, values={"type": "int64"}),
    cf("st", "struct", fields=[cf("a", "int32")]),
    cf("dec", "bytes", "org.apache.kafka.connect.data.Decimal",
       parameters={"scale": "2", "connect.decimal.precision": "12"}),
    cf("dec_free", "bytes", "org.apache.kafka.connect.data.Decimal", parameters={"scale": "3"}),
    cf("day", "int32", "org.apache.kafka.connect.data.Date"), cf("tod", "int32", "org.apache.kafka.connect.data.Time"),
    cf("ts", "int64", "org.apache.kafka.connect.data.Timestamp"),
    cf("d_date", "int32", "io.debezium.time.Date"), cf("d_time", "int32", "io.debezium.time.Time"),
    cf("d_utime", "int64", "io.debezium.time.MicroTime"), cf("d_ntime", "int64", "io.debezium.time.NanoTime"),
    cf("d_ts", "int64", "io.debezium.time.Timestamp"), cf("d_uts", "int64", "io.debezium.time.MicroTimestamp"),
    cf("d_nts", "int64", "io.debezium.time.NanoTimestamp"), cf("d_zts", "string", "io.debezium.time.ZonedTimestamp"),
    cf("d_ztime", "string", "io.debezium.time.ZonedTime"), cf("d_year", "int32", "io.debezium.time.Year"),
    cf("d_vsd", "struct", "io.debezium.data.VariableScaleDecimal",
       fields=[cf("scale", "int32"), cf("value", "bytes")]),
    cf("d_json", "string", "io.debezium.data.Json"), cf("d_uuid", "string", "io.debezium.data.Uuid"),
    cf("d_enum", "string", "io.debezium.data.Enum"), cf("d_set", "string", "io.debezium.data.EnumSet"),
    cf("d_bits", "bytes", "io.debezium.data.Bits"), cf("d_xml", "string", "io.debezium.data.Xml"),
    cf("note", "string", optional=True, default="none"),
]}


def connect_payload(i: int) -> dict[str, Any]:
    b64 = lambda n, size: base64.b64encode(n.to_bytes(size, "big", signed=True)).decode()  # noqa: E731
    return {
        "id": i, "i8": -128, "i16": 32767, "i32": -2**31, "f32": 1.5, "f64": 2.0**60, "ok": True, "s": "€",
        "raw": base64.b64encode(b"\x00\x01").decode(), "arr": [1, 2], "m": {"k": 2**40}, "st": {"a": 1},
        "dec": b64(-123456789, 8), "dec_free": b64(10**30 + 1, 16), "day": 19_782, "tod": 45_296_789,
        "ts": 1_700_000_000_123, "d_date": 19_782, "d_time": 45_296_789, "d_utime": 45_296_789_012,
        "d_ntime": 45_296_789_012_345, "d_ts": 1_700_000_000_123, "d_uts": 1_700_000_000_123_456,
        "d_nts": 1_700_000_000_123_456_789, "d_zts": "2024-03-10T10:00:00Z", "d_ztime": "10:15:30Z", "d_year": 2024,
        "d_vsd": {"scale": 4, "value": b64(-98765, 4)}, "d_json": '{"k": [true, null]}',
        "d_uuid": str(uuid.UUID(int=i)), "d_enum": "red", "d_set": "a,b", "d_bits": base64.b64encode(b"\x05").decode(),
        "d_xml": "<a>1</a>", "note": None if i else "n",
    }


async def test_connect_json_every_type_round_trips(env: Env) -> None:
    conv = JsonConverter(schemas_enable=True)
    rows = [conv.decode(orjson.dumps({"schema": CONNECT_ROW, "payload": connect_payload(i)})) for i in range(2)]
    columns = connect_columns(CONNECT_ROW)
    stored = await env.load("connect_every", columns, ["id"], rows)
    assert_loaded(stored, rows, columns)
    assert stored[0]["dec_free"] == "1000000000000000000000000000.001" and stored[0]["d_vsd"] == "-9.8765"
    assert stored[0]["d_nts"] == dt.datetime(2023, 11, 14, 22, 13, 20, 123456)


async def test_debezium_envelope_rows_load_into_a_primary_key_table_without_an_op_column(env: Env) -> None:
    envelope_schema = {"type": "struct", "name": "rt.Envelope", "fields": [
        {**CONNECT_ROW, "field": "before"}, {**CONNECT_ROW, "field": "after"},
        cf("source", "struct", fields=[cf("db", "string")]), cf("op", "string"), cf("ts_ms", "int64", optional=True)]}
    key_schema = {"type": "struct", "name": "rt.Key", "fields": [cf("id", "int64")]}
    conv, step = JsonConverter(schemas_enable=True), debezium({})
    events = [{"before": None, "after": connect_payload(i), "source": {"db": "rt"}, "op": "c", "ts_ms": 1}
              for i in range(3)]
    events.append({"before": connect_payload(1), "after": None, "source": {"db": "rt"}, "op": "d", "ts_ms": 2})
    rows = [step(conv.decode(orjson.dumps({"schema": envelope_schema, "payload": e})), Meta("t", 0, n, None, None))
            for n, e in enumerate(events)]
    assert rows[0]["__op"] == 0 and rows[-1]["__op"] == 1
    columns = row_schema(envelope_schema, "connect")
    assert "__op" not in {c.name for c in columns} and [c.name for c in columns] == [
        f["field"] for f in CONNECT_ROW["fields"]]
    stored = await env.load("dbz_rows", columns, key_columns(key_schema, "connect"), rows)
    assert sorted(r["id"] for r in stored) == [0, 2]                 # id 1 deleted through __op
    assert_loaded(sorted(stored, key=lambda r: r["id"]), [rows[0], rows[2]], columns)
