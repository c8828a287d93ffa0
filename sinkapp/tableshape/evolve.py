"""What a table lacks for a record schema, what auto.evolve may change, and why it refuses the rest.

Who calls: :mod:`sinkapp.tableshape.shaper` (before any DDL, and again after each) and
:mod:`sinkapp.tableshape.report` (``check --connect``). Pure: the table's columns as
``information_schema.COLUMNS`` shows them against the columns a record schema maps to.

:func:`compare` returns a :class:`Diff`:

- ``reason``: why the table cannot take the schema's records (None when it can, perhaps after the
  changes below): a field whose type no change makes fit, a widening of a key column or without
  ``auto.evolve``, a new required field without a default;
- ``new``: the fields without a column (auto.evolve adds them, nullable);
- ``widen``: the columns auto.evolve widens first (``ALTER TABLE ... MODIFY COLUMN``), each with the
  field's type (:func:`~.compat.widened`).
"""

from __future__ import annotations

from typing import NamedTuple

from sinkapp.pipeline.types import TableKey
from sinkapp.tableshape.client import TableColumn
from sinkapp.tableshape.columns import Column
from sinkapp.tableshape.compat import compatible, widened
from sinkapp.tableshape.ddl import Retype
from sinkapp.tableshape.sources import Described


class Widen(NamedTuple):
    column: TableColumn          # as the table shows it
    field: Column                # the field that needs more
    type: str                    # the column's new type (the field's)

    def retype(self) -> Retype:
        c = self.column
        return Retype(c.name, self.type, c.nullable, c.default, c.comment)

    def text(self) -> str:
        return f"{self.column.name} {self.column.type} -> {self.type}"


class Diff(NamedTuple):
    reason: str | None
    new: list[Column]
    widen: list[Widen]


def _retyped(table: TableKey, have: TableColumn, col: Column, d: Described, evolve: bool) -> str | None:
    """Why a field ``compatible`` refuses cannot be had by widening its column (None: it can)."""
    head = (f"field {col.name!r} of {d.what} is {col.source} (StarRocks {col.type}) but column {have.name} of "
            f"{table} is {have.type}")
    to = widened(have.type, col)
    if to is None:
        return (f"{head}: auto.evolve never changes a column's type (it only widens one, README: type "
                "widening). Write the field under a new name, or change the column yourself "
                "(ALTER TABLE ... MODIFY COLUMN) and restart the route")
    if have.key:
        return (f"{head}, a key column: auto.evolve widens value columns only (StarRocks cannot change a "
                "PRIMARY KEY column's type, and a sort key column's change rewrites and re-sorts the table). "
                f"Write the field under a new name, or change the table yourself (to {to})")
    if not evolve:
        return (f"{head}: auto.evolve=false, so the column is not widened to {to}. Set auto.evolve=true, or "
                "change the column yourself (ALTER TABLE ... MODIFY COLUMN) and restart the route")
    return None


def compare(table: TableKey, columns: dict[str, TableColumn], d: Described, evolve: bool = True) -> Diff:
    """The :class:`Diff` of ``table`` (``columns`` by lower-case name) and schema ``d`` (module doc);
    ``evolve``: auto.evolve is on (else a column that needs widening is a refusal)."""
    new, widen = [], []
    for col in d.columns:
        have = columns.get(col.name.lower())
        if have is None:
            if not col.nullable and not col.has_default:
                return Diff(f"field {col.name!r} ({col.source}) of {d.what} is required and has no default, and "
                            f"table {table} has no column {col.name}: auto.evolve only adds nullable columns "
                            "(rows already loaded have no value for it). Make the field optional or give it a "
                            "default in the schema, or add the column yourself", [], [])
            new.append(col)
        elif not compatible(have.type, col):
            reason = _retyped(table, have, col, d, evolve)
            if reason is not None:
                return Diff(reason, [], [])
            widen.append(Widen(have, col, widened(have.type, col) or col.type))
    return Diff(None, new, widen)
