"""The emulator's catalog as the MySQL front sees it (MYSQL.md §4): databases and tables shared with
the Stream Load side (:class:`.store.Catalog`, under :attr:`.cluster.Cluster.lock`), the metadata
``SHOW CREATE TABLE`` needs, the schema change jobs, and the statement log.

No sqlglot or mysql-mimic here: :meth:`StreamLoadEmulator.statements` works without the front.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import sqlmodify
from .errors import EmulatorError, LoadFailure
from .schema import Column, TableSchema
from .schemachange import AlterJob, SchemaChanges
from .sqlnames import (
    ERR_BAD_DB,
    ERR_BAD_TABLE,
    ERR_DB_CREATE_EXISTS,
    ERR_DB_DROP_EXISTS,
    ERR_DUP_FIELDNAME,
    ERR_PARSE,
    ERR_TABLE_EXISTS,
    SqlError,
    unsupported,
)
from .types import ConvertFailure, make_converter

if TYPE_CHECKING:
    from .cluster import Cluster
    from .sqlddl import TableMeta

SCHEMA_CHANGE_S = 5.0      # default length of a schema change job (no fast_schema_evolution)
INSERT_TIMEOUT_S = 14400   # query_timeout of INSERT (seconds; shown as TimeoutMs by SHOW PROC)


@dataclass
class StatementRecord:
    """One statement the MySQL front received, in arrival order (``emu.statements()``)."""
    time: float
    sql: str
    user: str
    database: str | None
    connection_id: int
    error: str | None = None     # the ERR packet's message, None when it succeeded

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SqlCatalog:
    def __init__(self, cluster: Cluster, schema_change_s: float = SCHEMA_CHANGE_S) -> None:
        self.cluster = cluster
        self.meta: dict[tuple[str, str], TableMeta] = {}
        self.jobs = SchemaChanges(schema_change_s, self._apply, lambda: cluster.labels._next_id + 1)
        self.log: list[StatementRecord] = []
        # (host, HTTP port, alive) of each BE, for SHOW BACKENDS; set by the emulator
        self.backends: Callable[[], list[tuple[str, int, bool]]] = list

    # ------------------------------------------------------------------ statement log

    def record(self, sql: str, user: str, database: str | None, connection_id: int) -> StatementRecord:
        rec = StatementRecord(time.time(), sql, user, database, connection_id)
        with self.cluster.lock:
            self.log.append(rec)
        return rec

    def statements(self) -> list[StatementRecord]:
        with self.cluster.lock:
            return list(self.log)

    # ------------------------------------------------------------------ lookups

    def databases(self) -> list[str]:
        with self.cluster.lock:
            return sorted(self.cluster.catalog.dbs)

    def check_db(self, db: str | None) -> str:
        if db is None:
            raise SqlError(1046, "No database selected")
        with self.cluster.lock:
            if db not in self.cluster.catalog.dbs:
                raise SqlError(ERR_BAD_DB, f"Unknown database '{db}'")
        return db

    def tables(self, db: str) -> list[str]:
        self.check_db(db)
        with self.cluster.lock:
            return sorted(self.cluster.catalog.dbs[db])

    def schema(self, db: str, table: str) -> TableSchema:
        self.check_db(db)
        self.jobs.advance()
        with self.cluster.lock:
            data = self.cluster.catalog.dbs[db].get(table)
            if data is None:
                raise SqlError(ERR_BAD_TABLE, f"Unknown table '{db}.{table}'")
            return data.schema

    def meta_of(self, db: str, table: str) -> TableMeta:
        from .sqlddl import TableMeta
        return self.meta.setdefault((db, table), TableMeta())

    def learn_ddl(self, db: str, text: str) -> None:
        """PROPERTIES, DISTRIBUTED BY and comments of tables added as DDL text (``emu.add_table``)."""
        from .sqlddl import metas_of
        with self.cluster.lock:
            for tdb, name, meta in metas_of(text):
                self.meta[(tdb or db, name)] = meta

    def rows(self, db: str, table: str, limit: int | None) -> tuple[list[str], list[tuple[Any, ...]]]:
        schema = self.schema(db, table)
        with self.cluster.lock:
            rows = self.cluster.catalog.table(db, table).rows()
        names = schema.names
        return names, [tuple(r[n] for n in names) for r in rows[:limit]]

    def count(self, db: str, table: str) -> int:
        self.schema(db, table)
        with self.cluster.lock:
            return self.cluster.catalog.table(db, table).count()

    # ------------------------------------------------------------------ writes (INSERT, UPDATE)

    def write(self, db: str, table: str, ops: list[tuple[int, tuple[Any, ...]]]) -> None:
        """Commit ``ops`` as one transaction and one version (an INSERT or UPDATE statement)."""
        c = self.cluster
        with c.lock:
            try:
                c.versions.check(db, table)
            except LoadFailure as exc:
                raise SqlError(ERR_PARSE, exc.message) from None
            txn = c.labels.begin(db, table, f"insert_{uuid.uuid4().hex}", kind="insert", be_index=-1,
                                 timeout_s=INSERT_TIMEOUT_S)
            c.apply_commit(txn, ops)

    # ------------------------------------------------------------------ DDL

    def drop_database(self, db: str, *, if_exists: bool) -> None:
        with self.cluster.lock:
            tables = self.cluster.catalog.dbs.pop(db, None)
            if tables is None:
                if if_exists:
                    return
                raise SqlError(ERR_DB_DROP_EXISTS, f"Can't drop database '{db}'; database doesn't exist")
            for name in tables:
                self._forget(db, name)

    def drop_table(self, db: str, table: str, *, if_exists: bool) -> None:
        self.check_db(db)
        with self.cluster.lock:
            if self.cluster.catalog.dbs[db].pop(table, None) is None:
                if if_exists:
                    return
                raise SqlError(ERR_BAD_TABLE, f"Unknown table '{table}'")
            self._forget(db, table)

    def truncate(self, db: str, table: str) -> None:
        self.schema(db, table)
        with self.cluster.lock:
            self.cluster.catalog.table(db, table).truncate()
            self.cluster.timelines.pop((db, table), None)
            self.cluster.versions.reset(db, table)

    def _forget(self, db: str, table: str) -> None:
        self.meta.pop((db, table), None)
        self.cluster.timelines.pop((db, table), None)
        self.cluster.versions.reset(db, table)

    def create_database(self, db: str, *, if_not_exists: bool) -> None:
        with self.cluster.lock:
            if db in self.cluster.catalog.dbs:
                if if_not_exists:
                    return
                raise SqlError(ERR_DB_CREATE_EXISTS, f"Can't create database '{db}'; database exists")
            self.cluster.catalog.add_database(db)

    def create_table(self, db: str, schema: TableSchema, meta: TableMeta, *, if_not_exists: bool) -> None:
        self.check_db(db)
        with self.cluster.lock:
            if schema.name in self.cluster.catalog.dbs[db]:
                if if_not_exists:
                    return
                raise SqlError(ERR_TABLE_EXISTS, f"Table '{schema.name}' already exists")
            self.cluster.catalog.add_table(db, schema)
            self.cluster.versions.reset(db, schema.name)
            self.meta[(db, schema.name)] = meta

    def add_columns(self, db: str, table: str, cols: list[tuple[Column, str]]) -> AlterJob:
        """``ALTER TABLE ... ADD COLUMN``: a schema change job (§4.3), or a refusal."""
        self.check_db(db)
        with self.cluster.lock:
            if table not in self.cluster.catalog.dbs[db]:
                raise SqlError(ERR_PARSE, f"Table {table} is not found")
        self.jobs.check_normal(db, table)
        old = self.schema(db, table)
        names = {c.name.lower() for c in old.columns}
        fill = []
        for col, _comment in cols:
            if col.name.lower() in names:
                raise SqlError(ERR_DUP_FIELDNAME, f"Duplicate column name '{col.name}'")
            names.add(col.name.lower())
            fill.append(self._fill_value(col))
        new = replace(old, columns=old.columns + tuple(c for c, _ in cols), index={})
        comments = {c.name: comment for c, comment in cols if comment}
        return self.jobs.submit(db, table, new, tuple(fill), comments,
                                fast=self.meta_of(db, table).fast_schema_evolution)

    def modify_columns(self, db: str, table: str, cols: list[tuple[tuple[Column, str], bool]]) -> AlterJob:
        """``ALTER TABLE ... MODIFY COLUMN``: a schema change job (§4.3a), or StarRocks' refusal."""
        with self.cluster.lock:
            if table not in self.cluster.catalog.dbs[db]:
                raise SqlError(ERR_PARSE, f"Table {table} is not found")
        self.jobs.check_normal(db, table)
        old = self.schema(db, table)
        columns, retype, comments = list(old.columns), {}, {}
        for (col, comment), key in cols:
            i = old.index.get(col.name.lower())
            if i is None:
                raise SqlError(ERR_PARSE, f"Column[{col.name}] does not exists")
            col = replace(col, name=old.columns[i].name)               # the column keeps its name
            retype[i] = sqlmodify.check(old, old.columns[i], col, key=key)
            columns[i] = col
            if comment:
                comments[col.name] = comment
        new = replace(old, columns=tuple(columns), index={})
        return self.jobs.submit(db, table, new, (), comments, fast=False, retype=retype)

    @staticmethod
    def _fill_value(col: Column) -> Any:
        if col.default is None:
            if not col.nullable:
                raise unsupported(f"ADD COLUMN {col.name} NOT NULL without a DEFAULT")
            return None
        try:
            return make_converter(col)(col.default)
        except ConvertFailure:
            raise SqlError(ERR_PARSE, f"Invalid default value for '{col.name}'") from None

    def _apply(self, job: AlterJob) -> None:
        with self.cluster.lock:
            try:
                data = self.cluster.catalog.table(job.db, job.table)
                if job.retype:
                    data.retype(job.schema, job.retype)
                else:
                    data.add_columns(job.schema, job.fill)
            except EmulatorError:        # the table was replaced meanwhile (emu.add_table)
                return
            self.meta_of(job.db, job.table).column_comments.update(job.comments)
