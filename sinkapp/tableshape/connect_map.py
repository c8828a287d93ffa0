"""Kafka Connect schema (the ``schema`` of a JsonConverter ``{"schema", "payload"}`` envelope) →
StarRocks columns.

Who calls: table creation/evolution (auto.create / auto.evolve) with the ``schema`` object of a record. Pure.

The type names are the ones Kafka's JsonConverter writes (``JsonSchema.*_TYPE_NAME`` in
connect-json; ``tests/test_debezium_postgres_kafka.py`` reads them out of the real jar): ``int8``
TINYINT, ``int16`` SMALLINT, ``int32`` INT, ``int64`` BIGINT, ``float`` (Connect's FLOAT32) FLOAT,
``double`` (FLOAT64) DOUBLE, ``boolean`` BOOLEAN, ``string`` STRING, ``bytes`` STRING (Connect's
base64 text, kept as is), ``array``/``map``/``struct`` JSON. Types follow
``sinkapp.converters.simple.apply_schema`` and :mod:`sinkapp.streamload.encoding`; ``org.apache.kafka.connect.data.Decimal`` DECIMAL(p,s)
with ``connect.decimal.precision`` (STRING without it or beyond 38 digits: the exact text loads),
``Date`` DATE, ``Time`` VARCHAR(32), ``Timestamp`` DATETIME; Debezium names per :mod:`.semantic`.
``optional`` is nullable; a ``default`` key is ``has_default``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sinkapp.errors import SchemaMappingError
from sinkapp.tableshape.columns import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    FLOAT,
    INT,
    JSON,
    SMALLINT,
    STRING,
    TINYINT,
    Column,
    column,
    decimal_type,
)
from sinkapp.tableshape.semantic import CONNECT, CONNECT_DECIMAL, DEBEZIUM

#: JsonConverter's schema type names (connect-json ``JsonSchema``), each with its column type
JSON_CONVERTER_TYPES = {"int8": TINYINT, "int16": SMALLINT, "int32": INT, "int64": BIGINT, "float": FLOAT,
                        "double": DOUBLE, "boolean": BOOLEAN, "string": STRING, "bytes": STRING,
                        "array": JSON, "map": JSON, "struct": JSON}


def struct_fields(schema: Any, what: str = "record") -> list[Mapping[str, Any]]:
    """The ``fields`` of a Connect struct schema (else :class:`SchemaMappingError`)."""
    if not isinstance(schema, Mapping) or schema.get("type") != "struct":
        raise SchemaMappingError(f"the {what} schema is not a Connect struct (a table needs named fields); "
                                 "use a struct schema or a transform that makes one", field="")
    return [f for f in schema.get("fields") or [] if isinstance(f, Mapping)]


def connect_type(schema: Mapping[str, Any], field: str) -> tuple[str, str]:
    """(StarRocks type, source text) of one Connect field schema."""
    name, kind = schema.get("name"), schema.get("type")
    if name == CONNECT_DECIMAL:
        params = schema.get("parameters") or {}
        p, s = params.get("connect.decimal.precision"), params.get("scale", 0)
        return decimal_type(p, s, field), f"{kind}({CONNECT_DECIMAL} {p},{s})"
    if isinstance(name, str) and name in CONNECT:
        return CONNECT[name], name
    if isinstance(name, str) and name in DEBEZIUM:
        return DEBEZIUM[name], name
    if not isinstance(kind, str) or kind not in JSON_CONVERTER_TYPES:
        raise SchemaMappingError(f"field {field!r} has the schema type {kind!r}, which Kafka's JsonConverter "
                                 f"does not write (it writes {', '.join(JSON_CONVERTER_TYPES)})", field=field)
    return JSON_CONVERTER_TYPES[kind], kind if not name else f"{kind}({name})"


def connect_columns(schema: Any) -> list[Column]:
    """The columns of a Connect struct schema, in field order (see the module doc)."""
    out = []
    for f in struct_fields(schema):
        name = f.get("field")
        type_, source = connect_type(f, str(name))
        out.append(column(name, type_, bool(f.get("optional")), "default" in f, source))
    return out
