"""Avro record schema → StarRocks columns.

Who calls: table creation/evolution (auto.create / auto.evolve) with the writer schema the Avro converter holds for
a schema id (``sinkapp.converters.avro.parse_writer_schema`` output, with ``sinkapp.*`` logical
types and ``__named_schemas``) or the schema as JSON (``dict``/``str``). Pure.

Types follow what the converter renders (see ``sinkapp.converters.avro``'s table) so a decoded
record loads: primitives by width (``int`` INT, ``long`` BIGINT, ``connect.type`` int8/int16
TINYINT/SMALLINT), ``string``/``bytes``/``fixed``/``enum`` STRING (bytes and fixed are rendered
base64), logical ``decimal`` DECIMAL(p,s) (STRING beyond 38 digits), ``date`` DATE,
``time-*`` VARCHAR(32), ``timestamp-*``/``local-timestamp-*`` DATETIME, ``uuid`` VARCHAR(36);
records, arrays and maps JSON; Debezium/Connect names (``connect.name``) per :mod:`.semantic`.
A logical type the converter does not render (``timestamp-nanos``, a ``date`` on a ``long``)
maps by its underlying type, as the value arrives.

Unions: ``[null, T]`` is T, nullable. A union of several non-null branches is STRING (the value is
the branch's value: text, a number, or an object written as its JSON text), nullable when it has
``null``. A field whose only type is ``null`` is refused (it has no column type).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from sinkapp.errors import SchemaMappingError
from sinkapp.tableshape.columns import (
    BIGINT,
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    FLOAT,
    INT,
    JSON,
    SMALLINT,
    STRING,
    TIME_TEXT,
    TINYINT,
    UUID,
    Column,
    column,
    decimal_type,
)
from sinkapp.tableshape.semantic import DEBEZIUM

_PRIMITIVE = {"boolean": BOOLEAN, "int": INT, "long": BIGINT, "float": FLOAT, "double": DOUBLE,
              "string": STRING, "bytes": STRING}
_CONNECT_INT = {"int8": TINYINT, "int16": SMALLINT}
#: (Avro type, logicalType) pairs the converter renders (its ``_READERS``), decimal apart
_LOGICAL: dict[tuple[Any, Any], str] = {
    ("int", "date"): DATE, ("int", "time-millis"): TIME_TEXT, ("long", "time-micros"): TIME_TEXT,
    ("long", "timestamp-millis"): DATETIME, ("long", "timestamp-micros"): DATETIME,
    ("long", "local-timestamp-millis"): DATETIME, ("long", "local-timestamp-micros"): DATETIME,
    ("string", "uuid"): UUID, ("fixed", "uuid"): UUID,
}
_PREFIX, _DBZ = "sinkapp.", "dbz."
_NAMED = ("record", "enum", "fixed", "error")


class _Named:
    """Named types (records, enums, fixed) by full and short name, for references by name."""

    def __init__(self, schema: Any) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        if isinstance(schema, Mapping):
            for name, node in (schema.get("__named_schemas") or {}).items():
                self._add(name, node)
        self._collect(schema, "")

    def _add(self, name: str, node: dict[str, Any]) -> None:
        self.types.setdefault(name, node)
        self.types.setdefault(name.rpartition(".")[2], node)

    def _collect(self, node: Any, namespace: str) -> None:
        if isinstance(node, list):
            for n in node:
                self._collect(n, namespace)
        elif isinstance(node, Mapping):
            if node.get("type") in _NAMED and isinstance(node.get("name"), str):
                ns = node.get("namespace") or namespace
                name = node["name"] if "." in node["name"] or not ns else f"{ns}.{node['name']}"
                self._add(name, dict(node))
                namespace = name.rpartition(".")[0]
            for key in ("type", "fields", "items", "values"):
                if key in node:
                    self._collect(node[key], namespace)

    def get(self, name: str) -> dict[str, Any] | None:
        return self.types.get(name) or self.types.get(name.rpartition(".")[2])


def _as_schema(schema: Any) -> Any:
    if isinstance(schema, str | bytes):
        try:
            return orjson.loads(schema)
        except orjson.JSONDecodeError:
            raise SchemaMappingError("the Avro schema is not valid JSON", field="") from None
    return schema


def _record_fields(schema: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(schema, Mapping) or schema.get("type") not in ("record", "error"):
        raise SchemaMappingError(f"the {what} schema is not an Avro record (a table needs named fields); "
                                 "use a record schema or a transform that makes one", field="")
    return list(schema.get("fields") or [])


def avro_columns(schema: Any) -> list[Column]:
    """The columns of an Avro record schema, in field order (see the module doc)."""
    schema = _as_schema(schema)
    named = _Named(schema)
    out = []
    for f in _record_fields(schema, "record"):
        name = f.get("name")
        type_, nullable, source = _map(f.get("type"), named, str(name))
        out.append(column(name, type_, nullable, "default" in f, source))
    return out


def _map(node: Any, named: _Named, field: str) -> tuple[str, bool, str]:
    """(type, nullable, source) of one Avro type node."""
    if isinstance(node, list):
        return _union(node, named, field)
    if isinstance(node, str):
        if node == "null":
            raise SchemaMappingError(f"field {field!r} is always null (type \"null\"): it has no column type; "
                                     "drop the field or give it a type", field=field)
        if node in _PRIMITIVE:
            return _PRIMITIVE[node], False, node
        ref = named.get(node)
        if ref is None or ref.get("type") not in _NAMED:
            raise SchemaMappingError(f"field {field!r} uses the named type {node!r}, which the schema does "
                                     "not define (a schema reference that was not resolved)", field=field)
        return _complex(ref, named, field)        # a record, enum or fixed: never a reference again
    if not isinstance(node, Mapping):
        raise SchemaMappingError(f"field {field!r} has no Avro type", field=field)
    return _complex(node, named, field)


def _union(branches: list[Any], named: _Named, field: str) -> tuple[str, bool, str]:
    has_null = "null" in branches
    others = [b for b in branches if b != "null"]
    if not others:
        return _map("null", named, field)
    if len(others) == 1:
        type_, _, source = _map(others[0], named, field)
        return type_, has_null, source
    sources = [_map(b, named, field)[2] for b in others]
    return STRING, has_null, "union[" + ",".join((["null"] if has_null else []) + sources) + "]"


def _complex(node: Mapping[str, Any], named: _Named, field: str) -> tuple[str, bool, str]:
    kind = node.get("type")
    if isinstance(kind, list | Mapping):
        return _map(kind, named, field)
    logical = node.get("logicalType")
    if isinstance(logical, str) and logical.startswith(_PREFIX):
        logical = logical[len(_PREFIX):]
    if isinstance(logical, str) and logical.startswith(_DBZ):
        name = logical[len(_DBZ):]
        return DEBEZIUM.get(name, STRING), False, name
    connect_name = node.get("connect.name")
    if logical is None and connect_name in DEBEZIUM:
        return DEBEZIUM[connect_name], False, str(connect_name)
    if logical == "decimal" and kind in ("bytes", "fixed"):
        p, s = node.get("precision"), node.get("scale", 0)
        return decimal_type(p, s, field), False, f"{kind}(decimal {p},{s})"
    if (kind, logical) in _LOGICAL:
        return _LOGICAL[(kind, logical)], False, f"{kind}({logical})"
    if kind in ("record", "error"):
        return JSON, False, f"record {node.get('name')}"
    if kind in ("array", "map"):
        return JSON, False, str(kind)
    if kind == "enum":
        return STRING, False, f"enum {node.get('name')}"
    if kind == "fixed":
        return STRING, False, f"fixed {node.get('name')}({node.get('size')})"
    if isinstance(kind, str) and kind in _PRIMITIVE:
        connect_type = node.get("connect.type")
        if kind == "int" and connect_type in _CONNECT_INT:
            return _CONNECT_INT[connect_type], False, f"int({connect_type})"
        return _PRIMITIVE[kind], False, kind if logical is None else f"{kind}({logical})"
    return _map(kind, named, field)
