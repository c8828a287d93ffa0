"""Debezium change events: the row inside the envelope, and the key's fields.

Who calls: table creation for a Debezium route (auto.create). A Debezium value schema is an envelope
(``before``, ``after``, ``op``, ``source``, ``ts_ms``, ``transaction``); the table holds the row,
which is the ``after`` struct (``before`` has the same schema; either is used). The ``__op`` the
Debezium transform adds to each row is NOT a column: StarRocks reads it at load time as the
upsert/delete flag of a PRIMARY KEY table. Pure.

``fmt`` names the schema's form: ``"avro"`` (an Avro record schema, parsed or JSON) or
``"connect"`` (a Connect JSON ``schema`` object); :func:`key_columns` also takes ``"jsonschema"``
and ``"protobuf"`` (a descriptor).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sinkapp.errors import SchemaMappingError
from sinkapp.tableshape.avro_map import _as_schema, _Named, avro_columns
from sinkapp.tableshape.columns import Column
from sinkapp.tableshape.connect_map import connect_columns, struct_fields
from sinkapp.tableshape.jsonschema_map import json_schema_columns
from sinkapp.tableshape.protobuf_map import protobuf_columns

ENVELOPE_FIELDS = frozenset({"before", "after", "op"})
_COLUMNS: dict[str, Callable[[Any], list[Column]]] = {
    "avro": avro_columns, "connect": connect_columns, "jsonschema": json_schema_columns,
    "protobuf": protobuf_columns}


def _fmt(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise ValueError(f"fmt must be one of {allowed}, not {fmt!r}")


def is_envelope(schema: Any, fmt: str) -> bool:
    """Whether a value schema is a Debezium envelope (has ``before``, ``after`` and ``op`` fields)."""
    _fmt(fmt, ("avro", "connect"))
    schema = _as_schema(schema) if fmt == "avro" else schema
    if not isinstance(schema, Mapping):
        return False
    key = "name" if fmt == "avro" else "field"
    names = {f.get(key) for f in schema.get("fields") or [] if isinstance(f, Mapping)}
    return ENVELOPE_FIELDS <= names


def row_schema(schema: Any, fmt: str) -> list[Column]:
    """The row columns of a Debezium envelope schema: the ``after`` (else ``before``) struct's,
    without ``__op``. Raises :class:`SchemaMappingError` when ``schema`` is not an envelope."""
    if not is_envelope(schema, fmt):
        raise SchemaMappingError("the value schema is not a Debezium change event (no before/after/op "
                                 "fields); map it with avro_columns/connect_columns instead", field="")
    return _avro_row(_as_schema(schema)) if fmt == "avro" else _connect_row(schema)


def _avro_row(schema: Mapping[str, Any]) -> list[Column]:
    named = _Named(schema)
    fields = {f.get("name"): f for f in schema["fields"]}
    for which in ("after", "before"):
        node = fields[which].get("type")
        branches = node if isinstance(node, list) else [node]
        for b in branches:
            record = named.get(b) if isinstance(b, str) and b != "null" else b
            if isinstance(record, Mapping) and record.get("type") == "record":
                return avro_columns({**record, "__named_schemas": named.types})
    raise SchemaMappingError("the Debezium envelope's after/before field is not a record", field="after")


def _connect_row(schema: Mapping[str, Any]) -> list[Column]:
    fields = {f.get("field"): f for f in struct_fields(schema, "Debezium envelope")}
    for which in ("after", "before"):
        sub = fields[which]
        if sub.get("type") == "struct":
            return connect_columns(sub)
    raise SchemaMappingError("the Debezium envelope's after/before field is not a struct", field="after")


def key_columns(schema: Any, fmt: str) -> list[str]:
    """Names of a record key's fields, in order (a Debezium key struct: the PRIMARY KEY columns).
    A key whose schema is not a struct/record/object/message raises :class:`SchemaMappingError`."""
    _fmt(fmt, tuple(_COLUMNS))
    return [c.name for c in _COLUMNS[fmt](schema)]
