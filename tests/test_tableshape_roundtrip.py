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

import sinkapp.converters.registered  # noqa: F401  (registers the factories)
from sinkapp.config import ConverterSettings
from sinkapp.converters import build_converter
from sinkapp.converters.simple import JsonConverter
from sinkapp.encoding import JsonEncoder
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
from sinkapp.testing.registry import RegistryEmulator, confluent_encode
from sinkapp.testing.streamload import StreamLoadEmulator
from sinkapp.testing.streamload.probe import stream_load
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
