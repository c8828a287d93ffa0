"""Per-column value conversion (docs/streamload-protocol.md §6.3).

:func:`make_converter` compiles, once per load, a function ``raw -> value`` for a column. ``raw``
is a CSV field (``str``) or a JSON value (``str``/``int``/``float``/``bool``/``dict``/``list``); genuine
NULLs (``\\N``, JSON ``null``, missing keys) never reach the converter. A value that cannot be
converted raises :class:`ConvertFailure`; :func:`convert_cell` applies the strict-mode rule:

* strict_mode=false: a failed conversion becomes NULL; loaded if the column is nullable, else the
  row is filtered;
* strict_mode=true: a failed conversion filters the row; genuine NULL stays NULL.

String values longer than the declared length always filter the row (documented reason
``the length of input is too long than schema.``, §6.1).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation

import orjson

from .jsondemand import INVALID
from .schema import Column

_INT_RANGE = {
    "TINYINT": (-(2**7), 2**7 - 1), "SMALLINT": (-(2**15), 2**15 - 1), "INT": (-(2**31), 2**31 - 1),
    "BIGINT": (-(2**63), 2**63 - 1), "LARGEINT": (-(2**127), 2**127 - 1),
}
_INT_TEXT = re.compile(r"[+-]?\d+")
_DATE_TEXT = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})|(\d{4})(\d{2})(\d{2})")
_DATETIME_TEXT = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6})\d*)?)?)?(Z|[+-]\d{2}:?\d{2})?")

Converter = Callable[[object], object]
_WIDE = Context(prec=80)      # DECIMAL(38, s) has more digits than the default context keeps


class ConvertFailure(Exception):
    """A value does not fit its column; ``always_filter`` ignores strict mode (too-long strings)."""

    def __init__(self, reason: str, *, always_filter: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.always_filter = always_filter


def _fail(col: Column, raw: object) -> ConvertFailure:
    src = "json value"
    text = raw if isinstance(raw, str) else orjson.dumps(raw, default=str).decode()
    return ConvertFailure(f"convert {src} to {col.type} failed. column: {col.name}, value: {text}")


def _int(col: Column) -> Converter:
    lo, hi = _INT_RANGE[col.type]

    def conv(raw: object) -> object:
        if isinstance(raw, bool):
            v = int(raw)
        elif isinstance(raw, int):
            v = raw
        elif isinstance(raw, float) and math.isfinite(raw):
            v = int(raw)     # a JSON double truncates toward zero (2147483647.3 -> 2147483647), then range
        elif isinstance(raw, str) and _INT_TEXT.fullmatch(raw):
            v = int(raw)
        else:
            raise _fail(col, raw)
        if not lo <= v <= hi:
            raise _fail(col, raw)
        return v
    return conv


def _bool(col: Column) -> Converter:
    def conv(raw: object) -> object:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str):
            low = raw.lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0"):
                return False
        raise _fail(col, raw)
    return conv


def _float(col: Column) -> Converter:
    def conv(raw: object) -> object:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                pass
        raise _fail(col, raw)
    return conv


def _decimal(col: Column) -> Converter:
    max_int_digits = col.precision - col.scale
    quantum = Decimal(1).scaleb(-col.scale)

    def conv(raw: object) -> object:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
            raise _fail(col, raw)
        try:
            d = raw if isinstance(raw, Decimal) else Decimal(raw if isinstance(raw, str) else repr(raw))
        except InvalidOperation:
            raise _fail(col, raw) from None
        if not d.is_finite():
            raise _fail(col, raw)
        sign, digits, exp = d.as_tuple()
        assert isinstance(exp, int)
        frac = max(0, -exp)
        int_digits = max(0, len(digits) + exp) if d != 0 else 0
        if frac > col.scale:
            raise ConvertFailure(f"the frac part length longer than schema scale. column: {col.name}, "
                                 f"value: {raw}, scale: {col.scale}")
        if int_digits > max_int_digits:
            raise _fail(col, raw)
        return d.quantize(quantum, context=_WIDE)     # stored at the column's scale: 1.5 -> 1.50
    return conv


def _string(col: Column) -> Converter:
    limit = col.length

    def conv(raw: object) -> object:
        if isinstance(raw, str):
            s = raw
        elif isinstance(raw, bool):
            s = "true" if raw else "false"
        elif isinstance(raw, int | float):
            s = repr(raw)
        else:  # objects/arrays land as their JSON text
            s = orjson.dumps(raw).decode()
        if len(s) > limit // 4 and len(s.encode()) > limit:
            raise ConvertFailure(
                f"the length of input is too long than schema. column_name: {col.name}; "
                f"input_str: {s[:100]}; schema length: {limit}; actual length: {len(s.encode())}",
                always_filter=True)
        return s
    return conv


def _date(col: Column) -> Converter:
    def conv(raw: object) -> object:
        if isinstance(raw, str):
            m = _DATE_TEXT.fullmatch(raw.strip()) or _DATETIME_TEXT.fullmatch(raw.strip())
            if m:
                g = [x for x in m.groups() if x is not None]
                try:
                    return dt.date(int(g[0]), int(g[1]), int(g[2]))
                except ValueError:
                    pass
        raise _fail(col, raw)
    return conv


def _datetime(col: Column) -> Converter:
    def conv(raw: object) -> object:
        if isinstance(raw, str):
            m = _DATETIME_TEXT.fullmatch(raw.strip())
            if m:
                y, mo, d, h, mi, s, us, _tz = m.groups()
                try:
                    return dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                                       int((us or "0").ljust(6, "0")))
                except ValueError:
                    pass
        raise _fail(col, raw)
    return conv


def _json(col: Column) -> Converter:
    def conv(raw: object) -> object:
        if isinstance(raw, str):
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise _fail(col, raw) from None
        return raw
    return conv


def _nested(col: Column, *, text: bool = True) -> Converter:
    """ARRAY from a JSON array, MAP and STRUCT from a JSON object (a STRUCT also from an array, by
    position); a CSV field (``text``) is read as JSON text first, a JSON string value is no array
    (NULL in R test_invalid_json). Elements convert as their own
    columns; an element that does not convert makes the whole value fail."""
    kids = [make_converter(c) for c in col.children]

    def elem(conv: Converter, v: object) -> object:
        return None if v is None else conv(v)

    def build(value: object) -> object:
        if col.type == "ARRAY" and isinstance(value, list):
            return [elem(kids[0], v) for v in value]
        if col.type == "MAP" and isinstance(value, dict):
            return {elem(kids[0], k): elem(kids[1], v) for k, v in value.items()}
        if col.type == "STRUCT" and isinstance(value, dict | list):
            got = value if isinstance(value, list) else [value.get(c.name) for c in col.children]
            if len(got) == len(col.children):
                return {c.name: elem(k, v) for c, k, v in zip(col.children, kids, got, strict=True)}
        raise ValueError

    def conv(raw: object) -> object:
        try:
            return build(orjson.loads(raw) if isinstance(raw, str) and text else raw)
        except (ValueError, ConvertFailure):      # orjson.JSONDecodeError is a ValueError
            raise _fail(col, raw) from None
    return conv


_FACTORIES: dict[str, Callable[[Column], Converter]] = {
    "BOOLEAN": _bool, "TINYINT": _int, "SMALLINT": _int, "INT": _int, "BIGINT": _int, "LARGEINT": _int,
    "FLOAT": _float, "DOUBLE": _float, "DECIMAL": _decimal, "CHAR": _string, "VARCHAR": _string,
    "STRING": _string, "DATE": _date, "DATETIME": _datetime, "JSON": _json,
    "ARRAY": _nested, "MAP": _nested, "STRUCT": _nested,
}


def make_converter(col: Column, source: str = "json") -> Converter:
    """``source="csv"`` words failures as the documented CSV reason (§6.1)."""
    conv = _nested(col, text=source == "csv") if col.children else _FACTORIES[col.type](col)
    if source != "csv":
        return conv

    def csv_conv(raw: object) -> object:
        try:
            return conv(raw)
        except ConvertFailure as exc:
            if exc.reason.startswith("convert json value"):
                exc.reason = "convert csv string" + exc.reason[len("convert json value"):]
            raise
    return csv_conv


def convert_cell(col: Column, conv: Converter, raw: object, strict: bool) -> tuple[object, str | None]:
    """Return ``(value, None)`` or ``(None, reason)`` when the row must be filtered (§6.3). A value the
    on-demand JSON reader could not read (:data:`.jsondemand.INVALID`) fails like a bad conversion."""
    if raw is None:
        if col.nullable:
            return None, None
        return None, f"NULL value in non-nullable column '{col.name}'"
    try:
        if raw is INVALID:
            raise ConvertFailure(f"invalid json value for column {col.name}")
        return conv(raw), None
    except ConvertFailure as exc:
        if strict or exc.always_filter:
            return None, exc.reason
        if col.nullable:
            return None, None
        return None, f"{exc.reason}; NULL value in non-nullable column '{col.name}'"
