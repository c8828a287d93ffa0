"""The emulator's MySQL front, the statements StarRocks' SQL tests use (MYSQL.md §4.4-§4.6, §5): SELECT run by
sqlglot's executor with typed values, INSERT and UPDATE as one transaction and one version each, DROP,
TRUNCATE, sync, SHOW PROC '/transactions/...' and SHOW BACKENDS, over real sockets with PyMySQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pymysql
import pytest
from sinkapp_testkit.streamload import EmulatorThread
from sinkapp_testkit.streamload.probe import basic

TABLES = """
CREATE TABLE shop.orders (id INT NOT NULL, amount DECIMAL(6,2), day DATE, at DATETIME, note VARCHAR(10),
  made DATETIME DEFAULT CURRENT_TIMESTAMP) PRIMARY KEY (id) DISTRIBUTED BY HASH(id);
CREATE TABLE shop.wide (k INT NOT NULL, a INT, b INT, c INT, d INT, e INT, f INT, g INT)
  PRIMARY KEY (k) DISTRIBUTED BY HASH(k) ORDER BY (a);
CREATE TABLE shop.log (n INT, j JSON, arr ARRAY<VARCHAR(5)>, m MAP<INT, VARCHAR(5)>, ok BOOLEAN) DUPLICATE KEY(n);
"""


@pytest.fixture
def emu() -> Iterator[Any]:
    with EmulatorThread(password="pw", mysql_port=0, databases=["shop"], compaction_per_s=0.0) as e:
        e.add_table("shop", TABLES)
        yield e


def run(emu: Any, sql: str) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(host="127.0.0.1", port=emu.mysql_port, user="root", password="pw", database="shop",
                           autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def error(emu: Any, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as info:
        run(emu, sql)
    return info.value.args[0], info.value.args[1]


def test_insert_select_and_the_values_as_starrocks_sends_them(emu) -> None:
    run(emu, "INSERT INTO orders (id, amount, day, at, note) VALUES (1, 1.5, '2024-07-22', '2024-07-22 10:11:12', "
             "'a'), (2, -3, '2024-01-01', NULL, NULL)")
    assert emu.versions("shop", "orders")["count"] == 1                      # one statement, one version
    rows = run(emu, "SELECT id, amount, day, at, note FROM orders ORDER BY id")
    assert rows == [(1, Decimal("1.50"), dt.date(2024, 7, 22), dt.datetime(2024, 7, 22, 10, 11, 12), "a"),
                    (2, Decimal("-3.00"), dt.date(2024, 1, 1), None, None)]
    assert all(r[0] is not None for r in run(emu, "SELECT made FROM orders"))        # DEFAULT CURRENT_TIMESTAMP
    assert run(emu, "SELECT count(1), max(amount) FROM orders WHERE note IS NULL") == [(1, Decimal("-3.00"))]
    assert run(emu, "SELECT id FROM orders WHERE note = \"a\" LIMIT 5") == [(1,)]       # "a" is a string
    assert run(emu, "SELECT hex(note) FROM shop.orders WHERE id = 1") == [("61",)]
    run(emu, "INSERT INTO log VALUES (1, '{\"k\": [1, 2]}', '[\"x\", \"y\"]', '{\"1\": \"a\"}', true)")
    assert run(emu, "SELECT j, arr, m, ok FROM log") == [('{"k": [1, 2]}', '["x","y"]', '{1:"a"}', 1)]
    assert error(emu, "SELECT nope FROM orders")[0] == 1064
    assert error(emu, "SELECT soundex(note) FROM orders") == (1235, "emulator: function soundex() is not supported")


def test_insert_is_strict_and_all_or_nothing(emu) -> None:
    code, message = error(emu, "INSERT INTO orders (id, amount) VALUES (1, 1), (2, 'x')")
    assert code == 1064 and message.startswith("Insert has filtered data in strict mode.")
    code, message = error(emu, "INSERT INTO orders (amount) VALUES (1)")
    assert message == "Getting analyzing error. Detail message: Column has no default value. column: id."
    assert error(emu, "INSERT INTO orders VALUES (1, 2)")[1].endswith("Column count doesn't match value count.")
    assert emu.count("shop", "orders") == 0 and emu.versions("shop", "orders")["count"] == 0
    run(emu, "INSERT INTO orders (id, amount) VALUES (3, 1)")
    run(emu, "INSERT INTO orders (id, amount) SELECT id + 1, amount * 2 FROM orders")
    assert run(emu, "SELECT id, amount FROM orders ORDER BY id") == [(3, Decimal("1.00")), (4, Decimal("2.00"))]


def test_update_with_where_subqueries_and_starrocks_refusals(emu) -> None:
    run(emu, "INSERT INTO wide VALUES (1,1,1,1,1,1,1,1), (2,2,2,2,2,2,2,2)")
    run(emu, "UPDATE wide SET b = (SELECT sum(c) FROM wide), c = 0 WHERE k = 1")
    assert run(emu, "SELECT k, b, c FROM wide ORDER BY k") == [(1, 3, 0), (2, 2, 2)]
    assert error(emu, "UPDATE wide SET b = 1, c = 1, d = 1") == (          # 3 of 8 columns: not column mode
        1064, "Getting analyzing error. Detail message: must specify where clause to prevent full table update.")
    run(emu, "UPDATE wide SET b = 9")                                        # 1 of 8: a column-mode update
    assert run(emu, "SELECT b FROM wide") == [(9,), (9,)]
    assert error(emu, "UPDATE wide SET a = 5") == (5609, "column mode partial update on table with sort key "
                                                         "cannot update sort key column")
    assert error(emu, "UPDATE wide SET k = 5 WHERE k = 1")[1].endswith("primary key column cannot be updated: k.")
    assert error(emu, "UPDATE log SET n = 1 WHERE n = 2")[1].endswith("only support updating primary key table.")
    assert emu.versions("shop", "wide")["count"] == 3


def test_drop_truncate_and_sync(emu) -> None:
    run(emu, "INSERT INTO log (n) VALUES (1)")
    assert run(emu, "sync") == []
    run(emu, "TRUNCATE TABLE log")
    assert run(emu, "SELECT count(*) FROM log") == [(0,)]
    run(emu, "DROP TABLE log")
    assert error(emu, "DROP TABLE log") == (1051, "Unknown table 'log'")
    run(emu, "DROP TABLE IF EXISTS log")
    run(emu, "CREATE DATABASE other")
    run(emu, "DROP DATABASE other FORCE")
    assert error(emu, "DROP DATABASE other") == (1008, "Can't drop database 'other'; database doesn't exist")
    assert ("other",) not in run(emu, "SHOW DATABASES")


def test_show_proc_transactions_and_show_backends(emu) -> None:
    import urllib.request

    run(emu, "INSERT INTO log (n) VALUES (1)")

    def post(op: str, body: bytes = b"", **headers: str) -> dict[str, Any]:
        req = urllib.request.Request(f"{emu.be_urls[0]}/api/transaction/{op}", data=body, method="POST" if op != "load"
                                     else "PUT", headers={"label": "p1", "db": "shop", "table": "log",
                                                          "Authorization": basic("root", "pw"), **headers})
        with urllib.request.urlopen(req) as resp:
            return dict(json.loads(resp.read()))
    assert post("begin")["Status"] == "OK"
    assert post("load", b"7", columns="n")["Status"] == "OK"
    assert post("prepare", prepared_timeout="30")["Status"] == "OK"
    running = run(emu, "SHOW PROC '/transactions/shop/running'")
    assert [(r[1], r[3], r[4], r[14]) for r in running] == [("p1", "PREPARED", "BACKEND_STREAMING", "30000")]
    finished = run(emu, "SHOW PROC '/transactions/shop/finished'")
    assert [(r[3], r[4], r[14]) for r in finished] == [("VISIBLE", "INSERT_STREAMING", "86400000")]
    emu.cluster.labels.get("shop", "p1").prepared_s -= 31                  # age it instead of sleeping
    assert run(emu, "SHOW PROC '/transactions/shop/running'") == []
    aborted = [r for r in run(emu, "SHOW PROC '/transactions/shop/finished'") if r[1] == "p1"]
    assert (aborted[0][3], aborted[0][10]) == ("ABORTED", "timeout by txn manager")
    assert error(emu, "SHOW PROC '/backends'")[1].startswith("emulator: SHOW PROC '/backends'")
    (be,) = run(emu, "SHOW BACKENDS")
    assert (be[1], be[4], be[8]) == ("127.0.0.1", emu.be_urls[0].rsplit(":", 1)[1], "true")
