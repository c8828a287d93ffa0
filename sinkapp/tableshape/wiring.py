"""Building the table shapers of a worker from its settings (``auto.create`` / ``auto.evolve``).

Who calls: :func:`sinkapp.worker.app.build_pipeline`, once per worker (:func:`table_shapes`) and per route
(:func:`route_shape`).
"""

from __future__ import annotations

from typing import Any

from sinkapp.config.tables import DEBEZIUM_TYPES
from sinkapp.config.types import Settings
from sinkapp.pipeline.types import TableKey
from sinkapp.tableshape.client import DdlClient
from sinkapp.tableshape.columns import Column
from sinkapp.tableshape.shaper import RouteShape, TableShapes
from sinkapp.tableshape.sources import source_for
from sinkapp.transforms.debezium_fields import parse_add_fields


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


def route_shape(shapes: TableShapes, settings: Settings, table: TableKey, converter: Any) -> RouteShape:
    return RouteShape(shapes, table, source_for(converter, debezium_extra(settings)))
