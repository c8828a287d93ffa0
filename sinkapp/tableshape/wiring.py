"""Building the table shapers of a worker from its settings (``auto.create`` / ``auto.evolve``).

Who calls: :func:`sinkapp.app.build_pipeline`, once per worker (:func:`table_shapes`) and per route
(:func:`route_shape`).
"""

from __future__ import annotations

from typing import Any

from sinkapp.config_tables import DEBEZIUM_TYPES
from sinkapp.config_types import Settings
from sinkapp.pipeline.types import TableKey
from sinkapp.tableshape.client import DdlClient
from sinkapp.tableshape.shaper import RouteShape, TableShapes
from sinkapp.tableshape.sources import source_for

__all__ = ["DEBEZIUM_TYPES", "ddl_client", "route_shape", "table_shapes"]


def ddl_client(settings: Settings) -> DdlClient:
    t = settings.tables
    return DdlClient(t.jdbc_hosts, settings.username, t.jdbc_password or settings.password,
                     connect_timeout_s=max(1.0, settings.connect_timeoutms / 1000.0))


def table_shapes(settings: Settings) -> TableShapes | None:
    return TableShapes(ddl_client(settings), settings.tables) if settings.tables.enabled else None


def route_shape(shapes: TableShapes, settings: Settings, table: TableKey, converter: Any) -> RouteShape:
    debezium = any(t.type in DEBEZIUM_TYPES for t in settings.transforms)
    return RouteShape(shapes, table, source_for(converter, debezium))
