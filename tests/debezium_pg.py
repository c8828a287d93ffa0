"""A real Debezium source for the tests: PostgreSQL (sinkapp_testkit.postgres) streamed into Kafka
by Debezium's PostgreSQL connector in Kafka Connect (sinkapp_testkit.connect).

Who calls: tests/test_debezium_postgres_kafka.py. One PostgreSQL server and one Kafka Connect
worker serve the whole session (fixtures in tests/conftest.py); each test gets its own database,
replication slot, publication and topic prefix (:class:`PgSource`), removed at the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import psycopg
from sinkapp_testkit.connect.standalone import ConnectStandalone
from sinkapp_testkit.postgres import LocalPostgres


def wait_for(pred: Any, timeout_s: float, what: str, detail: Any = lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}\n{detail()}")
        time.sleep(0.2)


class PgSource:
    """One PostgreSQL database whose tables Debezium streams to ``<prefix>.public.<table>``."""

    def __init__(self, pg: LocalPostgres, connect: ConnectStandalone, partitions: int = 1) -> None:
        self.pg, self.connect, self.partitions = pg, connect, partitions
        self.name = f"src_{uuid.uuid4().hex[:10]}"
        self.prefix = self.name
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.name}")
        self.conn = psycopg.connect(pg.dsn(self.name), autocommit=True)
        self.connector: str | None = None

    def topic(self, table: str) -> str:
        return f"{self.prefix}.public.{table}"

    def sql(self, *statements: str, params: Iterable[Any] | None = None) -> None:
        """Each statement in autocommit (one transaction each)."""
        for s in statements:
            self.conn.execute(s, params)  # type: ignore[arg-type]

    def transaction(self, statements: list[tuple[str, Any]]) -> None:
        """Several statements in one transaction (one Debezium transaction, several events)."""
        with self.conn.transaction():
            for s, params in statements:
                self.conn.execute(s, params)

    def many(self, statement: str, rows: list[Any]) -> None:
        """``executemany`` in one transaction."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(statement, rows)

    def rows(self, table: str, order_by: str = "1") -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(f"SELECT * FROM {table} ORDER BY {order_by}")
            return list(cur.fetchall())

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql).fetchall())

    def start(self, **over: str) -> None:
        """Start the Debezium connector (snapshot, then streaming) and wait until its task runs."""
        name = self.connector = self.name
        config = {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector", "tasks.max": "1",
            "database.hostname": "127.0.0.1", "database.port": str(self.pg.port), "database.user": self.pg.user,
            "database.password": "unused", "database.dbname": self.name, "topic.prefix": self.prefix,
            "plugin.name": "pgoutput", "slot.name": self.name, "publication.name": f"{self.name}_pub",
            "publication.autocreate.mode": "all_tables", "schema.include.list": "public",
            "topic.creation.default.replication.factor": "1",
            "topic.creation.default.partitions": str(self.partitions),
            "key.converter.schemas.enable": "true", "value.converter.schemas.enable": "true",
            "status.update.interval.ms": "500", "heartbeat.interval.ms": "0",
            **over}
        self.connect.put_connector(name, config)

        def running() -> bool:
            tasks = self.connect.task_states(name)
            failed = [t for t in tasks if t.get("state") == "FAILED"]
            if failed:
                raise AssertionError(f"Debezium task failed: {failed[0].get('trace', '')[:3000]}")
            return any(t.get("state") == "RUNNING" for t in tasks)

        wait_for(running, 120, f"the Debezium connector {name} to run", self.connect_log)
        # the task runs before its snapshot ends; the slot turns active when streaming begins
        wait_for(self.streaming, 120, f"the Debezium connector {name} to finish its snapshot", self.connect_log)

    def connect_log(self) -> str:
        return self.connect.log.read_text(errors="replace")[-4000:]

    def streaming(self) -> bool:
        """True once Debezium streams (its slot is active): its snapshot is done."""
        return bool(self.query(f"SELECT 1 FROM pg_replication_slots WHERE slot_name = '{self.name}' AND active"))

    def close(self) -> None:
        if self.connector is not None:
            try:
                self.connect.delete_connector(self.connector)
            except OSError:
                pass
        self.conn.close()
        try:
            self._drop()
        except psycopg.OperationalError:
            pass            # seen once: the server closed the connection; the next test's own database is new

    def _drop(self) -> None:
        with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
            wait_for(lambda: not conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND active",
                                              (self.name,)).fetchall(), 60, "the replication slot to be released")
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                         (self.name,))
            conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
