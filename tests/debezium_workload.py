"""The Debezium tests' source table: every common PostgreSQL type with hostile values, a change
workload, and the value-by-value comparison of the StarRocks table with ``SELECT * FROM`` the source.

Who calls: tests/test_debezium_postgres_kafka.py. Values are deterministic (seeded); each type's
edge values come round in turn: integer limits, float32/float64 extremes and -0, numeric at 38
digits, years 0001 and 9999, time zones +14 and -12, text with quotes, backslashes, newlines,
tabs, unicode and what looks like JSON or NULL, NULL in every column.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import struct
import uuid
from decimal import Decimal
from typing import Any

from psycopg.types.json import Json, Jsonb

SOURCE_DDL = [
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'ünïcode mood')",
    """CREATE TABLE items (
        id bigint PRIMARY KEY, i integer, si smallint, bi bigint, r real, d double precision,
        n numeric(12,3), nn numeric, big numeric(38,0), b boolean, t text, vc varchar(50),
        dt date, tm time, ts timestamp, tz timestamptz, u uuid, j json, jb jsonb, by bytea,
        arr integer[], tarr text[], e mood, iv interval)""",
]
COLUMNS = ["id", "i", "si", "bi", "r", "d", "n", "nn", "big", "b", "t", "vc", "dt", "tm", "ts", "tz", "u", "j",
           "jb", "by", "arr", "tarr", "e", "iv"]
#: the StarRocks table a user would make for it by hand (the Java connector creates none)
HAND_MADE = """CREATE TABLE {name} (
    id BIGINT NOT NULL, i INT, si SMALLINT, bi BIGINT, r FLOAT, d DOUBLE, n DECIMAL(12,3), nn STRING,
    big DECIMAL(38,0), b BOOLEAN, t STRING, vc VARCHAR(200), dt DATE, tm VARCHAR(32), ts DATETIME, tz DATETIME,
    u VARCHAR(36), j JSON, jb JSON, `by` STRING, arr JSON, tarr JSON, e STRING, iv BIGINT, extra STRING
) PRIMARY KEY (id) DISTRIBUTED BY HASH(id)"""

TEXTS = ["plain", "quote ' and \" and \\ backslash", "new\nline\r\ncrlf\ttab", "ünïcödé ✓ 日本語 🚀 עברית",
         '{"looks": "like json"}', "NULL", "\\N", "", "  spaces  ", "zero\u200bwidth", "a,b;c|d", "x" * 3000]
UTC = dt.UTC
ZONES = [dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12)), UTC,
         dt.timezone(dt.timedelta(hours=5, minutes=45))]


def _pick(rng: random.Random, seq: list[Any]) -> Any:
    return seq[rng.randrange(len(seq))]


def source_row(i: int, version: int = 0) -> dict[str, Any]:
    """Row ``i`` at ``version`` (an update makes the next version). Every 11th row is NULL but its id."""
    if i % 11 == 5:
        return {"id": i}
    rng = random.Random(i * 7919 + version)
    k = i + version
    return {
        "id": i,
        "i": [-2**31, 2**31 - 1, 0, rng.randint(-10**6, 10**6)][k % 4],
        "si": [-32768, 32767, rng.randint(-100, 100)][k % 3],
        "bi": [-2**63, 2**63 - 1, rng.randint(-10**15, 10**15)][k % 3],
        "r": [1.5, -0.0, 3.4028234663852886e38, 1.1754943508222875e-38, rng.random()][k % 5],
        "d": [5e-324, -0.0, 1.7976931348623157e308, 0.1, rng.uniform(-1e6, 1e6)][k % 5],
        "n": Decimal(rng.randint(-999_999_999_999, 999_999_999_999)).scaleb(-3),
        "nn": [Decimal("1e-20"), Decimal("123456789012345678901234567890.123456789"), Decimal("-0.5"),
               Decimal(rng.randint(-10**9, 10**9)).scaleb(-rng.randint(0, 12))][k % 4],
        "big": [10**38 - 1, -(10**38 - 1), 0, rng.randint(-10**20, 10**20)][k % 4],
        "b": bool(k % 2),
        "t": TEXTS[k % len(TEXTS)],
        "vc": _pick(rng, TEXTS[:11])[:50],
        "dt": [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1), dt.date(2024, 2, 29)][k % 4],
        "tm": [dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 34, 56, 789000)][k % 3],
        "ts": [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
               dt.datetime(2024, 2, 29, 12, 0, 0, 123456)][k % 3],
        "tz": [dt.datetime(2020, 1, 1, 0, 0, tzinfo=ZONES[0]), dt.datetime(2020, 1, 1, 0, 0, tzinfo=ZONES[1]),
               dt.datetime(9999, 12, 30, 0, 0, tzinfo=ZONES[0]), dt.datetime(1, 1, 2, 0, 0, tzinfo=ZONES[1]),
               dt.datetime(2024, 6, 1, 8, 30, 15, 250000, tzinfo=ZONES[3])][k % 5],
        "u": uuid.UUID(int=rng.getrandbits(128), version=4),
        "j": Json({"k": [1, 2, None], "s": "x\ny \"q\"", "v": version}),
        "jb": Jsonb({"nested": {"a": [True, False]}, "n": 1.25, "t": TEXTS[k % 4]}),
        "by": bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))) + b"\x00",
        "arr": [[1, None, -3], [], [2**31 - 1]][k % 3],
        "tarr": [["a", "b,c", 'q"uote', None], ["ünï"]][k % 2],
        "e": ["sad", "ok", "happy", "ünïcode mood"][k % 4],
        "iv": ["1 day 02:00:00", "1 year 2 mons 3 days 04:05:06.789", "-00:00:01", "00:00:00.000001"][k % 4],
    }


def insert_sql(row: dict[str, Any]) -> tuple[str, list[Any]]:
    cols = list(row)
    marks = ", ".join("%s::interval" if c == "iv" else "%s::mood" if c == "e" else "%s" for c in cols)
    return f"INSERT INTO items ({', '.join(cols)}) VALUES ({marks})", [row[c] for c in cols]


def update_sql(row: dict[str, Any]) -> tuple[str, list[Any]]:
    """Every column of ``row`` but id (a NULL row sets them all NULL)."""
    full = {c: row.get(c) for c in COLUMNS if c != "id"}
    sets = ", ".join(f"{c} = %s::interval" if c == "iv" else f"{c} = %s::mood" if c == "e" else f"{c} = %s"
                     for c in full)
    return f"UPDATE items SET {sets} WHERE id = %s", [*full.values(), row["id"]]


#: ``iv_us``: the interval as Debezium's MicroDuration counts it (interval.handling.mode=numeric, its
#: default): a year is 365.25 days as in PostgreSQL's epoch, a month 30.4375 days where PostgreSQL
#: counts 30 (37,800,000,000 µs = 0.4375 days more per month)
SELECT_SOURCE = ("SELECT *, (extract(epoch FROM iv) * 1000000 + extract(month FROM iv) * 37800000000)::bigint "
                 "AS iv_us FROM {table} ORDER BY id")


def _f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


def _time(v: Any) -> str:
    return (v if isinstance(v, dt.time) else dt.time.fromisoformat(str(v))).isoformat(timespec="microseconds")


def _datetime(v: Any) -> str:
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v.isoformat(sep=" ", timespec="microseconds")
    return dt.datetime.fromisoformat(str(v)).isoformat(sep=" ", timespec="microseconds")


def normal(col: str, v: Any, side: str) -> Any:
    """A value in the one form both sides are compared in (``side`` "pg" or "sr")."""
    if v is None:
        return None
    if col in ("i", "si", "bi", "iv"):
        return int(v)
    if col == "r":
        return _f32(float(v))
    if col == "d":
        return float(v)
    if col in ("n", "nn", "big"):
        return Decimal(str(v))
    if col == "b":
        return bool(v)
    if col in ("dt",):
        return str(v)[:10] if side == "sr" else v.isoformat()
    if col == "tm":
        return _time(v)
    if col in ("ts", "tz"):
        return _datetime(v)
    if col in ("j", "jb", "arr", "tarr", "doc", "tags"):
        return _json(v)
    if col == "by":
        return base64.b64encode(v).decode() if side == "pg" else str(v)
    return str(v)


def compare(source: list[dict[str, Any]], table: list[dict[str, Any]], columns: list[str]) -> list[str]:
    """Every difference between the source rows and the StarRocks rows (empty: equal)."""
    got = {int(r["id"]): r for r in table}
    want = {int(r["id"]): r for r in source}
    diffs = [f"id {i}: missing in StarRocks" for i in sorted(set(want) - set(got))]
    diffs += [f"id {i}: in StarRocks, not in the source" for i in sorted(set(got) - set(want))]
    for i in sorted(set(want) & set(got)):
        for col in columns:
            pg_value = want[i]["iv_us"] if col == "iv" else want[i].get(col)
            a, b = normal(col, pg_value, "pg"), normal(col, got[i].get(col), "sr")
            if a != b:
                diffs.append(f"id {i} column {col}: source {a!r:.200} StarRocks {b!r:.200}")
    return diffs
