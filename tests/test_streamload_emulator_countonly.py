"""Stream Load emulator, count-only mode (rows counted without parsing) and the timeline endpoint."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from sinkapp_testkit.demo import datagen_order
from sinkapp_testkit.streamload import StreamLoadEmulator
from sinkapp_testkit.streamload.cli import build_parser
from sinkapp_testkit.streamload.countonly import count_csv, count_json_array
from sinkapp_testkit.streamload.params import parse_params
from sinkapp_testkit.streamload.parse import read_csv
from sinkapp_testkit.streamload.probe import put, stream_load

from tests.workers import fixture_path

ROOT = Path(__file__).resolve().parents[1]
TEST123 = fixture_path("test123.sql")
JSONPATHS = json.dumps(["$.ordertime", "$.orderid", "$.itemid", "$.orderunits", "$.address.city",
                        "$.address.state", "$.address.zipcode"])
JSON_HDRS = {"format": "json", "strip_outer_array": "true", "jsonpaths": JSONPATHS}
CSV_HDRS = {"format": "csv", "column_separator": "\\x01", "row_delimiter": "\\x02",
            "columns": "ordertime,orderid,itemid,orderunits,city,state,zipcode"}
PK_DDL = "CREATE TABLE kv (k INT NOT NULL, v STRING) PRIMARY KEY (k);"


@pytest.fixture
async def emu() -> AsyncIterator[StreamLoadEmulator]:
    async with StreamLoadEmulator(password="pw", ddl={"test": [TEST123, PK_DDL]}, n_be=2, count_only=True) as e:
        yield e


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def orders_json(n: int, start: int = 0) -> bytes:
    rng = random.Random(start)
    return b"[" + b",".join(orjson.dumps(datagen_order(start + i, rng)) for i in range(n)) + b"]"


def orders_csv(n: int, sep: bytes = b"\x01", delim: bytes = b"\x02") -> bytes:
    return b"".join(sep.join([b"1497014222380", b"%d" % i, b"Item_1", b"5.5", b"City_1", b"State 2", b"123"])
                    + delim for i in range(n))


async def admin_get(session: aiohttp.ClientSession, emu: StreamLoadEmulator, path: str) -> object:
    async with session.get(f"{emu.admin_url}{path}") as r:
        assert r.status == 200, await r.text()
        return json.loads(await r.text())


async def sl(session: aiohttp.ClientSession, emu: StreamLoadEmulator, body: bytes, headers: dict[str, str],
             table: str = "test123", password: str = "pw") -> dict:
    r = await stream_load(session, emu.fe_url, "test", table, body, headers, password=password)
    assert r.status == 200 and r.redirected_to is not None, r.text   # FE 307 -> BE, auth re-sent
    return r.json


async def test_json_array_counted_through_fe_redirect(emu, session):
    r = await sl(session, emu, orders_json(1000), {**JSON_HDRS, "label": "j1"})
    assert (r["Status"], r["NumberTotalRows"], r["NumberLoadedRows"], r["NumberFilteredRows"]) == (
        "Success", 1000, 1000, 0)
    r = await sl(session, emu, orders_json(7, 1000), {**JSON_HDRS, "label": "j2"})
    assert r["NumberLoadedRows"] == 7
    assert await admin_get(session, emu, "/_emulator/count?db=test&table=test123") == {"count": 1007}
    assert emu.rows("test", "test123") == []        # nothing stored: counted only


async def test_csv_with_hex_delimiters_is_counted(emu, session):
    r = await sl(session, emu, orders_csv(250), {**CSV_HDRS, "label": "c1"})
    assert (r["Status"], r["NumberLoadedRows"]) == ("Success", 250)
    body = orders_csv(3) + b"\x02" + orders_csv(2).rstrip(b"\x02")   # an empty line, no final delimiter
    r = await sl(session, emu, body, {**CSV_HDRS, "label": "c2"})
    assert r["NumberLoadedRows"] == 5
    r = await sl(session, emu, b"h1\nh2\n" + orders_csv(4, b",", b"\n"),
                 {"format": "csv", "column_separator": ",", "skip_header": "2", "label": "c3"})
    assert r["NumberLoadedRows"] == 4
    assert emu.count("test", "test123") == 259


async def test_duplicate_label_is_not_counted_twice(emu, session):
    body = orders_json(100)
    assert (await sl(session, emu, body, {**JSON_HDRS, "label": "dup"}))["Status"] == "Success"
    r = await sl(session, emu, body, {**JSON_HDRS, "label": "dup"})
    assert (r["Status"], r["ExistingJobStatus"], r["NumberLoadedRows"]) == ("Label Already Exists", "FINISHED", 0)
    assert emu.count("test", "test123") == 100
    assert emu.label_state("test", "dup") == "VISIBLE"
    bad = await put(session, f"{emu.fe_url}/api/test/test123/_stream_load", body, {**JSON_HDRS, "label": "dup2"},
                    password="wrong")
    assert bad.status == 401                                  # the FE refuses before any redirect
    bad = await put(session, f"{emu.be_urls[0]}/api/test/test123/_stream_load", body,
                    {**JSON_HDRS, "label": "dup2"}, password="wrong")
    assert bad.json["Status"] == "Fail" and bad.json["Message"].startswith("Access denied")
    assert emu.count("test", "test123") == 100 and emu.label_state("test", "dup2") == "UNKNOWN"


async def test_transaction_load_is_counted_at_commit(emu, session):
    async def txn(op: str, body: bytes = b"", **headers: str) -> dict:
        hdrs = {"label": "tx1", "db": "test", "table": "test123", **headers}
        r = await put(session, f"{emu.fe_url}/api/transaction/{op}", body, hdrs, password="pw",
                      method="PUT" if op == "load" else "POST")
        return r.json
    assert (await txn("begin"))["Status"] == "OK"
    assert (await txn("load", orders_csv(30), **CSV_HDRS))["Status"] == "OK"
    assert (await txn("load", orders_csv(12), **CSV_HDRS))["Status"] == "OK"
    assert emu.count("test", "test123") == 0
    r = await txn("prepare")
    assert (r["Status"], r["NumberLoadedRows"]) == ("OK", 42)
    assert (await txn("commit"))["Status"] == "OK"
    assert (await txn("commit"))["Message"].endswith("has already committed")
    assert emu.count("test", "test123") == 42
    assert (await txn("begin"))["Status"] == "LABEL_ALREADY_EXISTS"
    assert emu.count("test", "test123") == 42


async def test_timeline_has_one_point_per_committed_load(emu, session):
    t0 = time.time()
    for i, n in enumerate((10, 20, 5)):
        await sl(session, emu, orders_json(n, i * 100), {**JSON_HDRS, "label": f"tl{i}"})
    await sl(session, emu, orders_json(10), {**JSON_HDRS, "label": "tl0"})       # duplicate: no point
    points = await admin_get(session, emu, "/_emulator/timeline?db=test&table=test123")
    assert [p[1] for p in points] == [10, 30, 35]
    assert t0 <= points[0][0] <= points[1][0] <= points[2][0] <= time.time()
    later = await admin_get(session, emu, f"/_emulator/timeline?db=test&table=test123&since={points[2][0]}")
    assert later == [points[2]]
    async with session.get(f"{emu.admin_url}/_emulator/timeline?db=test&table=nope") as r:
        assert r.status == 404
    async with session.post(f"{emu.admin_url}/_emulator/truncate?db=test&table=test123") as r:
        assert r.status == 200
    assert emu.timeline("test", "test123") == [] and emu.count("test", "test123") == 0


async def test_shapes_it_cannot_count_are_parsed_as_in_normal_mode(emu, session):
    # a non-object element: parsed, so it is filtered exactly as in normal mode
    r = await sl(session, emu, b'[{"orderid": 1}, 5]', {"format": "json", "strip_outer_array": "true",
                                                         "max_filter_ratio": "0.5", "label": "f1"})
    assert (r["Status"], r["NumberLoadedRows"], r["NumberFilteredRows"]) == ("Success", 1, 1)
    r = await sl(session, emu, b'{"orderid": 1}\n{"orderid": 2}\n', {"format": "json", "label": "f2"})
    assert r["NumberLoadedRows"] == 2                           # document stream
    r = await sl(session, emu, b"1,a\n2,b\n1,c\n", {"format": "csv", "column_separator": ",", "label": "k1"},
                 table="kv")
    assert r["NumberLoadedRows"] == 3 and emu.count("test", "kv") == 2    # PRIMARY KEY: upserts by key
    assert emu.count("test", "test123") == 3


@pytest.mark.parametrize("seed", range(5))
def test_json_count_equals_a_full_parse(seed):
    rng = random.Random(seed)
    alphabet = ['"', "\\", "{", "}", "[", "]", ",", ":", " ", "a", "é", "},{", '\\"', "\n"]

    def value(depth: int) -> object:
        kind = rng.randrange(7 if depth < 3 else 4)
        if kind == 0:
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
        if kind == 1:
            return rng.choice([None, True, False, 1.5, -3, 2**60])
        if kind in (2, 3):
            return rng.randrange(1000)
        if kind in (4, 5):
            return {f"k{i}{rng.choice(alphabet)}": value(depth + 1)
                    for i in range(rng.randrange(4))}
        return [value(depth + 1) for _ in range(rng.randrange(4))]

    for _ in range(40):
        rows = [{f"c{j}": value(1) for j in range(rng.randrange(5))} for _ in range(rng.randrange(1, 30))]
        body = orjson.dumps(rows, option=orjson.OPT_INDENT_2 if rng.random() < 0.3 else None)
        assert count_json_array(body) == len(rows), body
        mixed = rows + [value(0)]
        expect = len(mixed) if isinstance(mixed[-1], dict) else None
        assert count_json_array(orjson.dumps(mixed)) == expect
    assert count_json_array(b"[]") == 0 and count_json_array(b" [ ] ") == 0
    assert count_json_array(b'{"a": 1}') is None and count_json_array(b"[{}") is None


@pytest.mark.parametrize("seed", range(3))
def test_csv_count_equals_a_full_parse(seed):
    rng = random.Random(seed)
    for _ in range(200):
        delim = rng.choice(["\n", "\r\n", "\\x02", "aa", "aba", "|"])
        sep = rng.choice([",", "\t", "\\x01"])
        hdrs = {"format": "csv", "column_separator": sep, "row_delimiter": delim}
        if rng.random() < 0.3:
            hdrs["skip_header"] = str(rng.randrange(3))
        p = parse_params(hdrs, json_max_bytes=1 << 30, max_body_bytes=1 << 40, content_length=None)
        d = p.row_delimiter
        text = "".join(rng.choice(["x", "y", "a", "b", ",", d, d]) for _ in range(rng.randrange(40)))
        assert count_csv(text.encode(), p) == len(list(read_csv(text, p))), (text, delim)


def test_cli_count_only_over_http(tmp_path):
    assert build_parser().parse_args(["--count-only"]).count_only is True
    proc = subprocess.Popen([sys.executable, "-m", "sinkapp_testkit.streamload", "--fe-port", "0", "--be-port", "0",
                             "--count-only", "--database", "test", "--ddl", str(TEST123)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        fe = proc.stdout.readline().strip()
        assert fe.startswith("http://")

        async def run() -> tuple[dict, object, object]:
            async with aiohttp.ClientSession() as s:
                r = await stream_load(s, fe, "test", "test123", orders_json(500), {**JSON_HDRS, "label": "cli1"})
                async with s.get(f"{fe}/_emulator/count?db=test&table=test123") as c:
                    count = json.loads(await c.text())
                async with s.get(f"{fe}/_emulator/timeline?db=test&table=test123") as t:
                    timeline = json.loads(await t.text())
                return r.json, count, timeline
        reply, count, timeline = asyncio.run(run())
        assert reply["NumberLoadedRows"] == 500 and count == {"count": 500}
        assert isinstance(timeline, list) and [p[1] for p in timeline] == [500]
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
