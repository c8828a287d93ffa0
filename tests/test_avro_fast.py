"""The compiled Avro readers (sinkapp.converters.avro_fast) against fastavro, record for record.

Each test registers a schema with the registry emulator and builds two AvroConverters that fetched it:
``fast`` (with the reader compiled for the schema id, as a worker has it) and ``generic`` (its compiled
readers dropped: fastavro reads every record, as before the compiled readers). Random records (seeded)
are written by fastavro's own writer; the two must give the same values (same types: a time-millis is a
MicrosTime either way) and, through the decode loop (:class:`sinkapp.pipeline.encode.Chunker`), the same
body bytes, tombstones and bad records (index, stage, message).
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import struct
import uuid
from collections.abc import AsyncIterator
from typing import Any

import fastavro
import httpx
import pytest
from sinkapp_testkit.registry import RegistryEmulator, confluent_encode

import sinkapp.converters.registered  # noqa: F401  (registers the factories)
from sinkapp.config import ConverterSettings
from sinkapp.converters import build_converter
from sinkapp.converters.avro import AvroConverter
from sinkapp.converters.avro_fast import compile_reader
from sinkapp.errors import ConversionError
from sinkapp.pipeline.encode import BadRecord, Chunker
from sinkapp.streamload.encoding import CsvEncoder, JsonEncoder
from tests.fakes import Msg, Record
from tests.workers import fixture_path

AVRO = "io.confluent.connect.avro.AvroConverter"
ORDERS = json.loads((fixture_path("orders.avsc")).read_text())


@pytest.fixture
async def sr() -> AsyncIterator[RegistryEmulator]:
    async with RegistryEmulator() as emulator:
        yield emulator


async def pair(sr: RegistryEmulator, schema: Any, subject: str = "s-value") -> tuple[AvroConverter, AvroConverter, int]:
    """(fast, generic, schema id) for ``schema``, both having fetched it through ``prepare``."""
    async with httpx.AsyncClient() as http:                 # raw: the client library takes records only
        got = await http.post(f"{sr.url}/subjects/{subject}/versions", json={"schema": json.dumps(schema)})
    sid = int(got.json()["id"])
    convs = [build_converter(ConverterSettings(AVRO, True, sr.url)) for _ in range(2)]
    for conv in convs:
        await conv.prepare([Msg("t", 0, 0, confluent_encode(sid, b""))])
    fast, generic = convs
    assert isinstance(fast, AvroConverter) and isinstance(generic, AvroConverter)
    generic.readers.clear()
    generic.columnar.clear()                                  # and no columnar lane (tests/test_avro_columnar.py)
    return fast, generic, sid


def without_logical(node: Any) -> Any:
    """The schema with its logical types left out: what the random values are written with."""
    if isinstance(node, list):
        return [without_logical(n) for n in node]
    if isinstance(node, dict):
        return {k: without_logical(v) for k, v in node.items() if k != "logicalType"}
    return node


def write(schema: Any, sid: int, value: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(without_logical(schema)), value)
    return confluent_encode(sid, buf.getvalue())


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def outcome(conv: AvroConverter, values: list[bytes | None], encoder: Any = None, gate: Any = None) -> Any:
    """What the decode loop makes of ``values`` (errors.tolerance=all): body, rows, tombstones, bad records."""
    chunker = Chunker(conv, encoder or JsonEncoder(), tolerant=True)
    chunker.gate = gate
    chunk = chunker.encode([Record("t", 0, k, v) for k, v in enumerate(values)], 0, len(values))
    return (bytes(chunk.data), chunk.rows, chunk.tombstones,
            [(b.index, b.stage, message(b.error)) for b in chunk.bad])


def message(error: Exception) -> str:
    """An error's text without object addresses (fastavro names its file object: ``<_io.BytesIO at 0x..>``)."""
    return re.sub(r" at 0x[0-9a-f]+", "", str(error))


def assert_same_everywhere(fast: AvroConverter, generic: AvroConverter, values: list[bytes | None]) -> None:
    for v in values:
        if v is not None:
            got = [None, None]
            for i, conv in enumerate((fast, generic)):
                try:
                    got[i] = conv.decode(v)
                except ConversionError as exc:
                    got[i] = message(exc)
            assert same(got[0], got[1]), (v, got)
    want = outcome(generic, values)
    assert outcome(fast, values) == want
    assert want[1] > 0 or not any(values)                     # the comparison saw rows


# -- random values of a schema (fastavro's writer takes them) ------------------------------------
EDGE_LONGS = [0, 1, -1, 63, -64, 64, -65, 8191, -8192, 2**31 - 1, -(2**31), 2**53, 2**63 - 1, -(2**63)]
TEXT = "aZ09 \"\\/\b\f\n\r\t\x00\x1f\x7f é€😀\u2028"


def rand_text(rng: random.Random) -> str:
    return "".join(rng.choice(TEXT) for _ in range(rng.randint(0, 12)))


def rand_float(rng: random.Random, bits: int) -> float:
    pick = rng.random()
    if pick < 0.1:
        return rng.choice([0.0, -0.0, math.inf, -math.inf, math.nan, 1e16, 1.5e-7, 5e-324])
    if pick < 0.5:
        return rng.uniform(-1e6, 1e6)
    fmt = "<f" if bits == 32 else "<d"
    return float(struct.unpack(fmt, rng.randbytes(bits // 8))[0])


LOGICAL_RANGES = {"date": (-719162, 2932896), "time-millis": (0, 86_399_999), "time-micros": (0, 86_399_999_999),
                  "timestamp-millis": (-62135596800000, 253402300799999),
                  "timestamp-micros": (-62135596800000000, 253402300799999999),
                  "local-timestamp-millis": (-62135596800000, 253402300799999),
                  "local-timestamp-micros": (-62135596800000000, 253402300799999999)}


def random_record(schema: Any, rng: random.Random) -> Any:
    named: dict[str, Any] = {}

    def visit(node: Any) -> None:                              # every named type, by its short name
        if isinstance(node, list):
            for n in node:
                visit(n)
        elif isinstance(node, dict):
            if node.get("type") in ("record", "enum", "fixed"):
                named[node["name"]] = node
            for v in node.values():
                visit(v)

    visit(schema)
    return rand_value(schema, named, rng)


def rand_value(node: Any, named: dict[str, Any], rng: random.Random) -> Any:  # noqa: PLR0911, PLR0912
    if isinstance(node, list):
        return rand_value(rng.choice(node), named, rng)
    if isinstance(node, str) and node.rpartition(".")[2] in named:       # a named type (by its short name)
        return rand_value(named[node.rpartition(".")[2]], named, rng)
    kind = node["type"] if isinstance(node, dict) else node
    logical = node.get("logicalType") if isinstance(node, dict) else None
    dbz = node.get("connect.name", "") if isinstance(node, dict) else ""
    if logical in LOGICAL_RANGES:
        return rng.randint(*LOGICAL_RANGES[logical])
    if logical == "decimal" and kind == "bytes":
        n = rng.choice([0, rng.randint(-10**40, 10**40), rng.randint(-999, 999)])
        return n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)
    if logical == "uuid":
        u = uuid.UUID(bytes=rng.randbytes(16))
        return str(u) if kind == "string" else u.bytes
    if dbz == "io.debezium.time.MicroTimestamp":
        return rng.randint(-62135596800000000, 253402300799999999)
    if kind == "null":
        return None
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("int", "long"):
        limit = 2**31 if kind == "int" else 2**63
        return rng.choice([*(e for e in EDGE_LONGS if -limit <= e < limit), rng.randint(-limit, limit - 1),
                           rng.randint(-1000, 1000)])
    if kind in ("float", "double"):
        return rand_float(rng, 32 if kind == "float" else 64)
    if kind == "bytes":
        return rng.randbytes(rng.randint(0, 9))
    if kind == "string":
        return rand_text(rng)
    if kind == "fixed":
        return rng.randbytes(node["size"])
    if kind == "enum":
        return rng.choice(node["symbols"])
    if kind == "array":
        return [rand_value(node["items"], named, rng) for _ in range(rng.randint(0, 3))]
    if kind == "map":
        return {rand_text(rng): rand_value(node["values"], named, rng) for _ in range(rng.randint(0, 3))}
    if kind == "record":
        if dbz == "io.debezium.data.VariableScaleDecimal":
            return {"scale": rng.randint(0, 12), "value": rand_value("bytes", named, rng)}
        return {f["name"]: rand_value(f["type"], named, rng) for f in node["fields"]}
    raise AssertionError(f"no random value for {node!r}")


EVERY = {"type": "record", "name": "every", "namespace": "t.v1", "fields": [
    {"name": "nothing", "type": "null"},
    {"name": "flag", "type": "boolean"},
    {"name": "i", "type": "int"},
    {"name": "l", "type": "long"},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "raw", "type": "bytes"},
    {"name": "s", "type": {"type": "string", "avro.java.string": "String"}},
    {"name": "md5", "type": {"type": "fixed", "name": "md5", "size": 4}},
    {"name": "md5_again", "type": "md5"},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
    {"name": "opt", "type": ["null", "string"], "default": None},
    {"name": "multi", "type": ["null", "long", "string", "Color", {"type": "array", "items": "int"}, "md5"]},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": ["null", "double"]}},
    {"name": "kids", "type": {"type": "array", "items": {"type": "record", "name": "Kid", "fields": [
        {"name": "name", "type": "string"},
        {"name": "born", "type": {"type": "int", "logicalType": "date"}},
        {"name": "grid", "type": {"type": "array", "items": {"type": "map", "values": "long"}}}]}}},
    {"name": "first_kid", "type": ["null", "t.v1.Kid"]},
    {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 60, "scale": 4}},
    {"name": "dec0", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10}},
    {"name": "dec_fixed", "type": {"type": "fixed", "name": "d16", "size": 16, "logicalType": "decimal",
                                   "precision": 38, "scale": 2}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "t_ms", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "t_us", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "lts_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "lts_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "fid", "type": {"type": "fixed", "name": "u16", "size": 16, "logicalType": "uuid"}},
    {"name": "maybe_ts", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
    {"name": "no_such_logical", "type": {"type": "long", "logicalType": "sinkapp-made-up"}},
    {"name": "dbz_ts", "type": {"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}},
    {"name": "dbz_dec", "type": {"type": "record", "name": "VariableScaleDecimal", "namespace": "io.debezium.data",
                                 "connect.name": "io.debezium.data.VariableScaleDecimal", "fields": [
                                     {"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}]}},
]}


# -- the tests ------------------------------------------------------------------------------------
async def test_datagen_orders_give_the_same_values_and_body_as_fastavro(sr: RegistryEmulator) -> None:
    fast, generic, sid = await pair(sr, ORDERS, "orders-value")
    assert sid in fast.readers and not generic.readers
    rng = random.Random(25)
    values: list[bytes | None] = [write(ORDERS, sid, random_record(ORDERS, rng)) for _ in range(3000)]
    assert_same_everywhere(fast, generic, values)
    props = {"column_separator": ",", "enclose": '"'}
    assert outcome(fast, values, CsvEncoder(props)) == outcome(generic, values, CsvEncoder(props))
    raw = values[0]
    assert raw is not None and same(fast.readers[sid].read(raw), generic.decode(raw))


async def test_every_type_logical_type_union_and_nesting_gives_what_fastavro_gives(sr: RegistryEmulator) -> None:
    fast, generic, sid = await pair(sr, EVERY)
    assert sid in fast.readers
    rng = random.Random(3)
    values: list[bytes | None] = [write(EVERY, sid, random_record(EVERY, rng)) for _ in range(1500)]
    values[7:7] = [None, None]                                # tombstones among them
    assert_same_everywhere(fast, generic, values)


async def test_arrays_and_maps_in_several_blocks_with_byte_sizes(sr: RegistryEmulator) -> None:
    schema = {"type": "record", "name": "blocks", "fields": [
        {"name": "a", "type": {"type": "array", "items": "long"}},
        {"name": "m", "type": {"type": "map", "values": "string"}}]}
    fast, generic, sid = await pair(sr, schema)
    # a: a block of -2 items (zigzag 3) with its byte size 2, items 1 and -1, a block of 1 item (300), end;
    # m: one block of 2 entries ("k" -> "v", "k" -> "w": the later wins, as in fastavro), end
    payload = bytes([3, 4, 2, 1, 2, 0xD8, 0x04, 0, 4, 2]) + b"k" + bytes([2]) + b"v" + bytes([2]) + b"k" \
        + bytes([2]) + b"w" + bytes([0])
    raw = confluent_encode(sid, payload)
    assert generic.decode(raw) == {"a": [1, -1, 300], "m": {"k": "w"}}
    assert same(fast.readers[sid].read(raw), generic.decode(raw))
    assert_same_everywhere(fast, generic, [raw, raw])


def corruptions(raw: bytes, rng: random.Random) -> list[bytes]:
    """Truncated at every length, with bytes left over, with bytes flipped, with a varint over 10 bytes."""
    out = [raw[:n] for n in range(len(raw))]
    out += [raw + b"\x00", raw + b"\x80", raw + b"garbage"]
    for _ in range(40):
        b = bytearray(raw)
        b[rng.randrange(5, len(b))] ^= 1 << rng.randrange(8)
        out.append(bytes(b))
    out.append(raw[:5] + b"\xff" * 10 + b"\x01" + raw[11:])
    out.append(raw[:5] + b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02" + raw[6:])   # beyond 64 bits
    return out


async def test_corrupt_records_are_the_same_bad_records_as_with_fastavro(sr: RegistryEmulator) -> None:
    fast, generic, sid = await pair(sr, ORDERS, "orders-value")
    rng = random.Random(11)
    good = [write(ORDERS, sid, random_record(ORDERS, rng)) for _ in range(5)]
    values: list[bytes | None] = []
    for raw in good:
        values += [raw, *corruptions(raw, rng)]
    want = outcome(generic, values)
    assert want[3], "no corrupt record was a bad record: the test proves nothing"
    assert outcome(fast, values) == want
    assert {stage for _, stage, _ in want[3]} == {"VALUE_CONVERTER"}
    # errors.tolerance=none: the same first bad record stops the route with the same error
    for run in (values, [good[0], good[1][:-3], good[2]]):
        raised = []
        for conv in (fast, generic):
            with pytest.raises(BadRecord) as info:
                Chunker(conv, JsonEncoder()).encode([Record("t", 0, k, v) for k, v in enumerate(run)], 0, len(run))
            raised.append((info.value.index, info.value.stage, message(info.value.error)))
        assert raised[0] == raised[1]
    assert raised[0][0] == 1 and "truncated or corrupt" in raised[0][2]

    tail = {"type": "record", "name": "tail", "fields": [{"name": "a", "type": "long"}, {"name": "s", "type": "string"},
                                                         {"name": "f", "type": {"type": "fixed", "name": "f2", "size": 2}}]}
    fast, generic, tid = await pair(sr, tail, "tail-value")
    raw = write(tail, tid, {"a": 5, "s": "hello", "f": b"xy"})
    cut = [raw[:n] for n in range(6, len(raw))]            # a string or fixed cut short: fastavro's EOFError
    assert_same_everywhere(fast, generic, [raw, *cut])
    assert len(outcome(generic, cut)[3]) == len(cut)

    union = {"type": "record", "name": "u", "fields": [{"name": "x", "type": ["null", "long"]},
                                                       {"name": "c", "type": {"type": "enum", "name": "E",
                                                                              "symbols": ["A", "B"]}}]}
    fast, generic, uid = await pair(sr, union, "u-value")
    bad_index = [confluent_encode(uid, bytes(p)) for p in ([4, 2, 0], [1, 0], [0, 4], [0, 1], [0, 0xFF])]
    assert_same_everywhere(fast, generic, [confluent_encode(uid, bytes([2, 2, 2])), *bad_index])


async def test_a_schema_the_compiler_does_not_cover_is_read_by_fastavro(sr: RegistryEmulator) -> None:
    linked = {"type": "record", "name": "Node", "fields": [
        {"name": "v", "type": "long"}, {"name": "next", "type": ["null", "Node"]}]}
    deep: Any = "long"
    for _ in range(12):                       # more nested loops than Python compiles in one function
        deep = {"type": "array", "items": deep}
    nested = {"type": "record", "name": "Deep", "fields": [{"name": "d", "type": deep}]}
    for schema, value in ((linked, {"v": 1, "next": {"v": 2, "next": None}}), (nested, {"d": [[[[[[[[[[[[7]]]]]]]]]]]]})):
        fast, generic, sid = await pair(sr, schema, f"{schema['name']}-value")
        assert sid not in fast.readers
        assert compile_reader(fast.schemas[sid], sid) is None
        raw = write(schema, sid, value)
        assert fast.decode(raw) == value
        assert_same_everywhere(fast, generic, [raw, raw[:-1], raw])


async def test_gate_tombstones_and_mixed_schema_ids_take_the_same_turns(sr: RegistryEmulator) -> None:
    fast, generic, sid = await pair(sr, ORDERS, "orders-value")
    top_null = ["null", {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}]
    fast2, generic2, sid2 = await pair(sr, top_null, "n-value")
    for conv, other in ((fast, fast2), (generic, generic2)):
        conv.schemas[sid2], conv.readers = other.schemas[sid2], {**conv.readers, **other.readers}
    assert sid2 in fast.readers
    rng = random.Random(5)
    orders = [write(ORDERS, sid, random_record(ORDERS, rng)) for _ in range(6)]
    values: list[bytes | None] = [orders[0], None, confluent_encode(sid2, b"\x00"), orders[1],
                                  confluent_encode(sid2, b"\x02\x06"), orders[2], orders[3],
                                  confluent_encode(999, b"\x00"), b"\x01junk", b"", orders[4], orders[5]]

    def gate(raw: bytes | None) -> None:
        if raw is not None and raw[1:5] == sid2.to_bytes(4, "big"):
            raise ConversionError("refused: the table cannot take schema n")

    assert_same_everywhere(fast, generic, values)
    assert outcome(fast, values, gate=gate) == outcome(generic, values, gate=gate)
    body, rows, tombs, bad = outcome(fast, values)
    assert (rows, tombs) == (7, 2) and [i for i, _, _ in bad] == [7, 8, 9]


def test_routes_with_transforms_take_each_value_through_decode() -> None:
    from sinkapp.converters.registry import SchemaRegistry
    from sinkapp.transforms import Chain

    conv = AvroConverter(SchemaRegistry("http://127.0.0.1:9"))
    assert Chunker(conv, JsonEncoder()).run is not None
    assert Chunker(conv, JsonEncoder(), chain=Chain([])).run is None
