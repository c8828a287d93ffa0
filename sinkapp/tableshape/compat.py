"""Whether an existing table column takes a record field's values.

Who calls: the evolve flow (auto.evolve), with the column type as ``DESC`` (``BIGINT``,
``VARCHAR(65533)``, ``DECIMAL(10,2)``) or ``information_schema.COLUMNS.COLUMN_TYPE`` (``bigint(20)``,
``varchar(65533)``, ``decimal(10,2)``, ``datetime``, ``json``) shows it. Pure.

``compatible`` is True when every value the field's type can render loads without being filtered
or changed:

- the same type;
- a wider integer (INT ← SMALLINT; LARGEINT ← any integer; integers also take BOOLEAN, 0/1);
- DOUBLE ← FLOAT and integers up to INT (exact in a double); FLOAT ← TINYINT/SMALLINT;
- DECIMAL(P,S) ← DECIMAL(p,s) with s ≤ S and p − s ≤ P − S; ← integers whose digits fit P − S;
- DATETIME ← DATE (midnight);
- a character column (CHAR/VARCHAR(n)/STRING) ← any type whose longest text fits n bytes
  (BIGINT 20, DATETIME 26, …; JSON and STRING need 65533).

Anything else is False: a type change (an INT column ← a STRING field), a narrower column, a JSON
column ← a scalar, an unknown column type (ARRAY, MAP, BITMAP, …).

``widened`` says, for a field ``compatible`` refuses, the type auto.evolve gives the column with
``ALTER TABLE ... MODIFY COLUMN`` (the field's own type), when the change is a widening StarRocks'
schema change allows (``ColumnType.isSchemaChangeAllowed`` in the FE; README, type widening):

- an integer column → a wider integer (TINYINT < SMALLINT < INT < BIGINT < LARGEINT);
- FLOAT → DOUBLE;
- VARCHAR(n) (STRING is VARCHAR(65533)) → a longer VARCHAR(m) or STRING;
- DECIMAL(P,S) → DECIMAL(p,S), p > P: the same scale (a scale change would round or pad stored values).

None for everything else (narrowing, INT → VARCHAR, a scale change, BOOLEAN → an integer, CHAR, ...).
"""

from __future__ import annotations

from sinkapp.tableshape.columns import STRING_BYTES, Column, TypeSpec, parse_type

_INT_ORDER = ["BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT"]
_INT_DIGITS = {"BOOLEAN": 1, "TINYINT": 3, "SMALLINT": 5, "INT": 10, "BIGINT": 19, "LARGEINT": 39}
#: bytes of the longest text a value of the type renders as
_TEXT_BYTES = {"BOOLEAN": 5, "TINYINT": 4, "SMALLINT": 6, "INT": 11, "BIGINT": 20, "LARGEINT": 40,
               "FLOAT": 24, "DOUBLE": 24, "DATE": 10, "DATETIME": 26, "JSON": STRING_BYTES,
               "STRING": STRING_BYTES}
_CHAR = frozenset({"CHAR", "VARCHAR", "STRING"})
_WIDEN_INTS = ["TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT"]


def _table_spec(text: str) -> TypeSpec | None:
    spec = parse_type(text)
    if spec is None:
        return None
    if spec.base in _INT_ORDER and spec.base != "BOOLEAN":
        if spec.base == "TINYINT" and spec.args == (1,):
            return TypeSpec("BOOLEAN")          # MySQL's spelling of BOOLEAN in COLUMN_TYPE
        if spec.unsigned:                       # bigint(20) unsigned: StarRocks' LARGEINT shown MySQL-style
            return TypeSpec("LARGEINT")
        return TypeSpec(spec.base)              # display widths (bigint(20)) are not lengths
    if spec.base == "STRING":
        return TypeSpec("VARCHAR", (STRING_BYTES,))
    if spec.base == "DECIMAL" and len(spec.args) == 1:
        return TypeSpec("DECIMAL", (spec.args[0], 0))
    if spec.base == "DECIMAL" and not spec.args:
        return TypeSpec("DECIMAL", (10, 0))     # StarRocks' default DECIMAL
    return spec


def _text_bytes(spec: TypeSpec) -> int:
    if spec.base in ("VARCHAR", "CHAR"):
        return spec.args[0] if spec.args else 1
    if spec.base == "DECIMAL":
        return spec.args[0] + 2                  # sign and point
    return _TEXT_BYTES.get(spec.base, STRING_BYTES + 1)


def compatible(table_type: str, col: Column) -> bool:
    """True when values of ``col`` load correctly into a column shown as ``table_type`` (module doc)."""
    have, want = _table_spec(table_type), _table_spec(col.type)
    if have is None or want is None:
        return False
    if have == want:
        return True
    if have.base in _CHAR:
        return _text_bytes(want) <= (have.args[0] if have.args else 1)
    if have.base in _INT_ORDER:
        return want.base in _INT_ORDER and _INT_ORDER.index(want.base) <= _INT_ORDER.index(have.base)
    if have.base == "DOUBLE":
        return want.base in ("FLOAT", "BOOLEAN", "TINYINT", "SMALLINT", "INT")
    if have.base == "FLOAT":
        return want.base in ("BOOLEAN", "TINYINT", "SMALLINT")
    if have.base == "DECIMAL":
        p_have, s_have = have.args
        if want.base == "DECIMAL":
            p, s = want.args
            return s <= s_have and p - s <= p_have - s_have
        return want.base in _INT_DIGITS and _INT_DIGITS[want.base] <= p_have - s_have
    if have.base == "DATETIME":
        return want.base == "DATE"
    return False


def widened(table_type: str, col: Column) -> str | None:
    """The type a column shown as ``table_type`` is widened to so that it takes values of ``col``, or
    None when it already does or the change is no widening (module doc)."""
    have, want = _table_spec(table_type), parse_type(col.type)
    if have is None or want is None or want.unsigned or compatible(table_type, col):
        return None
    if have.base in _WIDEN_INTS and want.base in _WIDEN_INTS:
        return want.base if _WIDEN_INTS.index(want.base) > _WIDEN_INTS.index(have.base) else None
    if have.base == "FLOAT" and want.base == "DOUBLE" and not want.args:
        return "DOUBLE"
    if have.base == "VARCHAR" and want.base == "STRING" and not want.args:
        return "STRING"
    if have.base == "VARCHAR" and want.base == "VARCHAR" and len(want.args) == 1:
        return f"VARCHAR({want.args[0]})" if want.args[0] > (have.args[0] if have.args else 1) else None
    if have.base == "DECIMAL" and want.base == "DECIMAL" and len(want.args) == 2:
        (p_have, s_have), (p, s) = have.args, want.args
        return f"DECIMAL({p},{s})" if s == s_have and p > p_have else None
    return None
