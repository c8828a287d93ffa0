"""In-memory tables of the emulator: append for DUPLICATE KEY, upsert/delete by key for PRIMARY KEY.

Rows are tuples in DDL column order. With ``store_rows=False`` (benchmark mode) only the count is
kept (plus the key set of PRIMARY KEY tables, so upserts and deletes still count exactly); the
count-only mode adds rows known by number only (:meth:`TableData.add_count`, DUPLICATE KEY tables).
Callers hold the emulator lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .errors import EmulatorError
from .schema import TableSchema

Op = tuple[int, tuple[Any, ...]]


class TableData:
    def __init__(self, schema: TableSchema, store_rows: bool) -> None:
        self.schema = schema
        self.store_rows = store_rows
        self._keys = schema.key_indexes() if schema.is_primary else ()
        self._list: list[tuple[Any, ...]] = []
        self._by_key: dict[tuple[Any, ...], tuple[Any, ...] | None] = {}
        self._appended = 0
        self._fill: tuple[Any, ...] = (None,) * len(schema.columns)   # values of columns added later

    def add_columns(self, schema: TableSchema, fill: tuple[Any, ...]) -> None:
        """The schema gains columns at its end (``ALTER TABLE ... ADD COLUMN``, :mod:`.schemachange`):
        stored rows read ``fill`` (the new columns' defaults, NULL without one), and so do rows of
        loads planned against the old schema that commit later."""
        old = len(self.schema.columns)
        if len(schema.columns) != old + len(fill):
            raise EmulatorError(f"{len(fill)} fill values for {len(schema.columns) - old} new columns")
        self.schema = schema
        self._fill = self._fill + fill
        self._list = [r + fill for r in self._list]
        self._by_key = {k: (None if r is None else r + fill) for k, r in self._by_key.items()}

    def retype(self, schema: TableSchema, convert: dict[int, Callable[[Any], Any]]) -> None:
        """Columns change type (``ALTER TABLE ... MODIFY COLUMN``): stored values of column ``i`` become
        ``convert[i](value)`` (NULL stays NULL); rows of loads committed later are kept as planned."""
        if len(schema.columns) != len(self.schema.columns):
            raise EmulatorError("MODIFY COLUMN changes no column count")

        def fix(row: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(v if v is None or i not in convert else convert[i](v) for i, v in enumerate(row))

        self.schema = schema
        self._list = [fix(r) for r in self._list]
        self._by_key = {k: (None if r is None else fix(r)) for k, r in self._by_key.items()}

    def _pad(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return row + self._fill[len(row):] if len(row) < len(self._fill) else row

    def apply(self, ops: Iterable[Op], *, partial: frozenset[int] | None = None,
              merge_index: int | None = None) -> None:
        """Apply committed rows (docs/streamload-protocol.md §2 ``__op``: 0 upsert, 1 delete; partial_update; merge_condition)."""
        if not self._keys:
            if self.store_rows:
                self._list.extend(self._pad(row) for _op, row in ops)
            else:
                self._appended += sum(1 for _ in ops)
            return
        keys, table = self._keys, self._by_key
        for op, row in ops:
            row = self._pad(row)
            key = tuple(row[i] for i in keys)
            if op == 1:  # DELETE (merge_condition is ignored for deletes, §2)
                table.pop(key, None)
                continue
            old = table.get(key) if (partial is not None or merge_index is not None) else None
            if old is not None:
                if merge_index is not None and _lt(row[merge_index], old[merge_index]):
                    continue
                if partial is not None:
                    row = tuple(v if i in partial else old[i] for i, v in enumerate(row))
            table[key] = row if self.store_rows else None

    def add_count(self, n: int) -> None:
        """``n`` more appended rows whose values were never parsed (count-only mode)."""
        if self._keys:
            raise EmulatorError(f"count-only rows cannot go into PRIMARY KEY table {self.schema.name}")
        self._appended += n

    def count(self) -> int:
        if self._keys:
            return len(self._by_key)
        return len(self._list) + self._appended

    def rows(self) -> list[dict[str, Any]]:
        names = self.schema.names
        data: Iterable[tuple[Any, ...] | None] = self._by_key.values() if self._keys else self._list
        return [dict(zip(names, r, strict=True)) for r in data if r is not None]

    def truncate(self) -> None:
        self._list.clear()
        self._by_key.clear()
        self._appended = 0


def _lt(new: Any, old: Any) -> bool:
    if new is None or old is None:
        return new is None and old is not None
    try:
        return bool(new < old)
    except TypeError:
        return False


class Catalog:
    """Databases → tables. Names are case-sensitive, as in StarRocks."""

    def __init__(self, store_rows: bool) -> None:
        self.store_rows = store_rows
        self.dbs: dict[str, dict[str, TableData]] = {}

    def add_database(self, db: str) -> None:
        self.dbs.setdefault(db, {})

    def add_table(self, db: str, schema: TableSchema) -> None:
        self.dbs.setdefault(db, {})[schema.name] = TableData(schema, self.store_rows)

    def table(self, db: str, table: str) -> TableData:
        try:
            return self.dbs[db][table]
        except KeyError:
            raise EmulatorError(f"no table {db}.{table} in the emulator") from None
