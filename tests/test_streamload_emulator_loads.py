"""Stream Load emulator: what StarRocks' own R files showed it doing differently (issue 22; MYSQL.md
"Conformance"): JSON doubles into integer columns, merge_condition refusals, partial updates and sort
keys, columns the load leaves out, the columns header, envelope: debezium, malformed JSON read on
demand, nested types, and the transaction interface after failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sinkapp_testkit.streamload import StreamLoadEmulator
from sinkapp_testkit.streamload.probe import put, stream_load

DDL = """
CREATE TABLE nums (k INT, d BIGINT, f INT) DUPLICATE KEY(k);
CREATE TABLE pk (k1 INT NOT NULL, k2 VARCHAR(10) NOT NULL, v1 INT, v2 INT, v3 VARCHAR(10))
  PRIMARY KEY (k1, k2) DISTRIBUTED BY HASH(k1);
CREATE TABLE sorted (k INT NOT NULL, s INT, v INT) PRIMARY KEY (k) DISTRIBUTED BY HASH(k) ORDER BY (s);
CREATE TABLE keysort (k INT NOT NULL, v INT, w INT) PRIMARY KEY (k) DISTRIBUTED BY HASH(k) ORDER BY (k);
CREATE TABLE strict_t (id INT, name VARCHAR(10), req BIGINT NOT NULL) DUPLICATE KEY(id);
CREATE TABLE stamped (c0 INT NOT NULL, `created at` DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP) DUPLICATE KEY(c0);
CREATE TABLE cdc (id INT NOT NULL, name VARCHAR(20), age INT) PRIMARY KEY (id);
CREATE TABLE nested (id INT, a ARRAY<INT>, m MAP<VARCHAR(10), INT>, s STRUCT<x INT, y VARCHAR(5)>, j JSON)
  DUPLICATE KEY(id);
"""


@pytest.fixture
async def emu() -> AsyncIterator[StreamLoadEmulator]:
    async with StreamLoadEmulator(ddl={"db": DDL}) as e:
        yield e


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def load(session, emu, table: str, body: str, **headers: str) -> dict:
    r = await stream_load(session, emu.fe_url, "db", table, body, headers)
    assert r.status == 200, r.text
    return r.json


async def test_json_doubles_into_integer_columns_truncate_or_overflow_to_null(emu, session):
    rows = [{"k": 1, "d": 9223372036854775000.0, "f": 2147483647.3}, {"k": 2, "d": 9223372036854775807.0,
             "f": -2147483648.9}, {"k": 3, "d": -9223372036854775809.0, "f": 2147483648.0}]
    body = "\n".join(json.dumps(r) for r in rows)
    assert (await load(session, emu, "nums", body, format="json"))["NumberLoadedRows"] == 3
    got = sorted(emu.rows("db", "nums"), key=lambda r: r["k"])
    assert [(r["d"], r["f"]) for r in got] == [(9223372036854774784, 2147483647), (None, -2147483648),
                                               (-9223372036854775808, None)]
    strict = await load(session, emu, "nums", '{"k": 4, "d": 1, "f": 2147483648.5}', format="json",
                        strict_mode="true")
    assert strict["Status"] == "Fail" and strict["NumberFilteredRows"] == 1     # out of range: filtered


async def test_merge_condition_refusals_and_where_it_applies(emu, session):
    base = {"column_separator": ","}
    r = await load(session, emu, "pk", "1,a,5,5,x\n", merge_condition="k1", **base)
    assert (r["Status"], r["Message"]) == ("Fail", "Merge condition column k1 should not be primary key!")
    missing = ("Merge condition column {} does not exist. If you are doing partial update with condition update, "
               "please check condition column is in the given update columns. Otherwise please check condition "
               "column is in table pk")
    r = await load(session, emu, "pk", "1,a,5,5,x\n", merge_condition="nope", **base)
    assert r["Message"] == missing.format("nope")
    r = await load(session, emu, "pk", "1,a,5\n", merge_condition="v2", partial_update="true", columns="k1,k2,v1",
                   **base)
    assert r["Message"] == missing.format("v2")
    assert (await load(session, emu, "pk", "1,a,5,5,x\n", merge_condition="v1", **base))["Status"] == "Success"
    await load(session, emu, "pk", "1,a,4\n", merge_condition="v1", partial_update="true", columns="k1,k2,v1",
               **base)                                                          # 4 < 5: row mode keeps 5
    assert emu.rows("db", "pk")[0]["v1"] == 5
    await load(session, emu, "pk", "1,a,\\N,9,y\n", merge_condition="v1", **base)   # NULL loses in row mode
    assert emu.rows("db", "pk")[0]["v3"] == "x"
    await load(session, emu, "pk", "1,a,3\n", merge_condition="v1", partial_update="true", columns="k1,k2,v1",
               partial_update_mode="column", **base)                           # column mode loads regardless
    assert emu.rows("db", "pk")[0]["v1"] == 3


async def test_partial_updates_and_a_sort_key_that_is_not_the_key(emu, session):
    base = {"column_separator": ",", "partial_update": "true"}
    refused = "table with sort key do not support partial update"
    r = await load(session, emu, "sorted", "1,2\n", columns="k,s", partial_update_mode="column", **base)
    assert (r["Status"], r["Message"]) == ("Fail", refused)           # column mode: sort key has a non-key column
    r = await load(session, emu, "sorted", "1,2\n", columns="k,v", **base)
    assert r["Message"] == refused                                    # row mode: the sort key column is missing
    assert (await load(session, emu, "sorted", "1,2\n", columns="k,s", **base))["Status"] == "Success"
    r = await load(session, emu, "keysort", "1,2\n", columns="k,v", partial_update_mode="column", **base)
    assert r["Status"] == "Success" and emu.rows("db", "keysort") == [{"k": 1, "v": 2, "w": None}]
    r = await load(session, emu, "sorted", "1,2\n", columns="k,s", partial_update_mode="Column", **base)
    assert r["Status"] == "Success"                 # exact and case-sensitive: "Column" is row mode (spec §2)


async def test_a_load_leaving_out_a_not_null_column_without_default_fails_at_planning(emu, session):
    r = await load(session, emu, "strict_t", "1,alice\n", column_separator=",", columns="id,name")
    assert (r["Status"], r["Message"]) == ("Fail", "Column has no default value. column: req")


async def test_columns_header_with_backquoted_names_and_now(emu, session):
    r = await load(session, emu, "stamped", "7", columns="`c0`, `created at` = now()")
    assert r["Status"] == "Success"
    row = emu.rows("db", "stamped")[0]
    assert row["c0"] == 7 and row["created at"].year >= 2024
    await load(session, emu, "stamped", "8", columns="c0")              # left out: DEFAULT CURRENT_TIMESTAMP
    assert all(r["created at"] is not None for r in emu.rows("db", "stamped"))
    r = await load(session, emu, "stamped", "9,x", columns="c0, tmp, `created at` = str_to_date(tmp, '%Y')",
                   column_separator=",")
    assert r["Message"].startswith("emulator: unsupported expression in columns header: \"STR_TO_DATE")


def event(op: str, before: dict | None = None, after: dict | None = None, payload: bool = True) -> str:
    e = {"before": before, "after": after, "op": op, "source": {"table": "cdc"}}
    return json.dumps({"schema": None, "payload": e} if payload else e)


async def test_envelope_debezium_ops_tombstones_jsonpaths_and_bad_events(emu, session):
    dbz = {"format": "json", "envelope": "debezium"}
    body = " ".join([event("c", after={"id": 1, "name": "a", "age": 1}), "null", '{"payload": null}',
                     event("r", after={"id": 2, "name": "b", "age": 2}, payload=False),
                     event("u", {"id": 1}, {"id": 1, "name": "a2", "age": 10}),
                     event("c", after={"id": 3, "name": "c", "age": 3}), event("d", before={"id": 3})])
    r = await load(session, emu, "cdc", body, **dbz)
    assert (r["Status"], r["NumberTotalRows"], r["NumberLoadedRows"]) == ("Success", 5, 5)
    assert sorted((x["id"], x["name"], x["age"]) for x in emu.rows("db", "cdc")) == [(1, "a2", 10), (2, "b", 2)]
    r = await load(session, emu, "cdc", event("c", after={"id": 4, "name": "d", "age": 4}), jsonpaths='["$.id"]',
                   **dbz)
    assert r["Status"] == "Success" and {"id": 4, "name": None, "age": None} in emu.rows("db", "cdc")
    for bad, reason in ((json.dumps({"payload": {"after": {"id": 9}}}), "Debezium event without an op field"),
                        (event("x", after={"id": 9}), "Unknown Debezium op: x"),
                        (event("c"), "Debezium event with op 'c' has no after row"),
                        (event("d"), "Debezium event with op 'd' has no before row")):
        r = await load(session, emu, "cdc", bad, **dbz)
        assert (r["Status"], r["Message"]) == ("Fail", "too many filtered rows")
        async with session.get(r["ErrorURL"]) as resp:
            assert (await resp.text()).startswith(f"Error: {reason}. Row: ")
    r = await load(session, emu, "nums", event("c", after={"k": 1}), **dbz)
    assert r["Message"].startswith("emulator: envelope: debezium into a DUPLICATE KEY table is not supported")
    r = await load(session, emu, "cdc", f"[{event('c', after={'id': 5})}]", strip_outer_array="true", **dbz)
    assert r["Message"] == "envelope: debezium cannot be combined with json_root or strip_outer_array"


async def test_malformed_json_is_read_on_demand_as_starrocks_reads_it(emu, session):
    bad_escape = '{"id": 1, "name": "a\\sb", "age": 5}'              # \s: a bad value, the rest loads
    r = await load(session, emu, "cdc", bad_escape, format="json")
    assert r["Status"] == "Success" and emu.rows("db", "cdc") == [{"id": 1, "name": None, "age": 5}]
    broken = '[{"id": 2, "age": 2}, {"id": 3, "name": {"a": "1" "b": 2}, "age": 3}, {"id": 4}]'
    r = await load(session, emu, "cdc", broken, format="json", strip_outer_array="true")
    assert (r["Status"], r["NumberTotalRows"], r["NumberFilteredRows"]) == ("Success", 2, 0)
    assert sorted(x["id"] for x in emu.rows("db", "cdc")) == [1, 2, 3]     # the row after the error is not read
    assert {"id": 3, "name": None, "age": None} in emu.rows("db", "cdc")
    r = await load(session, emu, "cdc", '{"id": 5, "name": ', format="json", max_filter_ratio="1")
    assert (r["NumberTotalRows"], r["NumberFilteredRows"]) == (1, 1)        # truncated: a document error


async def test_nested_columns_from_json_and_csv(emu, session):
    row = {"id": 1, "a": [1, "2", None], "m": {"x": 1}, "s": {"x": 1, "y": "z"}, "j": {"k": [1, 2]}}
    assert (await load(session, emu, "nested", json.dumps(row), format="json"))["Status"] == "Success"
    r = await load(session, emu, "nested", json.dumps({"id": 2, "a": "[1]", "m": {"x": "no"}}), format="json")
    assert r["Status"] == "Success"                                     # a string is no array, "no" no INT
    await load(session, emu, "nested", '3\t[4,5]\t{"k":6}\t{"x":7,"y":"w"}\t[]\n')
    got = {r["id"]: r for r in emu.rows("db", "nested")}
    assert (got[1]["a"], got[1]["m"], got[1]["s"], got[1]["j"]) == ([1, 2, None], {"x": 1}, {"x": 1, "y": "z"},
                                                                    {"k": [1, 2]})
    assert (got[2]["a"], got[2]["m"]) == (None, None)
    assert (got[3]["a"], got[3]["m"], got[3]["s"]) == ([4, 5], {"k": 6}, {"x": 7, "y": "w"})


async def txn(session, emu, op: str, label: str, body: str = "", **headers: str) -> dict:
    hdrs = {"label": label, "db": "db", "table": "strict_t", "column_separator": ",", **headers}
    r = await put(session, f"{emu.fe_url}/api/transaction/{op}", body.encode(), hdrs,
                  method="PUT" if op == "load" else "POST")
    return r.json


async def test_transaction_after_a_failed_load_a_rollback_or_a_commit(emu, session):
    assert (await txn(session, emu, "begin", "f"))["Status"] == "OK"
    r = await txn(session, emu, "load", "f", "1,alice", columns="id,name")
    assert (r["Status"], r["Message"]) == ("ANALYSIS_ERROR", "Column has no default value. column: req")
    assert emu.label_state("db", "f") == "ABORTED"
    assert (await txn(session, emu, "load", "f", "2,bob,100"))["Status"] == "TXN_NOT_EXISTS"
    assert (await txn(session, emu, "commit", "f"))["Status"] == "FAILED"
    assert (await txn(session, emu, "rollback", "f"))["Status"] == "OK"
    for label, end, then in (("c", "commit", "FAILED"), ("r", "rollback", "FAILED")):
        await txn(session, emu, "begin", label)
        await txn(session, emu, "load", label, "1,a,1")
        assert (await txn(session, emu, end, label))["Status"] == "OK"
        assert (await txn(session, emu, "load", label, "2,b,2"))["Status"] == "TXN_NOT_EXISTS"
        assert (await txn(session, emu, "rollback" if end == "commit" else "commit", label))["Status"] == then
    assert (await txn(session, emu, "begin", "c"))["Status"] == "LABEL_ALREADY_EXISTS"
    assert (await txn(session, emu, "begin", "r"))["Status"] == "OK"          # a rolled-back label is free
    r = await put(session, f"{emu.be_urls[0]}/api/transaction/begin", b"",
                  {"label": "m", "db": "db", "table": "strict_t", "transaction_type": "multi"}, method="POST")
    assert r.json == {"Status": "INVALID_ARGUMENT",
                      "Message": "Multi-statement transaction requests can only be sent to FE nodes, not BE nodes"}
    r = await put(session, f"{emu.fe_url}/api/transaction/begin", b"",
                  {"label": "m", "db": "db", "table": "strict_t", "transaction_type": "multi"}, method="POST")
    assert r.json["Status"] == "FAILED" and r.json["Message"].startswith("emulator: multi-statement")
