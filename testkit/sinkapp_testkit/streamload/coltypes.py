"""Column types of the emulator's tables: :class:`Column`, :func:`build_column` and :func:`from_datatype`.

Scalar types: BOOLEAN, TINYINT … LARGEINT, FLOAT, DOUBLE, DECIMAL(p,s), CHAR(n), VARCHAR(n), STRING, DATE,
DATETIME, JSON (and aliases). Nested types (StarRocks' ARRAY<T>, MAP<K,V>, STRUCT<name T, ...>) keep their
element types in ``children`` (an ARRAY has one, a MAP the key and the value, a STRUCT one per field,
named). Nested type text is parsed by sqlglot's StarRocks dialect (``exp.DataType.build``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlglot import exp
from sqlglot.errors import ParseError

from .errors import DdlError

ALIASES = {
    "INTEGER": "INT", "BOOL": "BOOLEAN", "TEXT": "STRING", "DECIMALV2": "DECIMAL",
    "DECIMALV3": "DECIMAL", "DECIMAL32": "DECIMAL", "DECIMAL64": "DECIMAL", "DECIMAL128": "DECIMAL",
    "NUMERIC": "DECIMAL", "DATETIMEV2": "DATETIME", "DATEV2": "DATE", "VARBINARY": "STRING",
    "BINARY": "STRING", "INT128": "LARGEINT", "BIGDECIMAL": "DECIMAL", "TIMESTAMP": "DATETIME",
}
TYPES = frozenset({"BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT", "FLOAT", "DOUBLE",
                   "DECIMAL", "CHAR", "VARCHAR", "STRING", "DATE", "DATETIME", "JSON",
                   "ARRAY", "MAP", "STRUCT"})
NESTED = frozenset({"ARRAY", "MAP", "STRUCT"})
STRING_MAX_BYTES = 65533  # STRING = VARCHAR(65533)
CURRENT_TIMESTAMP = "CURRENT_TIMESTAMP"   # DEFAULT CURRENT_TIMESTAMP (also written now() / CURRENT_TIMESTAMP())


@dataclass(frozen=True)
class Column:
    name: str
    type: str                      # canonical upper-case name from TYPES
    length: int = 0                # CHAR/VARCHAR/STRING max bytes
    precision: int = 0             # DECIMAL
    scale: int = 0                 # DECIMAL
    nullable: bool = True
    default: str | None = None     # literal text of DEFAULT (CURRENT_TIMESTAMP for the function), None when absent
    children: tuple[Column, ...] = ()   # ARRAY: element; MAP: key, value; STRUCT: the fields


def build_column(name: str, raw_type: str, nums: list[int], nullable: bool, default: str | None, *,
                 where: str = "", table: str = "", children: tuple[Column, ...] = ()) -> Column:
    """A :class:`Column` from its parts (type name as written, integer type arguments); raises
    :class:`DdlError` prefixed with ``where``."""
    ctype = ALIASES.get(raw_type.upper(), raw_type.upper())
    if ctype not in TYPES:
        raise DdlError(f"{where}unsupported column type {raw_type!r} for column {name!r} of {table}")
    length = precision = scale = 0
    if ctype in ("CHAR", "VARCHAR"):
        length = nums[0] if nums else 1   # StarRocks: VARCHAR/CHAR without length = 1
    elif ctype == "STRING":
        length = STRING_MAX_BYTES
    elif ctype == "DECIMAL":
        precision = nums[0] if nums else 10
        scale = nums[1] if len(nums) > 1 else 0
        if not (1 <= precision <= 38 and 0 <= scale <= precision):
            raise DdlError(f"{where}invalid DECIMAL({precision},{scale}) for column {name!r}")
    if default is not None and default.upper().rstrip("()") in (CURRENT_TIMESTAMP, "NOW"):
        default = CURRENT_TIMESTAMP
    return Column(name, ctype, length, precision, scale, nullable, default, children)


def from_datatype(name: str, dt: exp.DataType, *, nullable: bool = True, default: str | None = None,
                  where: str = "", table: str = "") -> Column:
    """A :class:`Column` from sqlglot's parse of a type, nested types included."""
    raw = dt.this.name
    children: tuple[Column, ...] = ()
    nums: list[int] = []
    if raw in NESTED:
        kids = []
        for i, e in enumerate(dt.expressions):
            if isinstance(e, exp.ColumnDef) and isinstance(e.args.get("kind"), exp.DataType):
                kids.append(from_datatype(e.name, e.args["kind"], where=where, table=table))
            elif isinstance(e, exp.DataType):
                kids.append(from_datatype(("key", "value")[i] if raw == "MAP" else "element", e,
                                          where=where, table=table))
            else:
                raise DdlError(f"{where}cannot read the type {dt.sql('starrocks')} of column {name!r}")
        if (raw == "ARRAY" and len(kids) != 1) or (raw == "MAP" and len(kids) != 2) or not kids:
            raise DdlError(f"{where}incomplete type {dt.sql('starrocks')} for column {name!r}")
        children = tuple(kids)
    else:
        try:
            nums = [int(p.name) for p in dt.expressions]
        except ValueError:
            raise DdlError(f"{where}bad type arguments {dt.sql('starrocks')} for column {name!r}") from None
    return build_column(name, raw, nums, nullable, default, where=where, table=table, children=children)


def parse_type(name: str, text: str, *, nullable: bool = True, default: str | None = None,
               where: str = "", table: str = "") -> Column:
    """A column of type ``text`` (``array<int(11)>``, ``MAP<VARCHAR(10), VARCHAR(10)>``, ...)."""
    try:
        dt = exp.DataType.build(text, dialect="starrocks")
    except (ParseError, ValueError):
        raise DdlError(f"{where}cannot parse the type {text!r} of column {name!r} of {table}") from None
    return from_datatype(name, dt, nullable=nullable, default=default, where=where, table=table)


def not_null(c: Column) -> Column:
    return replace(c, nullable=False)
