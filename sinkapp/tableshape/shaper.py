"""Tables that follow the data: create the target table, add the columns a schema brings.

Who calls: a route's intake (:meth:`RouteShape.prepare`, before the records of a fetched batch are
encoded, and before records read again from Kafka are encoded again) and the route's Chunker
(:meth:`RouteShape.gate`, per record: a record of a refused schema is a bad record).

Per table (:class:`TableShapes`, shared by every route loading it, one lock each):
- columns are read from ``information_schema.COLUMNS`` the first time a schema is checked, and again
  after a failed statement (a column another worker added counts as done);
- a missing table with ``auto.create``: ``CREATE DATABASE IF NOT EXISTS`` (a target may name its
  database), then ``CREATE TABLE IF NOT EXISTS`` from the first schema (a
  PRIMARY KEY table on the record key's fields when the key has a schema, else DUPLICATE KEY);
- a field the table lacks with ``auto.evolve``: one ``ALTER TABLE ... ADD COLUMN`` (nullable, last)
  for all of a schema's new fields, then ``SHOW ALTER TABLE COLUMN`` until FINISHED, within
  ``sinkapp.schema.change.timeout.ms``; CANCELLED or the timeout stops the route;
- a column narrower than its field with ``auto.evolve`` (INT for an int64, VARCHAR(36) for a string,
  DECIMAL(10,2) for a DECIMAL(12,2), FLOAT for a double; :func:`~.compat.widened`): first one
  ``ALTER TABLE ... MODIFY COLUMN`` for all of them, awaited the same way (columns read again just
  before, so a column another worker widened counts as done). A change the FE refuses (a PRIMARY KEY
  column: "Can not modify key column ...") makes the schema refused with the FE's words.

Per schema (:class:`RouteShape`), a verdict, kept for the worker's life: fine, or refused with the
reason (a field whose type differs from its column's and no widening makes fit, a new required field
without a default, a name StarRocks cannot take). Refused records are bad records: dead-lettered with
``errors.tolerance=all``, else they stop the route. Nothing is ever dropped or renamed, and a type is
only ever widened.

Rows in flight: a schema's records are encoded only after its verdict, so rows of a widened type go
into a batch only once the MODIFY job is FINISHED; rows of the old schema keep loading meanwhile.

Exactly-once: the DDL happens before the batch that needs it is sealed, and is idempotent (columns
re-read), so a crash between an ALTER and the load replays the same batch under the same label.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from sinkapp.config.types import TableSettings
from sinkapp.errors import ConversionError, DdlError, DdlUnreachable, SchemaChangeFailed, SchemaChangeRunning
from sinkapp.pipeline.types import TableKey
from sinkapp.tableshape import mapping
from sinkapp.tableshape.client import DUP_COLUMN, DdlClient, TableColumn
from sinkapp.tableshape.evolve import compare
from sinkapp.tableshape.names import check_identifier, quote
from sinkapp.tableshape.sources import Described

__all__ = ["RouteShape", "TableShapes", "compare"]
#: how StarRocks' FE words a refused column change ("Can not change INT to VARCHAR(10)", "Cannot shorten
#: string length", "Can not modify key column: k for primary key table")
_REFUSED = ("can not ", "cannot ")
_WIDEN_TRIES = 5

log = logging.getLogger(__name__)


@dataclass
class TableShape:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    columns: dict[str, TableColumn] | None = None       # by lower-case name; None: not read yet
    missing_warned: set[str] = field(default_factory=set)


class TableShapes:
    """The worker's view of its target tables' columns, and the DDL that changes them."""

    def __init__(self, client: DdlClient, settings: TableSettings,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.s, self.sleep, self.clock = client, settings, sleep, clock
        self.tables: dict[TableKey, TableShape] = {}
        self.databases: set[str] = set()                       # made (or found) by auto.create
        self.changes: Counter[tuple[str, str]] = Counter()     # (table, create|add_column|modify_column)
        self.refused: Counter[str] = Counter()                 # schemas refused, by table
        self.trouble: str | None = None

    async def verdict(self, table: TableKey, d: Described) -> str | None:
        """Make ``table`` take records of schema ``d``; None when it does, else why it cannot."""
        shape = self.tables.setdefault(table, TableShape())
        async with shape.lock:
            return await self._retrying(lambda: self._verdict(table, shape, d))

    async def _retrying(self, step: Callable[[], Awaitable[str | None]]) -> str | None:
        delay = 0.5
        while True:
            try:
                out = await step()
                self.trouble = None
                return out
            except DdlUnreachable as exc:             # an FE restart: wait it out, as for Stream Load
                self.trouble = str(exc)
                log.warning("DDL connection: %s; retrying in %.1fs", exc, delay)
                await self.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _verdict(self, table: TableKey, shape: TableShape, d: Described) -> str | None:
        if shape.columns is None:
            shape.columns = await self._read(table)
        if shape.columns is None:
            await self._create(table, d)
            shape.columns = await self._read(table)
            if shape.columns is None:
                raise SchemaChangeFailed(f"CREATE TABLE {table} succeeded but the table is not listed in "
                                         "information_schema.COLUMNS")
        diff = compare(table, shape.columns, d, self.s.auto_evolve)
        if diff.widen and not diff.reason:
            refused = await self._widen(table, shape, d)
            if refused is not None:
                return refused
            diff = compare(table, shape.columns, d, self.s.auto_evolve)
        reason, new = diff.reason, diff.new
        if reason or not new:
            return reason
        if not self.s.auto_evolve:
            names = [c.name for c in new if c.name.lower() not in shape.missing_warned]
            if names:
                shape.missing_warned.update(n.lower() for n in names)
                log.warning("table %s has no column for field(s) %s of %s; auto.evolve=false, so their values "
                            "are not loaded (StarRocks ignores JSON keys without a column)", table,
                            ", ".join(names), d.what)
            return None
        await self._add(table, shape, new, d)
        return None

    async def _read(self, table: TableKey) -> dict[str, TableColumn] | None:
        cols = await self.client.columns(table.database, table.table)
        return None if cols is None else {c.name.lower(): c for c in cols}

    async def _create(self, table: TableKey, d: Described) -> None:
        if not self.s.auto_create:
            raise SchemaChangeFailed(f"table {table} does not exist and auto.create=false: create it, or set "
                                     "auto.create=true")
        if d.cdc and not d.key:
            raise SchemaChangeFailed(
                f"table {table} does not exist and the route's Debezium change events must go into a PRIMARY KEY "
                "table (so updates and deletes apply), but their record keys carry no schema to take its key "
                "from: use key.converter=org.apache.kafka.connect.json.JsonConverter with "
                "key.converter.schemas.enable=true (or Avro / Protobuf keys through the registry), or create the "
                "table yourself")
        sql = mapping.create_table_sql(table.database, table.table, d.columns, d.key, self.s.create_buckets,
                                       dict(self.s.create_properties))
        try:
            await self._database(table.database)
            await self.client.query(sql)
        except DdlError as exc:
            if isinstance(exc, DdlUnreachable):
                raise
            raise SchemaChangeFailed(f"auto.create: CREATE TABLE {table} failed: {exc} (statement: {sql})") from None
        self.changes[(str(table), "create")] += 1
        kind = f"PRIMARY KEY({', '.join(d.key)})" if d.key else "DUPLICATE KEY"
        log.info("schema change: created table %s (%s) from %s: %d column(s)", table, kind, d.what, len(d.columns))

    async def _database(self, database: str) -> None:
        """``CREATE DATABASE IF NOT EXISTS`` before a database's first table (once per worker)."""
        if database in self.databases:
            return
        await self.client.query(f"CREATE DATABASE IF NOT EXISTS {quote(check_identifier(database, 'database'))}")
        self.databases.add(database)

    async def _add(self, table: TableKey, shape: TableShape, new: list[mapping.Column], d: Described) -> None:
        deadline = self.clock() + self.s.change_timeout_ms / 1000.0
        while new:
            try:
                await self.client.query(mapping.add_columns_statement(table.database, table.table, new))
            except DdlError as exc:
                if isinstance(exc, DdlUnreachable):
                    raise
                if exc.code != DUP_COLUMN and not isinstance(exc, SchemaChangeRunning):
                    raise SchemaChangeFailed(f"ALTER TABLE {table} ADD COLUMN {', '.join(c.name for c in new)} "
                                             f"failed: {exc}") from None
                # another worker (or an admin) is changing the table: wait, then look again
                await self._await_job(table, deadline)
                shape.columns = await self._read(table)
                assert shape.columns is not None
                reason, new, _ = compare(table, shape.columns, d)
                if reason:
                    raise SchemaChangeFailed(reason) from None
                continue
            await self._await_job(table, deadline)
            self.changes[(str(table), "add_column")] += len(new)
            log.info("schema change: added column(s) %s to %s for %s", ", ".join(
                f"{c.name} {c.type}" for c in new), table, d.what)
            shape.columns = await self._read(table)
            assert shape.columns is not None
            new = compare(table, shape.columns, d).new

    async def _widen(self, table: TableKey, shape: TableShape, d: Described) -> str | None:
        """Widen the columns ``d`` needs wider (one MODIFY COLUMN job); None when done, else why not."""
        deadline = self.clock() + self.s.change_timeout_ms / 1000.0
        for _ in range(_WIDEN_TRIES):
            shape.columns = await self._read(table)          # another worker may have widened them
            assert shape.columns is not None
            diff = compare(table, shape.columns, d, self.s.auto_evolve)
            if diff.reason or not diff.widen:
                return diff.reason
            sql = mapping.modify_columns_statement(table.database, table.table, [w.retype() for w in diff.widen])
            try:
                await self.client.query(sql)
            except DdlError as exc:
                if isinstance(exc, DdlUnreachable):
                    raise
                if not isinstance(exc, SchemaChangeRunning):
                    if any(t in str(exc).lower() for t in _REFUSED):
                        return (f"auto.evolve cannot widen column(s) of {table} for {d.what}: StarRocks refused "
                                f"{sql}: {exc}")
                    raise SchemaChangeFailed(f"{sql} failed: {exc}") from None
                await self._await_job(table, deadline)     # someone else's job first, then look again
                continue
            await self._await_job(table, deadline)
            self.changes[(str(table), "modify_column")] += len(diff.widen)
            log.info("schema change: widened column(s) %s of %s for %s", ", ".join(w.text() for w in diff.widen),
                     table, d.what)
        shape.columns = await self._read(table)
        assert shape.columns is not None
        diff = compare(table, shape.columns, d, self.s.auto_evolve)
        if diff.widen:
            raise SchemaChangeFailed(f"the columns of {table} still need widening for {d.what} after "
                                     f"{_WIDEN_TRIES} schema changes: {', '.join(w.text() for w in diff.widen)}")
        return diff.reason

    async def _await_job(self, table: TableKey, deadline: float) -> None:
        delay = 0.1                                   # SHOW ALTER is cheap: poll often, up to 4 per second
        while True:
            job = await self.client.last_alter_job(table.database, table.table)
            if job is None or job.state == "FINISHED":
                return
            if job.state == "CANCELLED":
                raise SchemaChangeFailed(f"the schema change job {job.job_id} of {table} was CANCELLED: {job.msg}")
            if self.clock() > deadline:
                raise SchemaChangeFailed(
                    f"the schema change job {job.job_id} of {table} is still {job.state} after "
                    f"sinkapp.schema.change.timeout.ms={self.s.change_timeout_ms}; raise it, or see SHOW ALTER "
                    "TABLE COLUMN")
            await self.sleep(delay)
            delay = min(delay * 1.5, 0.25)


class RouteShape:
    """One route's schema verdicts (``prepare``, async) and the per-record gate (``gate``, sync)."""

    def __init__(self, shapes: TableShapes, table: TableKey, source: Any) -> None:
        self.shapes, self.table, self.source = shapes, table, source
        self.verdicts: dict[Hashable, str | None] = {}
        self.refused: dict[Hashable, str] = {}

    async def prepare(self, records: list[Any]) -> None:
        """Verdicts for the schemas of ``records`` not seen yet (DDL when a table must change)."""
        first: dict[Hashable, Any] = {}
        for r in records:
            k = self.source.key_of(r.value)
            if k is not None and k not in self.verdicts and k not in first:
                first[k] = r
        for k, r in first.items():
            d = None
            try:
                d = await self.source.describe(r)
                reason = None if d is None else await self.shapes.verdict(self.table, d)
            except ConversionError as exc:            # a name or type StarRocks cannot take
                reason = f"{exc}"
            self.verdicts[k] = reason
            if reason is not None:
                self.refused[k] = reason
                self.shapes.refused[str(self.table)] += 1
                log.error("route into %s: records of %s cannot be loaded: %s", self.table,
                          d.what if d is not None else "a schema", reason)

    def gate(self, raw: bytes | None) -> None:
        """Raise ConversionError for a record whose schema was refused."""
        if self.refused:
            k = self.source.key_of(raw)
            reason = self.refused.get(k) if k is not None else None
            if reason is not None:
                raise ConversionError(reason)
