"""``ALTER TABLE ... MODIFY COLUMN``: which type changes StarRocks' FE takes, refused in its words, and
how the stored values of a changed column read afterwards (MYSQL.md §4.3a).

:func:`check` is called per clause with the column as the table has it and as the clause defines it;
it raises :class:`.sqlnames.SqlError` (1064 and the FE's text) for a change StarRocks refuses, an
``emulator:`` refusal (1235) for one StarRocks takes but the emulator does not convert, and otherwise
returns the function that converts a stored value (applied when the job finishes).

Sources: [FE-COLTYPE] ``ColumnType.java`` (``schemaChangeMatrix``, ``isSchemaChangeAllowedInvolvingDecimalV3``),
[FE-COLUMN] ``Column.checkSchemaChangeAllowed`` (``Can not change <old> to <new>``, ``Can not change from
nullable to non-nullable``, ``Can not change default value``, ``Cannot shorten string length``) and
[FE-MODIFY] ``SchemaChangeHandler.processModifyColumn`` (``Can not modify key column: c for primary key
table``, ``Can not modify sort column in primary data model table``, ``Column[c] does not exists``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .schema import Column, TableSchema
from .sqlnames import ERR_PARSE, SqlError, unsupported

Convert = Callable[[Any], Any]
_INTS = ("TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT")
#: [FE-COLTYPE] schemaChangeMatrix: what a type may become besides itself (DECIMAL apart; STRING is VARCHAR)
_ALLOWED = {
    "TINYINT": {"SMALLINT", "INT", "BIGINT", "LARGEINT", "DOUBLE", "VARCHAR"},
    "SMALLINT": {"INT", "BIGINT", "LARGEINT", "DOUBLE", "VARCHAR"},
    "INT": {"BIGINT", "LARGEINT", "DOUBLE", "DATE", "VARCHAR"},
    "BIGINT": {"LARGEINT", "DOUBLE", "VARCHAR"},
    "LARGEINT": {"VARCHAR"}, "FLOAT": {"DOUBLE", "VARCHAR"}, "DOUBLE": {"VARCHAR"},
    "CHAR": {"VARCHAR"}, "JSON": {"VARCHAR"},
    "VARCHAR": {"JSON", *_INTS, "FLOAT", "DOUBLE", "DATE", "DECIMAL"},
    "DATETIME": {"DATE"}, "DATE": {"DATETIME"},
}


def _base(c: Column) -> str:
    return "VARCHAR" if c.type == "STRING" else c.type


def type_name(c: Column) -> str:
    """The type as the FE's messages write it (``Type.toString``): ``INT``, ``VARCHAR(65533)`` for
    STRING, ``DECIMAL64(12,2)`` (DECIMAL32 up to 9 digits, DECIMAL64 up to 18, else DECIMAL128)."""
    if c.type in ("CHAR", "VARCHAR", "STRING"):
        return f"{'CHAR' if c.type == 'CHAR' else 'VARCHAR'}({c.length})"
    if c.type == "DECIMAL":
        bits = 32 if c.precision <= 9 else 64 if c.precision <= 18 else 128
        return f"DECIMAL{bits}({c.precision},{c.scale})"
    return c.type


def _allowed(old: Column, new: Column) -> bool:
    a, b = _base(old), _base(new)
    if a == "DECIMAL" and b == "DECIMAL":       # both fraction and integer part wide enough
        return old.scale <= new.scale and old.precision - old.scale <= new.precision - new.scale
    if a == "DECIMAL":
        return b == "VARCHAR" and old.precision + 2 <= new.length     # getMysqlResultSetFieldLength
    return a == b or b in _ALLOWED.get(a, set())


def _converter(old: Column, new: Column) -> Convert | None:
    """How a stored value reads after the change; None for the changes the emulator does not make."""
    a, b = _base(old), _base(new)
    if a == b and a != "DECIMAL":
        return lambda v: v
    if (a in _INTS and b in _INTS) or (a in ("CHAR", "VARCHAR") and b in ("CHAR", "VARCHAR")):
        return lambda v: v
    if a in (*_INTS, "FLOAT") and b == "DOUBLE":
        return float
    if a == "DECIMAL" and b == "DECIMAL":
        quantum = Decimal(1).scaleb(-new.scale)
        return lambda v: Decimal(v).quantize(quantum)
    if a in (*_INTS, "DECIMAL") and b == "VARCHAR":
        return str
    if a == "DATE" and b == "DATETIME":
        return lambda v: dt.datetime.combine(v, dt.time())
    return None


def check(schema: TableSchema, old: Column, new: Column, *, key: bool = False) -> Convert:
    """The stored-value converter of ``old`` becoming ``new`` in ``schema``, or SqlError (module doc);
    ``key``: the clause says KEY."""
    name = old.name
    keys = {k.lower() for k in schema.key_columns}
    if schema.keys_type == "PRIMARY" and name.lower() in keys:
        raise SqlError(ERR_PARSE, f"Can not modify key column: {name} for primary key table")
    if schema.keys_type == "PRIMARY" and name.lower() in {k.lower() for k in schema.sort_key}:
        raise SqlError(ERR_PARSE, "Can not modify sort column in primary data model table")
    if name.lower() in keys or key:
        raise unsupported(f"MODIFY COLUMN of a key column ({name} of a {schema.keys_type} KEY table)")
    if old.children or new.children:
        raise unsupported("MODIFY COLUMN of ARRAY, MAP or STRUCT columns")
    if not _allowed(old, new):
        raise SqlError(ERR_PARSE, f"Can not change {type_name(old)} to {type_name(new)}")
    if old.nullable and not new.nullable:
        raise SqlError(ERR_PARSE, "Can not change from nullable to non-nullable")
    if old.default != new.default:
        raise SqlError(ERR_PARSE, "Can not change default value")
    if _base(old) in ("CHAR", "VARCHAR") and _base(new) in ("CHAR", "VARCHAR") and old.length > new.length:
        raise SqlError(ERR_PARSE, "Cannot shorten string length")
    conv = _converter(old, new)
    if conv is None:
        raise unsupported(f"MODIFY COLUMN from {type_name(old)} to {type_name(new)} (StarRocks allows it; "
                          "the emulator does not convert stored values that way)")
    return conv
