"""Protobuf message descriptor → StarRocks columns.

Who calls: table creation/evolution (auto.create / auto.evolve) with the ``Descriptor`` of the record's message
(``ProtobufConverter``'s ``_Schema.message_class(indexes, id).DESCRIPTOR``). Pure.

Types follow the converter's ``_Walker`` (``sinkapp.converters.protobuf``): ``double`` DOUBLE,
``float`` FLOAT, ``int32``/``sint32``/``sfixed32`` INT, ``int64``/``sint64``/``sfixed64`` BIGINT,
``uint32``/``fixed32`` BIGINT and ``uint64``/``fixed64`` LARGEINT (unsigned values do not fit the
signed type of their width), ``bool`` BOOLEAN, ``string`` STRING, ``bytes`` STRING (base64), enums
STRING (the value's name); ``google.protobuf.Timestamp`` DATETIME, ``google.type.Date`` DATE,
``google.type.TimeOfDay`` VARCHAR(32), wrappers (``Int64Value`` …) their value's type,
``confluent.type.Decimal`` STRING (precision and scale travel in each value, so the exact text is
kept), ``Duration`` and ``FieldMask`` STRING (their JSON text, ``"1.5s"``), ``Value`` STRING (any
JSON value), ``Struct``/``ListValue``/``Any``/``Empty`` JSON; other messages, ``repeated`` fields
and maps JSON.

Nullable follows field presence, as the converter does (an unset field with presence is None):
message fields (wrappers included), ``oneof`` members, proto3 ``optional`` and proto2 ``optional``
fields are nullable; proto3 scalars without presence always carry a value (their zero) and are not;
``repeated``/map fields are an empty list/object, not nullable; proto2 ``required`` is not nullable.
``has_default``: a proto2 explicit ``[default = …]`` only.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from sinkapp.tableshape.columns import (
    BIGINT,
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    FLOAT,
    INT,
    JSON,
    LARGEINT,
    STRING,
    TIME_TEXT,
    Column,
    column,
)

FD = FieldDescriptor
_SCALARS = {
    FD.TYPE_DOUBLE: DOUBLE, FD.TYPE_FLOAT: FLOAT, FD.TYPE_INT32: INT, FD.TYPE_SINT32: INT,
    FD.TYPE_SFIXED32: INT, FD.TYPE_INT64: BIGINT, FD.TYPE_SINT64: BIGINT, FD.TYPE_SFIXED64: BIGINT,
    FD.TYPE_UINT32: BIGINT, FD.TYPE_FIXED32: BIGINT, FD.TYPE_UINT64: LARGEINT, FD.TYPE_FIXED64: LARGEINT,
    FD.TYPE_BOOL: BOOLEAN, FD.TYPE_STRING: STRING, FD.TYPE_BYTES: STRING,
}
_SCALAR_NAMES = {getattr(FD, n): n[5:].lower() for n in dir(FD) if n.startswith("TYPE_")}
_WKT = "google.protobuf."
_MESSAGES = {
    _WKT + "Timestamp": DATETIME, "google.type.Date": DATE, "google.type.TimeOfDay": TIME_TEXT,
    "confluent.type.Decimal": STRING, _WKT + "Duration": STRING, _WKT + "FieldMask": STRING,
    _WKT + "Value": STRING, _WKT + "Struct": JSON, _WKT + "ListValue": JSON, _WKT + "Any": JSON,
    _WKT + "Empty": JSON,
    _WKT + "DoubleValue": DOUBLE, _WKT + "FloatValue": FLOAT, _WKT + "Int64Value": BIGINT,
    _WKT + "UInt64Value": LARGEINT, _WKT + "Int32Value": INT, _WKT + "UInt32Value": BIGINT,
    _WKT + "BoolValue": BOOLEAN, _WKT + "StringValue": STRING, _WKT + "BytesValue": STRING,
}


def _value_type(f: Any) -> tuple[str, str]:
    """(type, source) of one field's (or map value's) element."""
    if f.message_type is not None:
        name = f.message_type.full_name
        return _MESSAGES.get(name, JSON), name
    if f.enum_type is not None:
        return STRING, f"enum {f.enum_type.full_name}"
    return _SCALARS[f.type], _SCALAR_NAMES.get(f.type, str(f.type))


def _field(f: Any) -> Column:
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        key = _value_type(f.message_type.fields_by_name["key"])[1]
        value = _value_type(f.message_type.fields_by_name["value"])[1]
        return column(f.name, JSON, False, False, f"map<{key},{value}>")
    type_, source = _value_type(f)
    if f.is_repeated:
        return column(f.name, JSON, False, False, f"repeated {source}")
    nullable = bool(f.has_presence) and not f.is_required
    return column(f.name, type_, nullable, bool(f.has_default_value), source)


def protobuf_columns(descriptor: Any) -> list[Column]:
    """The columns of a message descriptor's fields, in declaration order (see the module doc)."""
    return [_field(f) for f in descriptor.fields]
