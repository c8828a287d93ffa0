"""Building the table shapers of a worker from its settings (``auto.create`` / ``auto.evolve``).

Who calls: :func:`sinkapp.worker.app.build_pipeline`, once per worker (:func:`table_shapes`) and per route
(:func:`route_shape`: a :class:`RouteShape` for the route's own table, or with TableByField a
:class:`RoutedShape` for the tables its rows name).
"""

from __future__ import annotations

from typing import Any

from sinkapp.config.tables import DEBEZIUM_TYPES, TABLE_BY_FIELD
from sinkapp.config.types import Settings
from sinkapp.errors import ConversionError, TransformError
from sinkapp.pipeline.types import TableKey
from sinkapp.tableshape.client import DdlClient
from sinkapp.tableshape.columns import Column
from sinkapp.tableshape.routed import RoutedShape
from sinkapp.tableshape.shaper import RouteShape, TableShapes
from sinkapp.tableshape.sources import source_for
from sinkapp.transforms.base import Meta, Skipped
from sinkapp.transforms.debezium_fields import parse_add_fields
from sinkapp.transforms.paths import KeyPath, path


def ddl_client(settings: Settings) -> DdlClient:
    t = settings.tables
    return DdlClient(t.jdbc_hosts, settings.username, t.jdbc_password or settings.password,
                     connect_timeout_s=max(1.0, settings.connect_timeoutms / 1000.0))


def table_shapes(settings: Settings) -> TableShapes | None:
    return TableShapes(ddl_client(settings), settings.tables) if settings.tables.enabled else None


def debezium_extra(settings: Settings) -> list[Column] | None:
    """None without a Debezium transform; else the columns it adds beside the row's own: ``__deleted``
    (rewrite mode) and the ``add.fields`` metadata, as nullable STRING (a STRING column takes the
    table name, LSNs and timestamps alike)."""
    specs = [t for t in settings.transforms if t.type in DEBEZIUM_TYPES]
    if not specs:
        return None
    extra: list[Column] = []
    for t in specs:
        mode = (t.options.get("delete.handling") or t.options.get("delete.handling.mode") or "").strip().lower()
        if mode == "rewrite" and "__deleted" not in [c.name for c in extra]:
            extra.append(Column("__deleted", "STRING", True, False, "Debezium rewrite (__deleted)"))
        for f in parse_add_fields(t.options.get("add.fields") or "", t.options.get("add.fields.prefix", "__")):
            extra.append(Column(f.column, "STRING", True, False, f"Debezium add.fields ({f.field})"))
    return extra


def route_shape(shapes: TableShapes, settings: Settings, table: TableKey, converter: Any,
                chain: Any = None) -> RouteShape | RoutedShape:
    """The route's shaper: for its own table, or with a TableByField transform (in ``chain``, the route's
    transforms) for the tables its rows name."""
    source = source_for(converter, debezium_extra(settings))
    routers = [t for t in settings.transforms if t.type in TABLE_BY_FIELD]
    if not routers or chain is None:
        return RouteShape(shapes, table, source)
    return RoutedShape(shapes, table, source, routed_rows(converter, chain), removed_fields(routers))


def removed_fields(specs: list[Any]) -> frozenset[str]:
    """The top-level fields TableByField takes out of the rows (``remove=true``): no column of a created table.
    A nested field removed stays in its struct's column (its value is gone from the rows)."""
    out = set()
    for t in specs:
        if t.options.get("remove", "false").lower() != "true" or not t.options.get("field"):
            continue
        where = path(t.options["field"])
        if isinstance(where, KeyPath) and len(where.keys) == 1:
            out.add(where.keys[0])
    return frozenset(out)


def routed_rows(converter: Any, chain: Any) -> Any:
    """``record -> rows``: the record decoded and put through the route's whole chain, as the Chunker does
    (rows keep the table TableByField named); no rows when it is no row or a bad record."""

    def rows_of(r: Any) -> list[dict[str, Any]]:
        if not r.value:
            return []
        try:
            value = converter.decode(r.value)
            if type(value) is not dict:
                return []
            got = chain.apply(value, Meta(r.topic, r.partition, r.offset, getattr(r, "timestamp", None), r.key,
                                          tuple(getattr(r, "headers", None) or ())))
        except (ConversionError, TransformError):
            return []
        return [] if isinstance(got, Skipped) else list(got)

    return rows_of
