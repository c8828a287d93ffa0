"""The record-schema → columns functions the shaper uses, in one place.

Who calls: :mod:`sinkapp.tableshape.sources` (columns of a schema, the key's fields) and
:mod:`sinkapp.tableshape.shaper` (DDL text, type compatibility). The mapping itself is in the
per-format modules (``avro_map``, ``protobuf_map``, ``jsonschema_map``, ``connect_map``, Debezium
envelopes in ``envelope``); names and statements in ``names`` and ``ddl``; see MAPPING.md.
"""

from __future__ import annotations

from typing import Any

from sinkapp.errors import SchemaMappingError
from sinkapp.tableshape.avro_map import avro_columns
from sinkapp.tableshape.columns import Column
from sinkapp.tableshape.compat import compatible, widened
from sinkapp.tableshape.connect_map import connect_columns
from sinkapp.tableshape.ddl import Retype, add_columns_statement, create_table_sql, modify_columns_statement
from sinkapp.tableshape.envelope import is_envelope, key_columns, row_schema
from sinkapp.tableshape.jsonschema_map import json_schema_columns
from sinkapp.tableshape.protobuf_map import protobuf_columns

__all__ = ["Column", "Retype", "add_columns_statement", "avro_row", "compatible", "connect_row",
           "create_table_sql", "json_schema_row", "key_fields", "modify_columns_statement", "protobuf_row",
           "widened"]

_FMT = {"AVRO": "avro", "CONNECT": "connect", "JSON": "jsonschema", "PROTOBUF": "protobuf"}


def avro_row(schema: Any, debezium: bool) -> list[Column]:
    return row_schema(schema, "avro") if debezium and is_envelope(schema, "avro") else avro_columns(schema)


def connect_row(schema: Any, debezium: bool) -> list[Column]:
    return row_schema(schema, "connect") if debezium and is_envelope(schema, "connect") else connect_columns(schema)


def protobuf_row(descriptor: Any, debezium: bool) -> list[Column]:
    return protobuf_columns(descriptor)


def json_schema_row(schema: Any, debezium: bool) -> list[Column]:
    return json_schema_columns(schema)


def key_fields(kind: str, schema: Any) -> list[str]:
    """The field names of a record key's schema (a PRIMARY KEY), [] when it is not a struct."""
    fmt = _FMT.get(kind)
    if fmt is None or fmt == "protobuf":
        return []
    try:
        return key_columns(schema, fmt)
    except SchemaMappingError:                      # a primitive key (a string id): no key columns
        return []
