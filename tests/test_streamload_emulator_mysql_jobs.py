"""The emulator's MySQL front, part 2: schema change jobs that take time while loads go on, hostile
and refused names, the statement log (API and admin HTTP), the CLI flag and EmulatorThread."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import aiomysql
import pymysql
import pytest
from sinkapp_testkit.streamload import EmulatorThread, StreamLoadEmulator
from sinkapp_testkit.streamload.cli import build_parser
from sinkapp_testkit.streamload.sqlnames import quote

from tests.test_streamload_emulator_mysql import ORDERS, connect, http, load, q, q_dicts  # noqa: F401

IN_PROGRESS = ('A schema change operation is in progress on the table "orders". Please wait until the '
               "current operation completes.\nTo check the status of the operation, see "
               "https://docs.starrocks.io/en-us/latest/sql-reference/sql-statements/data-manipulation/SHOW%20ALTER")
ROW = {"amount": "1.00", "day": "2024-01-01", "code": "a"}


async def test_add_column_job_passes_its_states_while_loads_go_on(http) -> None:  # noqa: F811
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=1.0) as emu:
        conn = await connect(emu, db="shop")
        await q(conn, ORDERS.format(extra=""))
        await load(http, emu, "l0", [{"id": 0, **ROW}])
        t0 = time.monotonic()
        await q(conn, "ALTER TABLE orders ADD COLUMN note STRING")
        with pytest.raises(pymysql.err.MySQLError) as info:        # one job at a time per table
            await q(conn, "ALTER TABLE orders ADD COLUMN other INT")
        assert info.value.args == (1064, IN_PROGRESS)
        states, i = [], 0
        while time.monotonic() - t0 < 5:
            job = (await q_dicts(conn, 'SHOW ALTER TABLE COLUMN FROM shop WHERE TableName = "orders" '
                                       "ORDER BY CreateTime DESC LIMIT 1"))[0]
            if not states or states[-1] != job["State"]:
                states.append(job["State"])
            if job["State"] == "FINISHED":
                assert job["FinishTime"] is not None and job["Msg"] == "" and job["Timeout"] == 86400
                break
            assert job["FinishTime"] is None
            if "note" in [d[0] for d in await q(conn, "DESC orders")]:     # visible only once FINISHED
                assert (await q_dicts(conn, "SHOW ALTER TABLE COLUMN"))[0]["State"] == "FINISHED"
            else:
                assert job["State"] != "FINISHED"
            i += 1
            reply = await load(http, emu, f"during{i}", [{"id": i, **ROW, "note": "dropped"}])
            assert reply["Status"] == "Success"                                   # loads go on
            await asyncio.sleep(0.05)           # a load every 50 ms while the job's clock runs
        assert states == ["PENDING", "WAITING_TXN", "RUNNING", "FINISHED"], states
        assert i >= 5 and time.monotonic() - t0 >= 1.0
        assert [d[0] for d in await q(conn, "DESC orders")][-1] == "note"
        await load(http, emu, "after", [{"id": 999, **ROW, "note": "kept"}])
        notes = {r["id"]: r["note"] for r in emu.rows("shop", "orders")}
        finish = emu.sql.jobs.jobs[0].finish_at
        during = [int(r.label[6:]) for r in emu.loads("shop") if r.label.startswith("during") and r.time < finish]
        assert len(during) >= 4 and all(notes[k] is None for k in [0, *during])   # earlier rows read NULL
        assert notes[999] == "kept" and len(notes) == i + 2
        await q(conn, "ALTER TABLE orders ADD COLUMN other INT")                   # NORMAL again
        conn.close()


async def test_a_hostile_name_stays_one_name_and_refused_names_get_starrocks_errors() -> None:
    hostile = "a`; DROP TABLE t; --"
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        conn = await connect(emu, db="shop")
        await q(conn, "CREATE TABLE t (k INT)")
        await q(conn, f"CREATE TABLE {quote(hostile)} ({quote(hostile)} INT, `x``y` STRING) "
                      "DISTRIBUTED BY HASH(`x``y`)")
        assert await q(conn, "SELECT COUNT(*) FROM t") == [(0,)]             # t was not dropped
        assert sorted(await q(conn, "SHOW TABLES")) == [(hostile,), ("t",)]
        assert [d[0] for d in await q(conn, f"DESC {quote(hostile)}")] == [hostile, "x`y"]
        create = (await q(conn, f"SHOW CREATE TABLE {quote(hostile)}"))[0][1]
        assert create.startswith("CREATE TABLE `a``; DROP TABLE t; --` (") and "HASH (`x``y`)" in create
        sent = f"CREATE TABLE {quote(hostile)} ({quote(hostile)} INT, `x``y` STRING) DISTRIBUTED BY HASH(`x``y`)"
        log = [s.sql for s in emu.statements()]
        assert log.count(sent) == 1 and not [s for s in log if s.lstrip().upper().startswith(("DROP", "--"))]
        assert log[log.index(sent) - 1] == "CREATE TABLE t (k INT)"          # one statement, in order
        with pytest.raises(pymysql.err.MySQLError):                         # the control: not doubled,
            await q(conn, f"CREATE TABLE `{hostile}` (k INT)")              # the name ends at its 2nd `
        assert [s.sql for s in emu.statements()][-2:] == ["CREATE TABLE `a`", "DROP TABLE t"]  # the rest: a comment
        assert emu.statements()[-1].error.startswith("emulator: not run")
        for sql, code, message in (
                ("CREATE DATABASE `a-b`", 1102, "Incorrect database name 'a-b'"),
                ("CREATE TABLE c (`a=b` INT)", 1166, "Incorrect column name 'a=b'"),
                ("CREATE TABLE c (`__starrocks_shadow_k` INT)", 1166, "Incorrect column name '__starrocks_shadow_k'"),
                (f"CREATE TABLE `{'n' * 1025}` (k INT)", 1104, f"Incorrect table name '{'n' * 1025}'"),
                ("ALTER TABLE t ADD COLUMN k STRING", 1060, "Duplicate column name 'k'"),
                ("SELECT * FROM nope", 1051, "Unknown table 'shop.nope'"),
                ("USE nodb", 1049, "Unknown database 'nodb'")):
            with pytest.raises(pymysql.err.MySQLError) as info:
                await q(conn, sql)
            assert info.value.args == (code, message), sql
        assert emu.statements()[-1].error == "Unknown database 'nodb'"
        assert await q(conn, "SELECT COUNT(*) FROM t") == [(0,)]      # the injected DROP never ran
        await q(conn, "DROP TABLE t")                                  # a DROP that is sent does
        with pytest.raises(pymysql.err.MySQLError) as info:
            await q(conn, "SELECT COUNT(*) FROM t")
        assert info.value.args == (1051, "Unknown table 'shop.t'")
        conn.close()


async def test_select_count_and_star_limit_and_the_admin_statement_log(http) -> None:  # noqa: F811
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        conn = await connect(emu, db="shop")
        await q(conn, ORDERS.format(extra=""))
        await load(http, emu, "l", [{"id": i, **ROW} for i in range(5)])
        assert await q(conn, "SELECT COUNT(*) FROM orders") == [(5,)]
        rows = await q_dicts(conn, "SELECT * FROM shop.orders LIMIT 2")
        assert len(rows) == 2 and rows[0]["code"] == "a" and str(rows[0]["amount"]) == "1.00"
        assert len(await q(conn, "SELECT * FROM orders")) == 5
        assert await q(conn, "SELECT id, code FROM orders WHERE id = 1") == [(1, "a")]
        with pytest.raises(pymysql.err.MySQLError) as info:
            await q(conn, "SELECT soundex(code) FROM orders WHERE id = 1")
        assert info.value.args == (1235, "emulator: function soundex() is not supported")
        conn.close()
        async with http.get(f"{emu.admin_url}/_emulator/statements") as resp:
            log = json.loads(await resp.text())
        assert [s["sql"] for s in log] == [s.sql for s in emu.statements()]
        assert log[-1]["sql"] == "SELECT soundex(code) FROM orders WHERE id = 1"
        assert log[-1]["error"].startswith("emulator:")
        async with http.get(f"{emu.fe_url}/_emulator/info") as resp:
            assert json.loads(await resp.text())["jdbc_url"] == emu.jdbc_url


def test_emulator_thread_and_the_cli_flag() -> None:
    with EmulatorThread(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.5) as emu:
        conn = pymysql.connect(host="127.0.0.1", port=emu.mysql_port, user="root", password="pw", database="shop")
        with conn.cursor() as cur:
            cur.execute(ORDERS.format(extra=""))
            cur.execute("SHOW TABLES")
            assert cur.fetchall() == (("orders",),)
        conn.close()
    args = build_parser().parse_args(["--mysql-port", "9030", "--schema-change-s", "2.5"])
    assert (args.mysql_port, args.schema_change_s) == (9030, 2.5)
    assert build_parser().parse_args([]).mysql_port is None
    proc = subprocess.Popen([sys.executable, "-m", "sinkapp_testkit.streamload", "--fe-port", "0", "--be-port", "0",
                             "--mysql-port", "0", "--password", "pw"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        line = proc.stderr.readline()
        assert "  mysql jdbc:mysql://127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1])
        conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="pw")
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE test.t (k INT)")
            cur.execute("SHOW TABLES FROM test")
            assert cur.fetchall() == (("t",),)
        conn.close()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


async def test_aiomysql_sees_no_surprise_on_connect_and_use() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"]) as emu:
        conn = await aiomysql.connect(host="127.0.0.1", port=emu.mysql_port, user="root", password="pw", db="shop")
        assert await q(conn, "SELECT DATABASE()") == [("shop",)]
        assert (await q(conn, "SELECT @@version_comment"))[0][0].startswith("StarRocks")
        conn.close()
