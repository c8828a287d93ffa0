"""The columnar Avro lane (sinkapp.converters.avro_columnar) against fastavro, run for run.

Long runs (at least ``MIN_RUN`` records of one schema) of a plain schema are read by polars and written
as JSON in one call; the body must be byte for byte what fastavro's values give through orjson, and a
run the lane cannot read exactly (a corrupt record anywhere in it, NaN, an ``int`` beyond 32 bits) must
fall back to the record-by-record reader with the same rows, bad records and order. ``fast`` is a
converter as a worker has it; ``generic`` reads every record with fastavro (tests.test_avro_fast.pair).
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import AsyncIterator
from typing import Any

import fastavro
import orjson
import pytest
from sinkapp_testkit.registry import RegistryEmulator, confluent_encode

from sinkapp.converters.avro_columnar import MIN_RUN, columnar_reader
from sinkapp.errors import ConversionError
from sinkapp.streamload.encoding import CsvEncoder
from tests.fakes import Record
from tests.test_avro_fast import EVERY, ORDERS, corruptions, outcome, pair, random_record, write


@pytest.fixture
async def sr() -> AsyncIterator[RegistryEmulator]:
    async with RegistryEmulator() as emulator:
        yield emulator


PLAIN = {"type": "record", "name": "plain", "namespace": "t.v1", "fields": [
    {"name": "i", "type": "int"},
    {"name": "l", "type": "long"},
    {"name": "d", "type": "double"},
    {"name": "s", "type": "string"},
    {"name": "opt", "type": ["null", "string"]},
    {"name": "opt_last", "type": ["long", "null"]},
    {"name": "inner", "type": {"type": "record", "name": "In", "fields": [
        {"name": "a", "type": "long"}, {"name": "t", "type": ["null", "string"]}]}},
    {"name": "maybe", "type": ["null", {"type": "record", "name": "Mb", "fields": [
        {"name": "x", "type": "double"}, {"name": "y", "type": "string"}]}]},
]}


def finite(v: Any) -> Any:
    """The value with NaN and infinities replaced (a run with one of them is not the lane's)."""
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    return 0.5 if isinstance(v, float) and not math.isfinite(v) else v


def taken(conv: Any, values: list[bytes | None]) -> bool:
    """Whether the lane took the whole run from its first record."""
    records = [Record("t", 0, k, v) for k, v in enumerate(values)]
    m, text = conv.encode_run(records, 0, len(records), None)
    return text is not None and m == len(records)


async def test_datagen_orders_runs_are_taken_and_give_fastavro_s_body(sr: RegistryEmulator) -> None:
    fast, generic, sid = await pair(sr, ORDERS, "orders-value")
    assert sid in fast.columnar
    rng = random.Random(7)
    values: list[bytes | None] = [write(ORDERS, sid, finite(random_record(ORDERS, rng))) for _ in range(MIN_RUN + 500)]
    csv = CsvEncoder({"column_separator": ","})
    assert outcome(fast, values, csv) == outcome(generic, values, csv)
    assert not fast.columnar[sid].loaded                  # a CSV body never reaches the lane: polars not imported
    assert taken(fast, values) and fast.columnar[sid].loaded
    assert outcome(fast, values) == outcome(generic, values)
    assert not taken(fast, values[:MIN_RUN - 1])          # a short run stays on the compiled reader


async def test_every_plain_type_nullable_and_nested_gives_fastavro_s_body(sr: RegistryEmulator) -> None:
    fast, generic, sid = await pair(sr, PLAIN)
    assert sid in fast.columnar
    rng = random.Random(3)
    values: list[bytes | None] = [write(PLAIN, sid, finite(random_record(PLAIN, rng))) for _ in range(MIN_RUN + 100)]
    assert taken(fast, values)
    want = outcome(generic, values)
    assert outcome(fast, values) == want and want[1] == len(values)
    # NaN or an infinity in a run: orjson writes null, the lane leaves the run to the record reader
    values[MIN_RUN // 2] = write(PLAIN, sid, {**random_record(PLAIN, rng), "d": math.nan})
    assert not taken(fast, values)
    assert outcome(fast, values) == outcome(generic, values)


async def test_an_int_beyond_32_bits_is_read_as_fastavro_reads_it(sr: RegistryEmulator) -> None:
    schema = {"type": "record", "name": "ints", "fields": [{"name": "i", "type": "int"}]}
    fast, generic, sid = await pair(sr, schema, "ints-value")
    wide = fastavro.parse_schema({"type": "record", "name": "ints", "fields": [{"name": "i", "type": "long"}]})

    def raw(v: int) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, wide, {"i": v})
        return confluent_encode(sid, buf.getvalue())

    values: list[bytes | None] = [raw(v) for v in (2**31, -(2**31) - 1, 2**40, 7)] * (MIN_RUN // 4 + 1)
    assert taken(fast, values)
    body = outcome(fast, values)
    assert body == outcome(generic, values)
    assert orjson.loads(b"[" + body[0] + b"]")[:4] == [{"i": 2**31}, {"i": -(2**31) - 1}, {"i": 2**40}, {"i": 7}]


async def test_a_corrupt_record_anywhere_in_a_run_gives_the_same_bad_record_and_rows(sr: RegistryEmulator) -> None:
    fast, generic, sid = await pair(sr, ORDERS, "orders-value")
    rng = random.Random(11)
    good = [write(ORDERS, sid, finite(random_record(ORDERS, rng))) for _ in range(MIN_RUN + 50)]
    tried = 0
    for raw_i in (0, 17, MIN_RUN // 2, len(good) - 1):
        for bad in rng.sample(corruptions(good[raw_i] or b"", rng), 12):
            values: list[bytes | None] = list(good)
            values[raw_i] = bad
            assert outcome(fast, values) == outcome(generic, values), (raw_i, bad)
            tried += 1
    assert tried == 48


async def test_tombstones_another_schema_and_a_refusing_gate_keep_the_record_order(sr: RegistryEmulator) -> None:
    fast, generic, sid = await pair(sr, ORDERS, "orders-value")
    rng = random.Random(5)
    orders = [write(ORDERS, sid, finite(random_record(ORDERS, rng))) for _ in range(3 * MIN_RUN)]
    other = confluent_encode(999, b"\x00")
    values: list[bytes | None] = [*orders[:MIN_RUN + 3], None, other, *orders[MIN_RUN + 3:2 * MIN_RUN + 10], b"",
                                  *orders[2 * MIN_RUN + 10:]]
    refused = values[MIN_RUN + 700]

    def gate(raw: bytes | None) -> None:
        if raw is refused:
            raise ConversionError("refused: the table cannot take it")

    for g in (None, gate):
        want = outcome(generic, values, gate=g)
        assert outcome(fast, values, gate=g) == want
    body, rows, tombs, bad = want
    assert (tombs, [i for i, _, _ in bad]) == (1, [MIN_RUN + 4, MIN_RUN + 700, 2 * MIN_RUN + 12])
    ids = [r["orderid"] for r in orjson.loads(b"[" + body + b"]")]
    assert ids == [fastavro.schemaless_reader(io.BytesIO(v[5:]), fastavro.parse_schema(ORDERS), None)["orderid"]
                   for k, v in enumerate(values) if v and v is not other and v is not refused]


def test_schemas_the_lane_does_not_read_exactly_get_no_lane() -> None:
    def rec(t: Any) -> Any:
        return fastavro.parse_schema({"type": "record", "name": "r", "fields": [{"name": "f", "type": t}]})

    assert columnar_reader(fastavro.parse_schema(ORDERS)) is not None
    assert columnar_reader(rec(["null", "long"])) is not None
    for t in ("boolean", "float", "bytes", {"type": "enum", "name": "E", "symbols": ["A"]},
              {"type": "array", "items": "long"}, {"type": "map", "values": "long"},
              {"type": "fixed", "name": "F", "size": 2}, {"type": "long", "logicalType": "timestamp-millis"},
              ["null", "long", "string"], ["long", "string"]):
        assert columnar_reader(rec(t)) is None, t
    assert columnar_reader(fastavro.parse_schema(EVERY)) is None
    assert columnar_reader(fastavro.parse_schema(["null", "long"])) is None      # not a record at the top
