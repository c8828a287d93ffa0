"""Schema change jobs of ``ALTER TABLE ... ADD COLUMN`` and ``MODIFY COLUMN`` (MYSQL.md §4.3, §4.3a).

A table with ``"fast_schema_evolution" = "true"`` changes at once (the job is listed FINISHED). Any
other table gets a job that passes PENDING → WAITING_TXN → RUNNING → FINISHED over
``schema_change_s`` seconds (the first 20 % PENDING, the next 20 % WAITING_TXN, then RUNNING) while
loads go on against the old columns; at FINISHED the new columns become the table's (stored rows
and rows of loads committed later read their DEFAULT, NULL without one) and ``DESC`` shows them. A
MODIFY COLUMN job (never fast: StarRocks' fast schema evolution of MODIFY is for shared-data clusters)
changes the columns' types at FINISHED, converting the stored values (``retype``).
While a job runs, another ALTER on the table is refused with StarRocks' message
:data:`SCHEMA_CHANGE_IN_PROGRESS`. ``SHOW ALTER TABLE COLUMN`` lists the jobs with StarRocks' columns
(:data:`SHOW_ALTER_COLUMNS`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .schema import TableSchema
from .sqlnames import ERR_PARSE, SqlError

SHOW_ALTER_COLUMNS = ["JobId", "TableName", "CreateTime", "FinishTime", "IndexName", "IndexId",
                      "OriginIndexId", "SchemaVersion", "TransactionId", "State", "Msg", "Progress",
                      "Timeout"]
SCHEMA_CHANGE_IN_PROGRESS = ('A schema change operation is in progress on the table "{table}". '
                             "Please wait until the current operation completes.\n"
                             "To check the status of the operation, see "
                             "https://docs.starrocks.io/en-us/latest/sql-reference/sql-statements/"
                             "data-manipulation/SHOW%20ALTER")
ALTER_TABLE_TIMEOUT_S = 86400          # FE config alter_table_timeout_second
_PHASES = ((0.2, "PENDING"), (0.4, "WAITING_TXN"), (1.0, "RUNNING"))
_ids = itertools.count(10_001)


@dataclass
class AlterJob:
    job_id: int
    db: str
    table: str
    schema: TableSchema               # the table's columns once the job finishes
    fill: tuple[Any, ...]             # what earlier rows read in the new columns
    comments: dict[str, str]
    created: float                    # time.time()
    duration_s: float
    origin_index_id: int
    index_id: int = field(default_factory=lambda: next(_ids))
    schema_version: int = 1
    txn_id: int = -1
    applied: bool = False
    retype: dict[int, Callable[[Any], Any]] = field(default_factory=dict)   # MODIFY COLUMN: index → converter

    @property
    def finish_at(self) -> float:
        return self.created + self.duration_s

    def state(self, now: float | None = None) -> str:
        if self.applied:
            return "FINISHED"
        elapsed = (time.time() if now is None else now) - self.created
        if elapsed >= self.duration_s:
            return "FINISHED"
        return next(name for share, name in _PHASES if elapsed < share * self.duration_s)

    def row(self, now: float | None = None) -> tuple[Any, ...]:
        state = self.state(now)
        done = state == "FINISHED"
        return (self.job_id, self.table, _ts(self.created), _ts(self.finish_at) if done else None,
                self.table, self.index_id, self.origin_index_id, f"{self.schema_version}:{self.index_id % 997}",
                self.txn_id if state != "PENDING" else -1, state, "",
                "0/1" if state == "RUNNING" else None, ALTER_TABLE_TIMEOUT_S)


def _ts(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


class SchemaChanges:
    """The jobs of one emulator; ``apply(job)`` installs a finished job's schema (caller's lock)."""

    def __init__(self, schema_change_s: float, apply: Callable[[AlterJob], None],
                 next_txn_id: Callable[[], int]) -> None:
        if schema_change_s < 0:
            raise ValueError("schema_change_s must be >= 0")
        self.schema_change_s = schema_change_s
        self.jobs: list[AlterJob] = []
        self._apply = apply
        self._next_txn_id = next_txn_id
        self._versions: dict[tuple[str, str], int] = {}

    def running(self, db: str, table: str) -> AlterJob | None:
        self.advance()
        return next((j for j in self.jobs if j.db == db and j.table == table and not j.applied), None)

    def check_normal(self, db: str, table: str) -> None:
        """StarRocks refuses an ALTER while the table is in SCHEMA_CHANGE state."""
        if self.running(db, table) is not None:
            raise SqlError(ERR_PARSE, SCHEMA_CHANGE_IN_PROGRESS.format(table=table))

    def submit(self, db: str, table: str, schema: TableSchema, fill: tuple[Any, ...], comments: dict[str, str],
               *, fast: bool, retype: dict[int, Callable[[Any], Any]] | None = None) -> AlterJob:
        self.check_normal(db, table)
        version = self._versions.get((db, table), 0) + 1
        self._versions[(db, table)] = version
        job = AlterJob(next(_ids), db, table, schema, fill, comments, time.time(),
                       0.0 if fast else self.schema_change_s, origin_index_id=next(_ids),
                       schema_version=version, txn_id=self._next_txn_id(), retype=retype or {})
        self.jobs.append(job)
        if job.duration_s <= 0:
            self.advance()
        else:
            try:
                asyncio.get_running_loop().call_later(job.duration_s, self.advance)
            except RuntimeError:    # no loop (direct use): applied on the next advance()
                pass
        return job

    def advance(self) -> None:
        """Install the schema of every job whose time is up (idempotent)."""
        now = time.time()
        for job in self.jobs:
            if not job.applied and now >= job.finish_at:
                job.applied = True
                self._apply(job)

    def rows(self, db: str, where_table: str | None = None) -> list[tuple[Any, ...]]:
        self.advance()
        now = time.time()
        return [j.row(now) for j in self.jobs if j.db == db and where_table in (None, j.table)]
