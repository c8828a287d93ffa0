"""The Stream Load emulator's MySQL front (testkit/sinkapp_testkit/streamload/MYSQL.md), over real sockets
with aiomysql: auth, DDL then Stream Loads checked against it, ADD COLUMN with and without fast
schema evolution, what DESC / SHOW CREATE TABLE / information_schema show, SELECT, the statement log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiomysql
import pymysql
import pytest
from sinkapp_testkit.streamload import StreamLoadEmulator
from sinkapp_testkit.streamload.probe import stream_load

JSON = {"format": "json", "strip_outer_array": "true", "max_filter_ratio": "1"}
ORDERS = ("CREATE TABLE IF NOT EXISTS shop.orders (id BIGINT NOT NULL COMMENT 'order id', amount DECIMAL(5,2), "
          "day DATE, code VARCHAR(3)) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2 "
          "PROPERTIES ('replication_num' = '1'{extra})")
FAST = ", 'fast_schema_evolution' = 'true'"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def connect(emu: StreamLoadEmulator, password: str = "pw", user: str = "root", **kw: Any) -> Any:
    return await aiomysql.connect(host="127.0.0.1", port=emu.mysql_port, user=user, password=password,
                                  autocommit=True, **kw)


async def q(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cur:
        await cur.execute(sql)
        return list(await cur.fetchall())


async def q_dicts(conn: Any, sql: str) -> list[dict[str, Any]]:
    async with conn.cursor(aiomysql.DictCursor) as cur:
        await cur.execute(sql)
        return list(await cur.fetchall())


async def load(http: aiohttp.ClientSession, emu: StreamLoadEmulator, label: str, rows: list[dict[str, Any]],
               table: str = "orders") -> dict[str, Any]:
    r = await stream_load(http, emu.fe_url, "shop", table, json.dumps(rows), {**JSON, "label": label},
                          password="pw")
    assert r.status == 200, r.text
    return r.json


async def test_auth_with_the_emulators_user_and_password_and_1045_otherwise() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0) as emu:
        assert emu.jdbc_url == f"jdbc:mysql://127.0.0.1:{emu.mysql_port}"
        conn = await connect(emu)
        assert await q(conn, "SELECT 1") == [(1,)]
        conn.close()
        for user, password in (("root", "wrong"), ("root", ""), ("nobody", "pw")):
            with pytest.raises(pymysql.err.OperationalError) as info:
                await connect(emu, password, user)
            used = "YES" if password else "NO"
            assert info.value.args == (1045, f"Access denied for user '{user}' (using password: {used})")
    async with StreamLoadEmulator(password="", mysql_port=0) as emu:    # no password set: empty works
        conn = await connect(emu, "")
        assert await q(conn, "SELECT 1") == [(1,)]
        conn.close()
    assert StreamLoadEmulator().mysql_port is None and StreamLoadEmulator().jdbc_url is None   # off by default


async def test_a_table_created_over_mysql_is_what_stream_loads_are_checked_against(http) -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0) as emu:
        conn = await connect(emu)
        await q(conn, "CREATE DATABASE shop")
        with pytest.raises(pymysql.err.MySQLError) as info:
            await q(conn, "CREATE DATABASE shop")
        assert info.value.args == (1007, "Can't create database 'shop'; database exists")
        await q(conn, "CREATE DATABASE IF NOT EXISTS shop")
        await q(conn, ORDERS.format(extra=""))
        await q(conn, ORDERS.format(extra=""))                           # IF NOT EXISTS: no error
        with pytest.raises(pymysql.err.MySQLError) as info:
            await q(conn, ORDERS.format(extra="").replace(" IF NOT EXISTS", ""))
        assert info.value.args == (1050, "Table 'orders' already exists")
        reply = await load(http, emu, "l1", [
            {"id": 1, "amount": "12.50", "day": "2024-05-01", "code": "abc"},
            {"id": 2, "amount": "1.5", "day": "2024-05-02", "code": "toolong"},     # VARCHAR(3): filtered
            {"id": 3, "amount": "x", "day": "2024-05-03", "code": "ok"},            # not a decimal: NULL
        ])
        assert (reply["Status"], reply["NumberLoadedRows"], reply["NumberFilteredRows"]) == ("Success", 2, 1)
        assert [(r["id"], str(r["amount"]), str(r["day"])) for r in emu.rows("shop", "orders")] == [
            (1, "12.50", "2024-05-01"), (3, "None", "2024-05-03")]
        assert await q(conn, "SELECT COUNT(*) FROM shop.orders") == [(2,)]
        assert await q(conn, "USE shop") == [] and await q(conn, "SHOW TABLES") == [("orders",)]
        assert await q(conn, "SHOW DATABASES") == [("information_schema",), ("shop",)]
        conn.close()


async def _columns(conn: Any) -> list[tuple[Any, ...]]:
    return await q(conn, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM "
                         "information_schema.COLUMNS WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'orders' "
                         "ORDER BY ORDINAL_POSITION")


async def test_add_column_with_fast_schema_evolution_is_done_at_once(http) -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=60) as emu:
        conn = await connect(emu, db="shop")
        await q(conn, ORDERS.format(extra=FAST))
        await load(http, emu, "before", [{"id": 1, "amount": "1.00", "day": "2024-01-01", "code": "a"}])
        await q(conn, "ALTER TABLE orders ADD COLUMN note VARCHAR(20) NULL COMMENT 'free text'")
        await q(conn, "ALTER TABLE shop.orders ADD COLUMN (qty INT, price DECIMAL(10,2), src STRING DEFAULT 'web')")
        jobs = await q_dicts(conn, "SHOW ALTER TABLE COLUMN")
        assert [j["State"] for j in jobs] == ["FINISHED", "FINISHED"] and jobs[0]["TableName"] == "orders"
        desc = await q(conn, "DESC orders")
        assert [d[:3] for d in desc[4:]] == [("note", "VARCHAR(20)", "YES"), ("qty", "INT", "YES"),
                                             ("price", "DECIMAL(10,2)", "YES"), ("src", "VARCHAR(65533)", "YES")]
        assert desc[7][4] == "web"
        assert (await _columns(conn))[4:] == [
            ("note", "varchar", "varchar(20)", "YES", ""), ("qty", "int", "int(11)", "YES", ""),
            ("price", "decimal", "decimal(10,2)", "YES", ""), ("src", "varchar", "varchar(65533)", "YES", "")]
        assert (await _columns(conn))[0] == ("id", "bigint", "bigint(20)", "NO", "PRI")
        create = (await q(conn, "SHOW CREATE TABLE orders"))[0][1]
        assert '`note` VARCHAR(20) NULL COMMENT "free text"' in create
        assert '`src` VARCHAR(65533) NULL DEFAULT "web"' in create and '"fast_schema_evolution" = "true"' in create
        await load(http, emu, "after", [{"id": 2, "amount": "2.00", "day": "2024-01-02", "code": "b",
                                         "note": "hi", "qty": 3, "price": "9.99", "src": "app"}])
        rows = {r["id"]: r for r in emu.rows("shop", "orders")}
        assert (rows[1]["note"], rows[1]["qty"], rows[1]["price"], rows[1]["src"]) == (None, None, None, "web")
        assert (rows[2]["note"], rows[2]["qty"], str(rows[2]["price"]), rows[2]["src"]) == ("hi", 3, "9.99", "app")
        star = await q_dicts(conn, "SELECT * FROM orders LIMIT 1")
        assert len(star) == 1 and list(star[0]) == ["id", "amount", "day", "code", "note", "qty", "price", "src"]
        conn.close()


async def test_tables_given_as_ddl_text_are_altered_over_mysql_with_their_properties(http) -> None:
    ddl = {"shop": [ORDERS.format(extra=FAST).replace("shop.orders", "orders"),
                    "CREATE TABLE slow (k INT) DUPLICATE KEY(k) PROPERTIES ('replication_num' = '1')"]}
    async with StreamLoadEmulator(password="pw", mysql_port=0, ddl=ddl, schema_change_s=30) as emu:
        conn = await connect(emu, db="shop")
        await q(conn, "ALTER TABLE orders ADD COLUMN note STRING")
        await q(conn, "ALTER TABLE slow ADD COLUMN v STRING")
        states = {j["TableName"]: j["State"] for j in await q_dicts(conn, "SHOW ALTER TABLE COLUMN")}
        assert states == {"orders": "FINISHED", "slow": "PENDING"}
        assert [d[0] for d in await q(conn, "DESC orders")][-1] == "note"
        assert [d[0] for d in await q(conn, "DESC slow")] == ["k"]
        assert "DUPLICATE KEY(`k`)" in (await q(conn, "SHOW CREATE TABLE slow"))[0][1]
        conn.close()
