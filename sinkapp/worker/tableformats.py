"""Each target table's Stream Load headers and body encoder, whichever route's rows reach it.

Who calls: :func:`sinkapp.worker.app.build_pipeline` (a :class:`TableFormats` for the pipeline: a
route's own table and the tables a TableByField transform sends its rows to) and ``sinkapp check``
(:func:`header_lines`). A table's load properties are ``sink.properties.*`` with its
``sink.table.<table>.properties.*`` over them (:func:`sinkapp.config.tableprops.table_headers`), as the
transforms need them (:func:`sinkapp.worker.startup.chain_headers`); a route's own table takes the
route's headers. Two routes into one table with different headers are a ConfigError: a table batch
holds the rows of every route that feeds it and is loaded with one set of headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sinkapp.config import Settings
from sinkapp.config.routes import Route
from sinkapp.config.tableprops import table_headers
from sinkapp.errors import ConfigError
from sinkapp.pipeline.types import TableKey
from sinkapp.streamload.encoding import CsvEncoder, JsonEncoder, build_encoder, load_headers
from sinkapp.worker.startup import chain_headers


def _differ(a: Mapping[str, str], b: Mapping[str, str]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


class TableFormats:
    """``of(table)``: the table's Stream Load headers and encoder (made once per table)."""

    def __init__(self, settings: Settings, routes: Sequence[Route], chain: Any = None) -> None:
        self.settings, self.chain = settings, chain
        self.props: dict[TableKey, dict[str, str]] = {}
        self.first: dict[TableKey, str] = {}
        self._made: dict[TableKey, tuple[dict[str, str], JsonEncoder | CsvEncoder]] = {}
        for r in routes:
            self.add(r)

    def add(self, r: Route) -> None:
        """A route's table takes the route's headers (at start, and for a topic ``topics.regex`` matches later)."""
        key = TableKey(r.database, r.table)
        have = self.props.get(key)
        if have is not None and have != dict(r.headers):
            raise ConfigError(
                f"topics {self.first[key]} and {r.topic} both load table {key} but with different load properties "
                f"({', '.join(_differ(have, r.headers))}); a table's batch is loaded with one set of headers: "
                f"set them once for the table (sink.table.{key}.properties.*)")
        if key not in self.props and key in self._made:
            del self._made[key]                   # made for routed rows before a route of its own came
        self.props.setdefault(key, dict(r.headers))
        self.first.setdefault(key, r.topic)

    def properties(self, table: TableKey) -> dict[str, str]:
        """The table's load properties: its route's, else its own over ``sink.properties.*``."""
        props = self.props.get(table)
        if props is None:
            props = chain_headers(self.chain, table_headers(self.settings, table.database, table.table))
        return props

    def of(self, table: TableKey) -> tuple[dict[str, str], JsonEncoder | CsvEncoder]:
        made = self._made.get(table)
        if made is None:
            props = self.properties(table)
            made = self._made[table] = (load_headers(props), build_encoder(props))
        return made


def header_lines(settings: Settings, routes: Sequence[Route], chain: Any = None) -> list[str]:
    """``sinkapp check``: each table's Stream Load headers (its routes' tables, and the tables
    ``sink.table.*`` keys name), secrets masked as in the logs."""
    from sinkapp.observe import redact

    formats = TableFormats(settings, routes, chain)
    tables = list(formats.props) + [TableKey.parse(t) for t in settings.table_properties]
    lines = []
    for table in dict.fromkeys(tables):
        headers, _ = formats.of(table)
        shown = ", ".join(f"{k}={v}" for k, v in sorted(headers.items()))
        note = "" if table in formats.props else " (no configured route loads it)"
        lines.append(redact.redact(f"table {table}{note}: headers {shown}"))
    return lines
