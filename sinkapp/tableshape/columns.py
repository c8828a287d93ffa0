"""The column model every schema mapper returns, and the type texts they may produce.

Who calls: the mappers (``avro_map``, ``protobuf_map``, ``jsonschema_map``, ``connect_map``) build
:class:`Column` values with :func:`column`; :mod:`.ddl` and :mod:`.compat` read type texts back
with :func:`parse_type`. Nothing here does I/O.

A column type is always one of: ``BOOLEAN TINYINT SMALLINT INT BIGINT LARGEINT FLOAT DOUBLE
DECIMAL(p,s) VARCHAR(n) STRING DATE DATETIME JSON``. Type parameters are integers range-checked
here (:func:`decimal_type`, :func:`varchar_type`) before any statement sees them: a schema's
``precision: "10); DROP"`` is refused, a precision StarRocks cannot hold (0, 39, 1000) becomes
``STRING`` (the converters render decimals as exact text, which a STRING column keeps).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from sinkapp.errors import SchemaMappingError
from sinkapp.tableshape.names import check_identifier

BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, LARGEINT = "BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT"
FLOAT, DOUBLE, STRING, DATE, DATETIME, JSON = "FLOAT", "DOUBLE", "STRING", "DATE", "DATETIME", "JSON"
#: StarRocks has no TIME column type: times of day load as their text, ``HH:MM:SS.ffffff`` (15
#: characters; Debezium MicroTime may exceed 24 h, ``838:59:59.000000``; room for a sign)
TIME_TEXT = "VARCHAR(32)"
UUID = "VARCHAR(36)"               # 8-4-4-4-12 hex digits
MAX_DECIMAL_PRECISION = 38         # DECIMAL128 (docs.starrocks.io sql-reference/data-types/DECIMAL)
MAX_VARCHAR = 1_048_576            # VARCHAR(n): 1..1048576 bytes since 2.1 (System_limit)
STRING_BYTES = 65_533              # STRING is VARCHAR(65533) (DESC shows it so)


@dataclass(frozen=True)
class Column:
    """One column a record schema asks for.

    ``name``: the record's field name, checked by :func:`~.names.check_identifier`; ``type``: the
    StarRocks type text (see the module doc); ``nullable``: the schema lets the field be absent or
    null (Avro union with null, Connect ``optional``, protobuf field presence, JSON Schema not
    ``required`` or a ``"null"`` type); ``has_default``: the schema gives a default; ``source``:
    the schema's own type text, for messages (``long``, ``bytes(decimal 10,2)``,
    ``io.debezium.time.MicroTimestamp``).
    """

    name: str
    type: str
    nullable: bool
    has_default: bool
    source: str


def column(name: Any, type_: str, nullable: bool, has_default: bool, source: str) -> Column:
    """A :class:`Column` whose name StarRocks takes (else :class:`SchemaMappingError`)."""
    return Column(check_identifier(name, "column"), type_, nullable, has_default, source)


def int_param(value: Any, field: str, what: str) -> int | None:
    """A schema's type parameter (``precision``, ``scale``, ``connect.decimal.precision``) as an int;
    ``None`` when absent. Connect writes them as text (``"2"``): digits are taken, anything else is
    refused naming the field."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,6}", value.strip()):
        return int(value.strip())
    raise SchemaMappingError(f"field {field!r}: the schema's decimal {what} {value!r} is not an integer; fix "
                             "the producer's schema", field=field)


def decimal_type(precision: Any, scale: Any, field: str) -> str:
    """``DECIMAL(p,s)`` for 1 ≤ p ≤ 38 and 0 ≤ s ≤ p; ``STRING`` for any other integer precision or
    scale (unknown precision included: the exact decimal text loads into STRING)."""
    p, s = int_param(precision, field, "precision"), int_param(scale, field, "scale")
    s = 0 if s is None else s
    if p is None or not (1 <= p <= MAX_DECIMAL_PRECISION and 0 <= s <= p):
        return STRING
    return f"DECIMAL({p},{s})"


def varchar_type(length: int) -> str:
    """``VARCHAR(n)`` for 1 ≤ n ≤ 1048576, else ``STRING``."""
    if isinstance(length, int) and not isinstance(length, bool) and 1 <= length <= MAX_VARCHAR:
        return f"VARCHAR({length})"
    return STRING


class TypeSpec(NamedTuple):
    """A parsed type text: canonical ``base`` and its integer arguments (VARCHAR length, DECIMAL
    precision and scale); ``unsigned`` for MySQL-style ``bigint(20) unsigned``."""

    base: str
    args: tuple[int, ...] = ()
    unsigned: bool = False


_ALIASES = {"INTEGER": INT, "BOOL": BOOLEAN, "TEXT": STRING, "DECIMALV2": "DECIMAL", "DECIMALV3": "DECIMAL",
            "DECIMAL32": "DECIMAL", "DECIMAL64": "DECIMAL", "DECIMAL128": "DECIMAL", "NUMERIC": "DECIMAL",
            "DATETIMEV2": DATETIME, "DATEV2": DATE}
_TYPE_TEXT = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:\(\s*([0-9]+)\s*(?:,\s*([0-9]+)\s*)?\))?"
                        r"\s*(unsigned)?\s*", re.I)


def parse_type(text: str) -> TypeSpec | None:
    """``bigint(20)`` → ``TypeSpec("BIGINT", (20,))``, ``DECIMAL(10,2)`` → ``("DECIMAL", (10, 2))``;
    ``None`` for anything that is not one simple type (``ARRAY<INT>``, ``MAP<...>``, garbage)."""
    m = _TYPE_TEXT.fullmatch(text or "")
    if m is None:
        return None
    base = m.group(1).upper()
    base = _ALIASES.get(base, base)
    args = tuple(int(g) for g in m.group(2, 3) if g is not None)
    return TypeSpec(base, args, bool(m.group(4)))
