"""The emulator's MySQL front, part 3: ``ALTER TABLE ... MODIFY COLUMN`` (MYSQL.md §4.3a). A schema
change job (SHOW ALTER TABLE COLUMN, FINISHED after ``schema_change_s``) during which loads go on
against the old type; after it the wider type's values load intact and stored values are converted;
the changes StarRocks' FE refuses are refused with its texts."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pymysql
import pytest
from sinkapp_testkit.streamload import StreamLoadEmulator

from tests.test_streamload_emulator_mysql import connect, http, load, q, q_dicts  # noqa: F401

WIDE = ("CREATE TABLE shop.wide (id BIGINT NOT NULL, qty INT, ratio FLOAT, ref VARCHAR(8) COMMENT 'the ref', "
        "price DECIMAL(6,2) DEFAULT '0', tiny TINYINT NOT NULL) DUPLICATE KEY(id) DISTRIBUTED BY RANDOM "
        "PROPERTIES ('replication_num' = '1', 'fast_schema_evolution' = 'true')")
BIG = 2**40 + 7


async def job_state(conn: Any) -> str:
    rows = await q_dicts(conn, "SHOW ALTER TABLE COLUMN FROM shop WHERE TableName = 'wide' "
                               "ORDER BY CreateTime DESC LIMIT 1")
    return str(rows[0]["State"])


async def test_modify_column_is_a_job_after_which_wider_values_load_intact(http) -> None:  # noqa: F811
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0.6) as emu:
        conn = await connect(emu, db="shop")
        await q(conn, WIDE)
        await load(http, emu, "v1", [{"id": 1, "qty": 5, "ratio": 1.5, "ref": "abcdefgh", "price": "9999.99",
                                      "tiny": 1}], table="wide")
        await q(conn, "ALTER TABLE wide MODIFY COLUMN qty BIGINT NULL, MODIFY COLUMN ratio DOUBLE NULL, "
                      "MODIFY COLUMN ref STRING NULL, MODIFY COLUMN price DECIMAL(12,2) NULL DEFAULT '0'")
        assert await job_state(conn) != "FINISHED"           # never fast: a job even with fast_schema_evolution
        during = await load(http, emu, "during", [{"id": 2, "qty": BIG, "ratio": 0.5, "ref": "x", "price": "1",
                                                   "tiny": 1}], table="wide")
        assert during["Status"] == "Success"          # still INT meanwhile: not strict, the value is lost
        assert {r["id"]: r["qty"] for r in emu.rows("shop", "wide")}[2] is None
        assert dict((r[0], r[1]) for r in await q(conn, "DESC wide"))["qty"] == "INT"
        t0 = time.monotonic()
        while await job_state(conn) != "FINISHED":
            assert time.monotonic() - t0 < 5
            await asyncio.sleep(0.05)
        desc = {r[0]: r[1] for r in await q(conn, "DESC wide")}
        assert (desc["qty"], desc["ratio"], desc["ref"], desc["price"]) == (
            "BIGINT", "DOUBLE", "VARCHAR(65533)", "DECIMAL(12,2)")
        info = await q(conn, "SELECT COLUMN_TYPE, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.COLUMNS "
                             "WHERE TABLE_NAME = 'wide' AND COLUMN_NAME IN ('ref', 'price') ORDER BY ORDINAL_POSITION")
        assert [tuple(r) for r in info] == [("varchar(65533)", None, "the ref"), ("decimal(12,2)", "0", "")]
        after = await load(http, emu, "after", [{"id": 3, "qty": BIG, "ratio": 0.1, "ref": "r" * 300,
                                                 "price": "1234567890.12", "tiny": 1}], table="wide")
        assert after["Status"] == "Success", after
        rows = {r["id"]: r for r in emu.rows("shop", "wide")}
        assert sorted(rows) == [1, 2, 3]
        assert (rows[1]["qty"], rows[1]["ref"], rows[1]["price"]) == (5, "abcdefgh", Decimal("9999.99"))
        assert (rows[3]["qty"], rows[3]["ref"], rows[3]["price"]) == (BIG, "r" * 300, Decimal("1234567890.12"))
        assert (await q(conn, "SELECT qty FROM wide WHERE id = 3"))[0][0] == BIG
        conn.close()


REFUSALS = [
    ("MODIFY COLUMN qty SMALLINT NULL", "Can not change INT to SMALLINT"),
    ("MODIFY COLUMN qty DECIMAL(12,2) NULL", "Can not change INT to DECIMAL64(12,2)"),
    ("MODIFY COLUMN ratio INT NULL", "Can not change FLOAT to INT"),
    ("MODIFY COLUMN price DECIMAL(12,4) NULL DEFAULT '0'", None),                  # scale up: allowed
    ("MODIFY COLUMN price DECIMAL(5,1) NULL DEFAULT '0'", "Can not change DECIMAL32(6,2) to DECIMAL32(5,1)"),
    ("MODIFY COLUMN ref VARCHAR(4) NULL", "Cannot shorten string length"),
    ("MODIFY COLUMN ref BIGINT NULL", None),                                        # VARCHAR → BIGINT: allowed
    ("MODIFY COLUMN qty BIGINT NOT NULL", "Can not change from nullable to non-nullable"),
    ("MODIFY COLUMN price DECIMAL(12,2) NULL", "Can not change default value"),
    ("MODIFY COLUMN nope BIGINT NULL", "Column[nope] does not exists"),
    ("MODIFY COLUMN tiny DATE NOT NULL", "Can not change TINYINT to DATE"),
]


@pytest.mark.parametrize(("clause", "error"), REFUSALS)
async def test_modify_column_refuses_what_starrocks_refuses_in_its_words(clause: str, error: str | None) -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=0) as emu:
        conn = await connect(emu, db="shop")
        await q(conn, WIDE)
        if error is None:
            try:
                await q(conn, f"ALTER TABLE wide {clause}")
            except pymysql.err.MySQLError as exc:                   # StarRocks allows it; the emulator
                assert exc.args[0] == 1235 and "emulator:" in exc.args[1]       # may not convert it
        else:
            with pytest.raises(pymysql.err.MySQLError) as info:
                await q(conn, f"ALTER TABLE wide {clause}")
            assert info.value.args == (1064, error)
            assert not emu.sql.jobs.jobs                            # no job for a refused change
        conn.close()


async def test_a_primary_key_column_cannot_be_modified_and_one_job_at_a_time() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=1.0) as emu:
        conn = await connect(emu, db="shop")
        await q(conn, "CREATE TABLE shop.pk (id INT NOT NULL, v INT, s INT) PRIMARY KEY(id) "
                      "DISTRIBUTED BY HASH(id) ORDER BY (s)")
        for sql, text in [("ALTER TABLE pk MODIFY COLUMN id BIGINT NOT NULL",
                           "Can not modify key column: id for primary key table"),
                          ("ALTER TABLE pk MODIFY COLUMN s BIGINT NULL",
                           "Can not modify sort column in primary data model table")]:
            with pytest.raises(pymysql.err.MySQLError) as info:
                await q(conn, sql)
            assert info.value.args == (1064, text)
        await q(conn, "ALTER TABLE pk MODIFY COLUMN v BIGINT NULL")
        with pytest.raises(pymysql.err.MySQLError) as info:
            await q(conn, "ALTER TABLE pk MODIFY COLUMN v LARGEINT NULL")
        assert info.value.args[0] == 1064 and "schema change operation is in progress" in info.value.args[1]
        conn.close()
