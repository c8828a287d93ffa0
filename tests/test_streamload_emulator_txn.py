"""Stream Load emulator, transaction interface (§5) and the CLI."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sinkapp_testkit.streamload import StreamLoadEmulator
from sinkapp_testkit.streamload.cli import build_parser
from sinkapp_testkit.streamload.probe import put

from tests.workers import fixture_path

DDL = "CREATE TABLE kv (k INT NOT NULL, v STRING) PRIMARY KEY (k);"


@pytest.fixture
async def emu() -> AsyncIterator[StreamLoadEmulator]:
    async with StreamLoadEmulator(ddl={"test": DDL}, n_be=2) as e:
        yield e


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def txn(session, base: str, op: str, label: str, body: str = "", **headers: str):
    hdrs = {"label": label, "db": "test", "table": "kv", **headers}
    method = "PUT" if op == "load" else "POST"
    r = await put(session, f"{base}/api/transaction/{op}", body.encode(), hdrs, method=method)
    return r


async def test_happy_path_through_fe_with_sticky_routing(emu, session):
    begin = await txn(session, emu.fe_url, "begin", "t1")
    assert begin.redirected_to is not None
    be = begin.redirected_to.split("/api")[0]
    assert begin.json["Status"] == "OK" and begin.json["Label"] == "t1" and begin.json["TxnId"] > 0
    assert list(begin.json)[:3] == ["Status", "Message", "Label"]
    for body in ("1,a\n", "2,b\n"):
        r = await txn(session, emu.fe_url, "load", "t1", body, column_separator=",")
        assert r.json["Status"] == "OK" and r.redirected_to.startswith(be)
    assert emu.label_state("test", "t1") == "PREPARE" and emu.count("test", "kv") == 0
    r = await txn(session, emu.fe_url, "prepare", "t1")
    assert r.json["Status"] == "OK" and r.json["NumberLoadedRows"] == 2
    assert emu.label_state("test", "t1") == "PREPARED"
    r = await txn(session, emu.fe_url, "commit", "t1")   # PREPARED: the FE commits itself
    assert r.redirected_to is None and r.json == {"Status": "OK", "Message": "", "Label": "t1"}
    assert emu.label_state("test", "t1") == "VISIBLE" and emu.count("test", "kv") == 2
    r = await txn(session, emu.fe_url, "commit", "t1")
    assert r.json["Message"].startswith("label t1 transaction ") and r.json["Message"].endswith("has already committed")
    r = await txn(session, emu.fe_url, "rollback", "t1")
    assert r.json["Status"] == "FAILED" and r.json["Message"].startswith("cannot abort committed transaction")


async def test_commit_from_prepare_on_be_and_rollback(emu, session):
    be = emu.be_urls[0]
    await txn(session, be, "begin", "t2")
    await txn(session, be, "load", "t2", '{"k": 5, "v": "x"}', format="json")
    r = await txn(session, be, "commit", "t2")
    assert r.json["Status"] == "OK" and r.json["NumberLoadedRows"] == 1 and emu.count("test", "kv") == 1
    await txn(session, be, "begin", "t3")
    await txn(session, be, "load", "t3", "6,y\n", column_separator=",")
    assert (await txn(session, be, "rollback", "t3")).json == {"Status": "OK", "Message": "", "Label": "t3"}
    assert emu.label_state("test", "t3") == "ABORTED" and emu.count("test", "kv") == 1
    r = await txn(session, be, "load", "t3", "6,y\n")       # the BE dropped the context (R test_stream_load_basic_txn)
    assert r.json == {"Status": "TXN_NOT_EXISTS", "Message": "Transaction with label t3 not exists"}


async def test_error_table(emu, session):
    be = emu.be_urls[0]
    assert (await txn(session, be, "begin", "")).json == {"Status": "INVALID_ARGUMENT", "Message": "empty label"}
    assert (await txn(session, be, "load", "")).json["Message"] == "Invalid label "
    r = await txn(session, be, "commit", "ghost")
    assert r.json == {"Status": "TXN_NOT_EXISTS", "Message": "transaction with label ghost not exists"}
    r = await txn(session, be, "load", "ghost", "1,a\n")
    assert r.json["Message"] == "Transaction with label ghost not exists"
    await txn(session, be, "begin", "t4")
    assert (await txn(session, be, "begin", "t4")).json == {"Status": "LABEL_ALREADY_EXISTS", "Message": ""}
    r = await txn(session, be, "prepare", "t4")
    assert (r.json["Status"], r.json["Message"]) == ("INTERNAL_ERROR", "transaction with label t4 hasn't send any data yet")
    r = await txn(session, be, "load", "t4", "1,a\n", table="other")
    assert r.json["Message"] == "Request table other not equal transaction table kv"
    r = await txn(session, be, "prepare", "t4", prepared_timeout="x")
    assert r.json == {"Status": "INVALID_ARGUMENT", "Message": "Invalid prepared_timeout: x"}
    await txn(session, be, "load", "t4", "1,a\n", column_separator=",")
    await txn(session, be, "commit", "t4")
    r = await txn(session, be, "begin", "t4")
    assert (r.json["Status"], r.json["ExistingJobStatus"]) == ("LABEL_ALREADY_EXISTS", "FINISHED")
    assert r.json["Message"] == "Label [t4] has already been used."
    r = await txn(session, emu.fe_url, "load", "never-begun", "1,a\n")
    assert r.json == {"Status": "FAILED", "Message": "class com.starrocks.common.UserException: transaction with "
                                                     "op load label never-begun has no node"}
    assert (await txn(session, emu.fe_url, "begin", "", )).json == {"Status": "FAILED", "Message": "empty label."}


async def test_too_many_filtered_at_prepare_and_idle_timeout(emu, session):
    be = emu.be_urls[1]
    await txn(session, be, "begin", "t5")
    await txn(session, be, "load", "t5", "x,a\n", column_separator=",", strict_mode="true")
    r = await txn(session, be, "prepare", "t5")
    assert (r.json["Status"], r.json["Message"]) == ("INTERNAL_ERROR", "too many filtered rows")
    assert emu.label_state("test", "t5") == "ABORTED"
    await txn(session, be, "begin", "t6", idle_transaction_timeout="1")
    emu.cluster.labels.get("test", "t6").last_active_s -= 2      # age it instead of sleeping
    r = await txn(session, be, "load", "t6", "1,a\n")
    assert (r.json["Status"], r.json["Message"]) == ("ABORTED", "current transaction is aborted")
    assert emu.cluster.labels.get("test", "t6").reason == "transaction is aborted by idle timeout 1 seconds."


def test_cli_parser_and_module_entry_point(tmp_path):
    args = build_parser().parse_args(["--fe-port", "0", "--be-port", "0", "--ddl", "a.sql", "--ddl", "b.sql",
                                      "--bes", "2", "--no-store", "--password", ""])
    assert (args.fe_port, args.ddl, args.bes, args.no_store, args.database) == (0, ["a.sql", "b.sql"], 2, True, "test")
    proc = subprocess.Popen([sys.executable, "-m", "sinkapp_testkit.streamload", "--fe-port", "0", "--be-port", "0",
                             "--database", "test", "--ddl", str(fixture_path("test123.sql"))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        fe_url = proc.stdout.readline().strip()
        assert fe_url.startswith("http://127.0.0.1:")
        body = json.dumps([{"orderid": 1, "address": {"city": "c"}}])
        deadline = time.monotonic() + 10
        out = subprocess.run(["curl", "-sS", "--location-trusted", "-u", "root:", "-H", "Expect:100-continue",
                              "-H", "format:json", "-H", "strip_outer_array:true", "-H",
                              'jsonpaths:["$.ordertime","$.orderid","$.itemid","$.orderunits","$.address.city"]',
                              "-T", "-", "-XPUT", f"{fe_url}/api/test/test123/_stream_load"],
                             input=body, capture_output=True, text=True, timeout=max(1.0, deadline - time.monotonic()))
        assert json.loads(out.stdout)["Status"] == "Success"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None


async def test_two_fes_lose_routes_on_restart(session):
    async with StreamLoadEmulator(ddl={"test": DDL}, n_fe=2) as emu:
        await txn(session, emu.fe_urls[0], "begin", "t7")
        r = await txn(session, emu.fe_urls[1], "load", "t7", "1,a\n")
        assert "has no node" in r.json["Message"]
        emu.faults.fe_down(0)
        emu.faults.fe_up(0)
        await asyncio.sleep(0)                  # one turn of the loop: the FE's restart takes effect
        r = await txn(session, emu.fe_urls[0], "load", "t7", "1,a\n")
        assert "has no node" in r.json["Message"]


