"""Tables that follow the data (``auto.create`` / ``auto.evolve``).

The I/O: ``client`` (DDL over the FE's MySQL port), ``shaper`` (create, add columns, verdicts per
schema), ``sources`` (a route's record schemas), ``report`` (``check --connect``), ``wiring``.
The pure part, re-exported here: record schema → StarRocks columns, identifier safety, DDL text
and type compatibility (``mapping`` is the facade the shaper uses)::

    Column(name, type, nullable, has_default, source)          frozen dataclass (columns.py)
    avro_columns(schema) / protobuf_columns(descriptor)
    json_schema_columns(schema) / connect_columns(schema)      -> list[Column], field order
    row_schema(schema, fmt)         Debezium envelope ("avro" | "connect") -> the row's columns
    key_columns(schema, fmt)        a record key's field names ("avro" | "connect" | "jsonschema" | "protobuf")
    check_identifier(name, what)    what: "database" | "table" | "column"; returns name or raises
    quote(name)                     `name` with backquotes doubled
    create_table_sql(db, table, columns, key, buckets, properties) -> str
    add_columns_sql(db, table, columns) -> list[str]
    compatible(table_type, col) -> bool

Every refusal is a :class:`sinkapp.errors.SchemaMappingError` (a ConversionError) whose ``field``
names the field; bad ``buckets``/``properties`` are :class:`~sinkapp.errors.ConfigError`. The type
mapping is in ``MAPPING.md`` beside this file.
"""

from sinkapp.errors import SchemaMappingError
from sinkapp.tableshape.avro_map import avro_columns
from sinkapp.tableshape.columns import Column
from sinkapp.tableshape.compat import compatible
from sinkapp.tableshape.connect_map import connect_columns
from sinkapp.tableshape.ddl import add_columns_sql, check_type, create_table_sql
from sinkapp.tableshape.envelope import is_envelope, key_columns, row_schema
from sinkapp.tableshape.jsonschema_map import json_schema_columns
from sinkapp.tableshape.names import check_identifier, quote
from sinkapp.tableshape.protobuf_map import protobuf_columns

__all__ = [
    "Column", "SchemaMappingError", "add_columns_sql", "avro_columns", "check_identifier", "check_type",
    "compatible", "connect_columns", "create_table_sql", "is_envelope", "json_schema_columns", "key_columns",
    "protobuf_columns", "quote", "row_schema",
]
