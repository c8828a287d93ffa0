"""Stream Load emulator, load pressure (spec §8a): versions per table, compaction, "too many versions",
and the other load-pressure faults (txn num per BE, HTTP concurrency limit)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sinkapp_testkit.streamload import EmulatorError, EmulatorThread, StreamLoadEmulator
from sinkapp_testkit.streamload.cli import build_parser
from sinkapp_testkit.streamload.probe import put, stream_load

DDL = "CREATE TABLE kv (k INT NOT NULL, v STRING) PRIMARY KEY (k); CREATE TABLE dup (k INT, v STRING);"
CSV = {"format": "csv", "column_separator": ","}
CURRENT = ("Failed to load data into tablet {id}, because of too many versions, current/limit: {n}/{limit}. "
           "You can reduce the loading job concurrency, or increase loading data batch size. If you are "
           "loading data with Routine Load, you can increase FE configs routine_load_task_consume_second "
           "and max_routine_load_batch_size")


class Clock:
    """An injected monotonic clock for compaction: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def load(session, emu, label: str, body: str = "1,a\n", table: str = "kv", db: str = "test",
               headers: dict | None = None) -> dict:
    r = await stream_load(session, emu.fe_url, db, table, body, {**(headers or CSV), "label": label})
    assert r.status == 200, (r.status, r.text)
    return r.json


async def test_loads_past_the_limit_are_refused_with_the_exact_text_and_the_label_is_reusable(session):
    async with StreamLoadEmulator(ddl={"test": DDL}, max_versions=3, compaction_per_s=0) as emu:
        for i in range(4):      # refused only when count > limit: the (L+1)-th version is still written
            assert (await load(session, emu, f"ok{i}", f"{i},a\n"))["Status"] == "Success"
        tablet = emu.versions("test", "kv")["tablet_id"]
        for _ in range(2):
            r = await load(session, emu, "over", "9,z\n")
            assert (r["Status"], r["Message"]) == ("Fail", CURRENT.format(id=tablet, n=4, limit=3))
            assert r["NumberTotalRows"] == r["NumberLoadedRows"] == 0
        assert emu.label_state("test", "over") == "ABORTED" and emu.count("test", "kv") == 4
        assert emu.versions("test", "kv") == {"db": "test", "table": "kv", "tablet_id": tablet, "count": 4,
                                              "limit": 3, "refused": 2, "compaction_per_s": 0.0}
        assert emu.set_versions(max_versions=4) == {"max_versions": 4, "compaction_per_s": 0.0, "style": "current"}
        assert (await load(session, emu, "over", "9,z\n"))["Status"] == "Success"   # same label, loads
        assert emu.count("test", "kv") == 5 and emu.versions("test", "kv")["count"] == 5
        assert [r.status for r in emu.loads()][-3:] == ["Fail", "Fail", "Success"]


async def test_compaction_over_injected_time_lets_loads_succeed_again(session):
    async with StreamLoadEmulator(ddl={"test": DDL}, max_versions=2, compaction_per_s=2.0) as emu:
        clock = emu.cluster.versions.clock = Clock()
        for i in range(3):
            assert (await load(session, emu, f"c{i}", f"{i},a\n"))["Status"] == "Success"
        assert "current/limit: 3/2" in (await load(session, emu, "c3", "3,a\n"))["Message"]
        clock.now += 0.25                       # half a version merged: still 3
        assert emu.versions("test", "kv")["count"] == 3
        assert (await load(session, emu, "c3", "3,a\n"))["Status"] == "Fail"
        clock.now += 0.25                       # one merged: 2 is not over the limit
        assert emu.versions("test", "kv")["count"] == 2
        assert (await load(session, emu, "c3", "3,a\n"))["Status"] == "Success"
        clock.now += 3600                       # compaction never goes below one version
        assert emu.versions("test", "kv")["count"] == 1
        clock.now += 10                         # no credit is banked at the floor
        for i in range(4, 6):
            assert (await load(session, emu, f"c{i}", f"{i},a\n"))["Status"] == "Success"
        assert emu.versions("test", "kv")["count"] == 3
        clock.now += 0.25                       # 0.5 version at the old rate 2/s ...
        emu.set_versions(compaction_per_s=0.5)
        clock.now += 1                          # ... + 0.5 at the new rate: one merged
        assert emu.versions("test", "kv")["count"] == 2


async def test_compaction_in_real_time(session):
    async with StreamLoadEmulator(ddl={"test": DDL}, max_versions=1, compaction_per_s=0.0) as emu:
        assert (await load(session, emu, "r0", "0,a\n"))["Status"] == "Success"
        assert (await load(session, emu, "r1", "1,a\n"))["Status"] == "Success"
        assert (await load(session, emu, "r2", "2,a\n"))["Status"] == "Fail"
        emu.set_versions(compaction_per_s=40.0)
        await asyncio.sleep(0.1)                # time is the behaviour: ~4 versions merged in 0.1 s, floor 1
        assert emu.versions("test", "kv")["count"] == 1
        assert (await load(session, emu, "r2", "2,a\n"))["Status"] == "Success"


async def test_counts_are_per_table_and_empty_or_failed_loads_add_none(session):
    async with StreamLoadEmulator(ddl={"test": DDL, "other": "CREATE TABLE kv (k INT, v STRING)"},
                                  max_versions=1, compaction_per_s=0) as emu:
        for i in range(2):
            assert (await load(session, emu, f"a{i}", f"{i},a\n"))["Status"] == "Success"
        assert (await load(session, emu, "a2"))["Status"] == "Fail"
        assert (await load(session, emu, "b0", "1,b\n", table="dup"))["Status"] == "Success"
        assert (await load(session, emu, "o0", "1,b\n", db="other"))["Status"] == "Success"
        assert (await load(session, emu, "e0", "", table="dup"))["Message"] == "all partitions have no load data"
        strict = {**CSV, "strict_mode": "true"}
        assert (await load(session, emu, "f0", "x,y\n", "dup", headers=strict))["Message"] == "too many filtered rows"
        kv, dup, other = emu.versions("test", "kv"), emu.versions("test", "dup"), emu.versions("other", "kv")
        assert (kv["count"], kv["refused"], dup["count"], dup["refused"], other["count"]) == (2, 1, 1, 0, 1)
        assert len({kv["tablet_id"], dup["tablet_id"], other["tablet_id"]}) == 3
        emu.truncate("test", "kv")              # TRUNCATE makes new tablets
        assert emu.versions("test", "kv")["count"] == 0
        with pytest.raises(EmulatorError):
            emu.versions("test", "nope")
    async with StreamLoadEmulator(ddl={"test": DDL}) as again:   # the fake tablet id is stable
        assert again.versions("test", "kv")["tablet_id"] == kv["tablet_id"]


async def test_commits_through_faults_add_versions(session):
    async with StreamLoadEmulator(ddl={"test": DDL}, max_versions=10, compaction_per_s=0) as emu:
        emu.faults.publish_timeout_next(visible_after_s=0.05)
        assert (await load(session, emu, "p", "1,a\n"))["Status"] == "Publish Timeout"
        emu.faults.commit_unknown_next(committed=True)
        assert (await load(session, emu, "u", "2,a\n"))["Status"] == "Fail"
        emu.faults.commit_unknown_next(committed=False)
        assert (await load(session, emu, "n", "3,a\n"))["Status"] == "Fail"
        emu.faults.shutting_down_next()
        assert (await load(session, emu, "s", "4,a\n"))["Status"] == "Fail"
        assert emu.versions("test", "kv")["count"] == 2 and emu.count("test", "kv") == 2


async def test_an_empty_successful_load_adds_no_version(session):
    async with StreamLoadEmulator(ddl={"test": DDL}, empty_load_as_error=False) as emu:
        assert (await load(session, emu, "empty", "", table="dup"))["Status"] == "Success"
        assert emu.versions("test", "dup")["count"] == 0
        emu.faults.label_running("lr", seconds=0.05)          # committed later, by the fault
        assert (await load(session, emu, "lr", "1,a\n", table="dup"))["ExistingJobStatus"] == "RUNNING"
        for _ in range(100):                                  # until the fault's timer commits it
            if emu.label_state("test", "lr") == "VISIBLE":
                break
            await asyncio.sleep(0.02)
        assert emu.label_state("test", "lr") == "VISIBLE" and emu.versions("test", "dup")["count"] == 1


@pytest.mark.parametrize("mode", [{"count_only": True}, {"store_rows": False}])
async def test_count_only_and_no_store_modes_count_versions(session, mode):
    body = json.dumps([{"k": i, "v": "x"} for i in range(50)])
    hdrs = {"format": "json", "strip_outer_array": "true"}
    async with StreamLoadEmulator(ddl={"test": DDL}, max_versions=2, compaction_per_s=0, **mode) as emu:
        for i in range(3):
            assert (await load(session, emu, f"j{i}", body, table="dup", headers=hdrs))["Status"] == "Success"
        r = await load(session, emu, "j3", body, table="dup", headers=hdrs)
        assert "current/limit: 3/2" in r["Message"] and emu.count("test", "dup") == 150
        assert (await load(session, emu, "k0", "1,a\n"))["Status"] == "Success"   # PK table, parsed
        assert emu.versions("test", "dup")["refused"] == 1 and emu.versions("test", "kv")["count"] == 1


async def test_message_styles(session):
    async with StreamLoadEmulator(ddl={"test": DDL}, max_versions=0, compaction_per_s=0,
                                  versions_style="2.5") as emu:
        assert (await load(session, emu, "m0"))["Status"] == "Success"
        tablet = emu.versions("test", "kv")["tablet_id"]
        r = await load(session, emu, "m1", "2,b\n")
        assert r["Message"] == f"Too many versions. tablet_id: {tablet}, version_count: 1, limit: 0"
        emu.set_versions(style="short")
        assert (await load(session, emu, "m1", "2,b\n"))["Message"] == "too many tablet versions"
        with pytest.raises(ValueError):
            emu.set_versions(style="newest")
    with pytest.raises(EmulatorError):
        StreamLoadEmulator(max_versions=-1)


async def txn(session, emu, op: str, label: str, body: str = "") -> dict:
    hdrs = {"label": label, "db": "test", "table": "kv", **(CSV if op == "load" else {})}
    r = await put(session, f"{emu.fe_url}/api/transaction/{op}", body.encode(), hdrs,
                  method="PUT" if op == "load" else "POST")
    return r.json


async def test_transaction_interface_one_version_per_commit_and_rollback_when_over(session):
    async with StreamLoadEmulator(ddl={"test": DDL}, max_versions=1, compaction_per_s=0) as emu:
        for label in ("t0", "t1"):
            assert (await txn(session, emu, "begin", label))["Status"] == "OK"
            for body in ("1,a\n", "2,b\n", "3,c\n"):
                assert (await txn(session, emu, "load", label, body))["Status"] == "OK"
            assert (await txn(session, emu, "commit", label))["Status"] == "OK"
        assert emu.versions("test", "kv")["count"] == 2
        assert (await txn(session, emu, "begin", "t2"))["Status"] == "OK"
        r = await txn(session, emu, "load", "t2", "4,d\n")
        assert (r["Status"], r["Message"]) == ("INTERNAL_ERROR", CURRENT.format(
            id=emu.versions("test", "kv")["tablet_id"], n=2, limit=1))
        assert emu.label_state("test", "t2") == "ABORTED"
        emu.set_versions(max_versions=5)
        assert (await txn(session, emu, "begin", "t2"))["Status"] == "OK"   # the label is reusable
        assert (await txn(session, emu, "load", "t2", "4,d\n"))["Status"] == "OK"
        assert (await txn(session, emu, "commit", "t2"))["Status"] == "OK"
        assert emu.versions("test", "kv")["count"] == 3 and emu.count("test", "kv") == 4


async def test_txn_num_per_be_and_concurrency_limit_faults(session):
    async with StreamLoadEmulator(ddl={"test": DDL}) as emu:
        emu.faults.txn_num_per_be_next(limit=4)
        emu.faults.txn_num_per_be_next(limit=4, txn_num=6, be="10.0.0.7")
        emu.faults.concurrency_limit_next()
        r = await load(session, emu, "x")
        assert (r["Status"], r["Message"], r["TxnId"]) == (
            "Fail", "streamload txn num per be exceeds limit, be: 127.0.0.1, txn_num: 4, limit: 4", -1)
        assert (await load(session, emu, "x"))["Message"] == (
            "streamload txn num per be exceeds limit, be: 10.0.0.7, txn_num: 6, limit: 4")
        assert (await load(session, emu, "x"))["Message"] == (
            "Stream Load exceed http cuncurrent limit 47, please try again later")
        assert emu.label_state("test", "x") == "UNKNOWN"
        assert (await load(session, emu, "x"))["Status"] == "Success"


def _http(method: str, url: str, payload: object = None) -> object:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _http_error(method: str, url: str, data: bytes | None = None) -> int:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=10)
    info.value.close()
    return info.value.code


async def _loads(emu, n: int) -> list[str]:
    async with aiohttp.ClientSession() as s:
        return [(await load(s, emu, f"h{i}", f"{i},a\n"))["Status"] for i in range(n)]


def test_admin_versions_endpoints_and_fault():
    with EmulatorThread(ddl={"test": DDL}, count_only=True) as emu:
        admin, q = emu.admin_url, "db=test&table=kv"
        assert _http("GET", f"{admin}/_emulator/versions") == {
            "max_versions": 1000, "compaction_per_s": 10.0, "style": "current"}
        assert _http("POST", f"{emu.fe_url}/_emulator/versions", {"max_versions": 1, "compaction_per_s": 0}) == {
            "max_versions": 1, "compaction_per_s": 0.0, "style": "current"}
        assert asyncio.run(_loads(emu, 3)) == ["Success", "Success", "Fail"]
        got = _http("GET", f"{admin}/_emulator/versions?{q}")
        assert (got["count"], got["limit"], got["refused"]) == (2, 1, 1)
        assert emu.loads()[-1].message == CURRENT.format(id=got["tablet_id"], n=2, limit=1)
        _http("POST", f"{admin}/_emulator/faults", {"fault": "txn_num_per_be_next", "limit": 2})
        assert emu.faults.pending()[0]["message"].startswith("streamload txn num per be exceeds limit")
        assert _http_error("POST", f"{admin}/_emulator/versions", b'{"max_versions": -1}') == 400
        assert _http_error("POST", f"{admin}/_emulator/versions", b'{"limit": 5}') == 400
        assert _http_error("POST", f"{admin}/_emulator/versions", b"not json") == 400
        assert _http_error("GET", f"{admin}/_emulator/versions?db=test&table=nope") == 404
        assert _http_error("GET", f"{admin}/_emulator/versions?db=test") == 400


def test_cli_flags_reach_the_emulator():
    args = build_parser().parse_args([])
    assert (args.max_versions, args.compaction_per_s, args.versions_style) == (1000, 10.0, "current")
    proc = subprocess.Popen([sys.executable, "-m", "sinkapp_testkit.streamload", "--fe-port", "0", "--be-port", "0",
                             "--max-versions", "5", "--compaction-per-s", "0.5", "--versions-style", "2.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        fe_url = proc.stdout.readline().strip()
        assert _http("GET", f"{fe_url}/_emulator/versions") == {
            "max_versions": 5, "compaction_per_s": 0.5, "style": "2.5"}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    bad = subprocess.run([sys.executable, "-m", "sinkapp_testkit.streamload", "--fe-port", "0", "--be-port", "0",
                          "--max-versions", "-1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "max_versions must be an integer >= 0" in bad.stderr
