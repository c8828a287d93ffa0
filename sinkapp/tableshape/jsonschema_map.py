"""JSON Schema document → StarRocks columns (Confluent's JsonSchemaConverter).

Who calls: table creation/evolution (auto.create / auto.evolve) with the registry's schema document (a dict, or its
text). Pure. The converter hands the payload on as orjson decoded it (no conversion), so a column
must take the JSON value as it is:

- ``boolean`` BOOLEAN; ``integer`` BIGINT (Confluent's ``connect.type`` int8/int16/int32 narrow it);
  ``number`` DOUBLE (``connect.type`` float32: FLOAT);
- ``string`` STRING; ``format: date`` DATE; ``format: uuid`` VARCHAR(36); ``format: date-time``
  STRING: RFC 3339 text carries an offset (``Z``, ``+02:00``) the converter does not apply, and a
  DATETIME column would keep the wall clock and drop the offset;
- ``object`` and ``array`` JSON; ``enum``/``const`` without a type, no type at all, or several
  non-null types (``["string", "integer"]``, ``oneOf``/``anyOf`` of several) STRING (a STRING column
  takes any scalar, and an object as its JSON text).

Nullable: the property is not in ``required``, or its type allows ``null`` (``["string", "null"]``,
``oneOf: [{"type": "null"}, …]``). Local ``$ref`` (``#/definitions/X``, ``#/$defs/X``) resolve.
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
    DOUBLE,
    FLOAT,
    INT,
    JSON,
    SMALLINT,
    STRING,
    TINYINT,
    UUID,
    Column,
    column,
)

_CONNECT = {"int8": TINYINT, "int16": SMALLINT, "int32": INT, "int64": BIGINT, "float32": FLOAT,
            "float64": DOUBLE}
_FORMATS = {"date": DATE, "uuid": UUID}
_TYPES = {"boolean": BOOLEAN, "integer": BIGINT, "number": DOUBLE, "string": STRING, "object": JSON,
          "array": JSON}


def _resolve(node: Any, root: Mapping[str, Any], field: str, depth: int = 0) -> Any:
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/") or depth > 32:
            raise SchemaMappingError(f"field {field!r} refers to {ref!r}: only local references (#/...) are "
                                     "resolved", field=field)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, Mapping) else None
        if target is None:
            raise SchemaMappingError(f"field {field!r} refers to {ref!r}, which the schema does not define",
                                     field=field)
        node, depth = target, depth + 1
    return node


def _branches(node: Mapping[str, Any], root: Mapping[str, Any], field: str) -> list[Any] | None:
    alts = node.get("oneOf") or node.get("anyOf")
    if isinstance(alts, list) and "type" not in node:
        return [_resolve(a, root, field) for a in alts]
    kind = node.get("type")
    if isinstance(kind, list):
        return [{**node, "type": k} for k in kind]
    return None


def json_type(node: Any, root: Mapping[str, Any], field: str) -> tuple[str, bool, str]:
    """(type, allows null, source text) of one property schema."""
    node = _resolve(node, root, field)
    if not isinstance(node, Mapping):
        return STRING, True, "any"            # ``true`` / ``{}``: anything goes
    branches = _branches(node, root, field)
    if branches is not None:
        has_null = any(isinstance(b, Mapping) and b.get("type") == "null" for b in branches)
        others = [b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")]
        if len(others) == 1:
            type_, _, source = json_type(others[0], root, field)
            return type_, has_null, source
        sources = [json_type(b, root, field)[2] for b in others]
        return STRING, has_null, "[" + ",".join(sources + (["null"] if has_null else [])) + "]"
    kind = node.get("type")
    if kind is None:
        kind = "object" if "properties" in node else None
    if kind == "null":
        raise SchemaMappingError(f"field {field!r} is always null (type \"null\"): it has no column type; drop "
                                 "the field or give it a type", field=field)
    if kind not in _TYPES:
        return STRING, False, "enum" if "enum" in node or "const" in node else f"{kind or 'any'}"
    connect_type = node.get("connect.type")
    if kind in ("integer", "number") and connect_type in _CONNECT:
        return _CONNECT[connect_type], False, f"{kind}({connect_type})"
    fmt = node.get("format")
    if kind == "string" and fmt in _FORMATS:
        return _FORMATS[fmt], False, f"string({fmt})"
    return _TYPES[kind], False, kind if not (kind == "string" and fmt) else f"string({fmt})"


def json_schema_columns(schema: Any) -> list[Column]:
    """The columns of an object schema's ``properties``, in document order (see the module doc)."""
    if isinstance(schema, str | bytes):
        try:
            schema = orjson.loads(schema)
        except orjson.JSONDecodeError:
            raise SchemaMappingError("the JSON schema is not valid JSON", field="") from None
    root = schema
    node = _resolve(schema, root, "") if isinstance(schema, Mapping) else None
    props = node.get("properties") if isinstance(node, Mapping) else None
    if not isinstance(props, Mapping) or (node.get("type", "object") != "object"):  # type: ignore[union-attr]
        raise SchemaMappingError("the JSON schema is not an object with properties (a table needs named "
                                 "fields); use an object schema or a transform that makes one", field="")
    required = set(node.get("required") or [])      # type: ignore[union-attr]
    out = []
    for name, prop in props.items():
        type_, allows_null, source = json_type(prop, root, str(name))
        has_default = isinstance(prop, Mapping) and "default" in prop
        out.append(column(name, type_, allows_null or name not in required, has_default, source))
    return out
