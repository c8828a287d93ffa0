"""Stream Load emulator, data path: DDL, CSV/JSON parsing, types, strict mode, filter ratio, PK upserts."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import lz4.frame
import pytest
from sinkapp_testkit.streamload import DdlError, StreamLoadEmulator, parse_ddl
from sinkapp_testkit.streamload.probe import stream_load

from sinkapp.errors import ConfigError

TYPES_DDL = """
-- every supported type
CREATE TABLE IF NOT EXISTS `typed` (
    `b`  BOOLEAN NULL COMMENT 'flag, with, commas',
    ti   tinyint,
    si   SMALLINT,
    i    INT NOT NULL,
    bi   BIGINT,
    li   LARGEINT,
    f    FLOAT,
    d    DOUBLE,
    dec  DECIMAL(6, 2),
    c    CHAR(3),
    vc   VARCHAR(5) DEFAULT 'dflt',
    s    STRING,
    dt   DATE,
    dtm  DATETIME,
    j    JSON
) ENGINE=OLAP
DUPLICATE KEY(`b`)
DISTRIBUTED BY HASH(i) BUCKETS 3
PROPERTIES ("replication_num" = "1");
CREATE TABLE users (id BIGINT NOT NULL, name VARCHAR(20), score INT, ts BIGINT)
PRIMARY KEY (id) DISTRIBUTED BY HASH(id);
CREATE TABLE plain (a INT, b STRING, c STRING);
"""


@pytest.fixture
async def emu() -> AsyncIterator[StreamLoadEmulator]:
    async with StreamLoadEmulator(ddl={"db1": TYPES_DDL}) as e:
        yield e


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def load(session, emu, table: str, body: bytes | str, **headers: str) -> dict:
    r = await stream_load(session, emu.fe_url, "db1", table, body, headers)
    assert r.status == 200
    return r.json


async def error_log(session, url: str) -> list[str]:
    async with session.get(url) as resp:
        assert resp.status == 200
        return (await resp.text()).splitlines()


def test_ddl_parsing_keys_types_and_errors():
    typed, users, plain = parse_ddl(TYPES_DDL)
    assert typed.name == "typed" and typed.keys_type == "DUPLICATE" and len(typed.columns) == 15
    dec = typed.columns[typed.index["dec"]]
    assert (dec.type, dec.precision, dec.scale) == ("DECIMAL", 6, 2)
    assert typed.columns[typed.index["vc"]].default == "dflt" and not typed.columns[typed.index["i"]].nullable
    assert users.keys_type == "PRIMARY" and users.key_columns == ("id",)
    assert plain.keys_type == "DUPLICATE" and plain.names == ["a", "b", "c"]
    with pytest.raises(DdlError, match=r"line 3: unsupported column type 'GEOMETRY'") as info:
        parse_ddl("CREATE TABLE t (\n  a INT,\n  g GEOMETRY\n)")
    assert isinstance(info.value, ConfigError)
    with pytest.raises(DdlError, match="key column 'zz'"):
        parse_ddl("CREATE TABLE t (a INT) PRIMARY KEY (zz)")
    with pytest.raises(DdlError, match="cannot read DDL file /nonexistent.sql"):
        StreamLoadEmulator(ddl={"db": "/nonexistent.sql"})
    with pytest.raises(DdlError, match="no CREATE TABLE"):
        StreamLoadEmulator(ddl={"db": "CREATE DATABASE x (;"})


async def test_every_type_converts(emu, session):
    row = ["true", "-7", "300", "42", "9000000000", str(2**100), "1.5", "2.25", "1234.5", "abc", "hello", "long",
           "2024-02-29", "2024-02-29 12:34:56.123", '{"k": [1, 2]}']
    r = await load(session, emu, "typed", "|".join(row) + "\n", column_separator="|")
    assert r["Status"] == "Success", r
    assert emu.rows("db1", "typed") == [{
        "b": True, "ti": -7, "si": 300, "i": 42, "bi": 9000000000, "li": 2**100, "f": 1.5, "d": 2.25,
        "dec": Decimal("1234.5"), "c": "abc", "vc": "hello", "s": "long", "dt": dt.date(2024, 2, 29),
        "dtm": dt.datetime(2024, 2, 29, 12, 34, 56, 123000), "j": {"k": [1, 2]}}]


async def test_conversion_failures_non_strict_null_strict_filtered(emu, session):
    body = "x,a,b\n1,\\N,c\n2000,,d\n"
    r = await load(session, emu, "plain", body, column_separator=",")
    assert (r["Status"], r["NumberLoadedRows"], r["NumberFilteredRows"]) == ("Success", 3, 0)
    assert emu.rows("db1", "plain") == [{"a": None, "b": "a", "c": "b"}, {"a": 1, "b": None, "c": "c"},
                                        {"a": 2000, "b": "", "c": "d"}]
    r = await load(session, emu, "plain", "x,a,b\n1,\\N,c\n", column_separator=",", strict_mode="true",
                   max_filter_ratio="0.5")
    assert (r["Status"], r["NumberLoadedRows"], r["NumberFilteredRows"]) == ("Success", 1, 1)
    assert "ErrorURL" in r and r["ErrorURL"].startswith(emu.be_urls[0] + "/api/_load_error_log?file=")
    assert await error_log(session, r["ErrorURL"]) == [
        "Error: convert csv string to INT failed. column: a, value: x. Row: x,a,b"]
    assert emu.count("db1", "plain") == 4     # genuine \N stays NULL in strict mode


async def test_filter_ratio_formula_and_error_url(emu, session):
    # 4 rows: 1 bad, 1 unselected by where -> ratio 1/3
    body = "1,a,x\n2,b,y\nbad,c,z\n4,d,w\n"
    common = {"column_separator": ",", "strict_mode": "true", "where": "a != 4"}
    r = await load(session, emu, "plain", body, **common, max_filter_ratio="0.3")
    assert (r["Status"], r["Message"]) == ("Fail", "too many filtered rows")
    assert (r["NumberTotalRows"], r["NumberFilteredRows"], r["NumberUnselectedRows"]) == (4, 1, 1)
    assert list(r)[-1] == "ErrorURL" and emu.count("db1", "plain") == 0
    r = await load(session, emu, "plain", body, **common, max_filter_ratio="0.34")
    assert (r["Status"], r["NumberLoadedRows"]) == ("Success", 2)
    assert [x["a"] for x in emu.rows("db1", "plain")] == [1, 2]
    # column count mismatch, NOT NULL, too-long strings are filtered with the documented reasons
    r = await load(session, emu, "typed", "true|1\n", column_separator="|", max_filter_ratio="1")
    lines = await error_log(session, r["ErrorURL"])
    assert lines == ["Error: Value count does not match column count. Expect 15, but got 2. Row: true|1"]
    r = await load(session, emu, "typed", json.dumps({"i": 1, "vc": "toolong"}), format="json")
    assert r["Message"] == "too many filtered rows"
    assert "the length of input is too long than schema" in (await error_log(session, r["ErrorURL"]))[0]
    r = await load(session, emu, "typed", json.dumps({"b": True}), format="json")
    assert "NULL value in non-nullable column 'i'" in (await error_log(session, r["ErrorURL"]))[0]
    r = await load(session, emu, "plain", "", format="csv")
    assert (r["Status"], r["Message"]) == ("Fail", "all partitions have no load data")


async def test_csv_separators_enclose_escape_skip_header_trim(emu, session):
    body = 'hdr1\x01hdr2\x01hdr3\r\n 1 \x01"x\x01, ""q"" \r\n"\x01 \\"e\\" \r\n'
    r = await load(session, emu, "plain", body, column_separator="\\x01", row_delimiter="0x0D0A",
                   skip_header="1", enclose='"', escape="\\", trim_space="true")
    assert r["Status"] == "Success" and r["NumberTotalRows"] == 1
    assert emu.rows("db1", "plain") == [{"a": 1, "b": 'x\x01, "q" \r\n', "c": '"e"'}]
    bad = await load(session, emu, "plain", "1,2,3\n", column_separator="\\x0")
    assert bad["Status"] == "Fail" and bad["Message"].startswith("Invalid delimiter")


async def test_csv_columns_mapping_and_defaults(emu, session):
    r = await load(session, emu, "typed", "x,5\n", column_separator=",", columns="tmp, i, b = 'true', s=tmp")
    assert r["Status"] == "Success"
    (row,) = emu.rows("db1", "typed")
    assert (row["i"], row["b"], row["s"], row["vc"], row["dt"]) == (5, True, "x", "dflt", None)


async def test_json_stream_root_paths_and_errors(emu, session):
    ndjson = '{"a": 1, "b": "x"}\n{"A": 2, "c": {"n": 1}}\n'
    r = await load(session, emu, "plain", ndjson, format="json")
    assert r["Status"] == "Success"
    assert emu.rows("db1", "plain") == [{"a": 1, "b": "x", "c": None}, {"a": 2, "b": None, "c": '{"n":1}'}]
    wrapped = {"RECORDS": [{"x": {"y": 3}, "z": "q"}]}
    r = await load(session, emu, "plain", json.dumps(wrapped), format="json", json_root="$.RECORDS",
                   strip_outer_array="true", jsonpaths='["$.x.y", "$.z"]', columns="a, c")
    assert r["Status"] == "Success" and emu.rows("db1", "plain")[-1] == {"a": 3, "b": None, "c": "q"}
    r = await load(session, emu, "plain", "[{\"a\": 1}]", format="json")
    assert r["Message"] == "too many filtered rows"
    assert "The value is array type in json document stream" in (await error_log(session, r["ErrorURL"]))[0]
    r = await load(session, emu, "plain", '{"a": 1}', format="json", strip_outer_array="true")
    assert "the value should be array type with strip_outer_array=true" in (
        await error_log(session, r["ErrorURL"]))[0]
    r = await load(session, emu, "plain", '{"a": 1}\n{"a": ', format="json", max_filter_ratio="1")
    assert (r["NumberLoadedRows"], r["NumberFilteredRows"]) == (1, 1)


async def test_compressed_json_gzip_and_lz4(emu, session):
    docs = json.dumps([{"a": i, "b": "z"} for i in range(5)]).encode()
    r = await load(session, emu, "plain", gzip.compress(docs), format="json", strip_outer_array="true",
                   compression="gzip")
    assert r["Status"] == "Success" and r["NumberLoadedRows"] == 5
    r = await load(session, emu, "plain", lz4.frame.compress(docs), format="json", strip_outer_array="true",
                   compression="LZ4_FRAME")
    assert r["NumberLoadedRows"] == 5 and emu.count("db1", "plain") == 10


async def test_primary_key_upsert_delete_partial_and_merge_condition(emu, session):
    await load(session, emu, "users", "1,ann,10,1\n2,bob,20,1\n3,cid,30,1\n", column_separator=",")
    r = await load(session, emu, "users", "1,ANN,11,2,0\n2,bob,20,2,1\n", column_separator=",",
                   columns="id, name, score, ts, temp, __op = temp")
    assert r["Status"] == "Success"
    assert emu.rows("db1", "users") == [{"id": 1, "name": "ANN", "score": 11, "ts": 2},
                                        {"id": 3, "name": "cid", "score": 30, "ts": 1}]
    await load(session, emu, "users", "3\n", columns="id, __op='delete'")
    await load(session, emu, "users", json.dumps({"id": 1, "__op": 1}), format="json")
    assert emu.count("db1", "users") == 0
    await load(session, emu, "users", "5,eve,50,5\n", column_separator=",")
    await load(session, emu, "users", "5,99\n", column_separator=",", columns="id, score", partial_update="true")
    await load(session, emu, "users", "5,old,0,4\n", column_separator=",", merge_condition="ts")
    assert emu.rows("db1", "users") == [{"id": 5, "name": "eve", "score": 99, "ts": 5}]
    r = await load(session, emu, "plain", "1\n", columns="a, __op='delete'")
    assert r["Status"] == "Fail" and "PRIMARY KEY" in r["Message"]


async def test_benchmark_mode_counts_without_storing(session):
    async with StreamLoadEmulator(ddl={"db1": TYPES_DDL}, store_rows=False) as emu:
        body = "".join(f"{i},{'n' * 20},{i},1\n" for i in range(40000))   # > 1 MiB: parsed off-loop
        assert len(body) > 1 << 20
        r = await load(session, emu, "users", body, column_separator=",")
        await load(session, emu, "users", "1,x,1,1\n", column_separator=",")
        assert r["NumberLoadedRows"] == 40000 and emu.count("db1", "users") == 40000
        await load(session, emu, "plain", "1,a,b\n2,c,d\n", column_separator=",")
        assert emu.count("db1", "plain") == 2
        assert emu.rows("db1", "users") == [] and emu.rows("db1", "plain") == []
