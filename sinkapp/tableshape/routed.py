"""Tables that follow the data when each row names its table (TableByField): ``auto.create`` /
``auto.evolve`` per (record schema, routed table).

Who calls: the route's intake (:meth:`RoutedShape.prepare`, before the records of a fetched batch are
encoded, and before records read again from Kafka are encoded again) and the route's Chunker after the
transform chain (:meth:`RoutedShape.gate_rows`, per record: its rows and the tables they name).

The schema is the record's (the converter's, the Debezium ``after`` image as for a fixed target); the
table is the one its rows are routed to. ``prepare`` decodes each record and applies the route's whole
transform chain (``rows_of``: TableByField may come after the Debezium unwrap, and only the chain says
which tables a record's rows go to), then asks :meth:`TableShapes.verdict` once per (schema, table) pair
not seen yet, so every table a record's rows go to exists and takes the schema before those rows are
encoded. A pair refused makes the records of that schema bound for that table bad records (dead-lettered
with ``errors.tolerance=all``, else the route stops); the same schema's records routed to other tables
load. A field TableByField removes from the row (``remove=true``) is no column of the tables it makes.

The cost (a second decode and chain per record) is paid only by routes with TableByField and
auto.create / auto.evolve; a record that does not decode or transform names no table here (the Chunker
makes it a bad record itself).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Hashable
from typing import Any

from sinkapp.errors import ConversionError
from sinkapp.pipeline.types import TableKey
from sinkapp.tableshape.shaper import TableShapes
from sinkapp.tableshape.sources import Described
from sinkapp.transforms.base import TABLE_KEY

log = logging.getLogger(__name__)

Pair = tuple[Hashable, TableKey]


class RoutedShape:
    """One route's verdicts per (schema, routed table) (``prepare``, async) and the per-record gate on its
    rows (``gate_rows``, sync)."""

    def __init__(self, shapes: TableShapes, table: TableKey, source: Any,
                 rows_of: Callable[[Any], list[dict[str, Any]]], removed: frozenset[str] = frozenset()) -> None:
        self.shapes, self.table, self.source = shapes, table, source
        self.rows_of, self.removed = rows_of, removed
        self.verdicts: dict[Pair, str | None] = {}
        self.refused: dict[Pair, str] = {}

    def table_of(self, row: dict[str, Any]) -> TableKey:
        """The table a row goes to: the one it names (``db.table``, or a table of the route's database),
        else the route's own (as :func:`sinkapp.transforms.rows.place_rows` places it)."""
        name = row.get(TABLE_KEY)
        return self.table if name is None else TableKey.within(self.table.database, name)

    async def prepare(self, records: list[Any]) -> None:
        """Verdicts for the (schema, table) pairs of ``records`` not seen yet (DDL when a table must change)."""
        first: dict[Pair, Any] = {}
        for r in records:
            k = self.source.key_of(r.value)
            if k is None:
                continue
            for row in self.rows_of(r):
                pair = (k, self.table_of(row))
                if pair[1].database and pair not in self.verdicts and pair not in first:
                    first[pair] = r             # a table without a database: a bad record (place_rows)
        described: dict[Hashable, Described | str | None] = {}
        for (k, table), r in first.items():
            if k not in described:
                described[k] = await self._describe(r)
            d = described[k]
            reason = d if isinstance(d, str) else None
            if isinstance(d, Described):
                try:
                    reason = await self.shapes.verdict(table, d)
                except ConversionError as exc:    # a name or type StarRocks cannot take
                    reason = f"{exc}"
            self.verdicts[(k, table)] = reason
            if reason is not None:
                self.refused[(k, table)] = reason
                self.shapes.refused[str(table)] += 1
                log.error("route into %s: records of %s routed to %s cannot be loaded: %s", self.table,
                          d.what if isinstance(d, Described) else "a schema", table, reason)

    async def _describe(self, record: Any) -> Described | str | None:
        """The record's schema as columns (without the fields TableByField removes); a str: why it cannot be."""
        try:
            d = await self.source.describe(record)
        except ConversionError as exc:
            return f"{exc}"
        if d is None or not self.removed:
            return d
        return dataclasses.replace(d, columns=[c for c in d.columns if c.name not in self.removed])

    def gate_rows(self, raw: bytes | None, rows: list[dict[str, Any]]) -> None:
        """Raise ConversionError when a row of the record ``raw`` goes to a table that refused its schema."""
        if not self.refused:
            return
        k = self.source.key_of(raw)
        if k is None:
            return
        for row in rows:
            reason = self.refused.get((k, self.table_of(row)))
            if reason is not None:
                raise ConversionError(reason)
