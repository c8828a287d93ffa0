"""The Java connector's ``TimeMillisToStringTransform``: Connect Time fields → ``HH:mm:ss`` text.

Who calls: :func:`sinkapp.transforms.build_transform`. Semantics of
``com.starrocks.connector.kafka.transforms.TimeMillisToStringTransform`` (added for SQL Server
``TIME`` columns):

- ``fields``: comma list of top-level field names to convert; empty (the default) converts every
  field whose value is a Connect Time (``org.apache.kafka.connect.data.Time``; here a
  ``datetime.time``, as JsonConverter with schemas and Avro ``time-millis`` give it);
- ``format``: ``HH:mm:ss`` (default) or ``HH:mm:ss.SSS``; anything else is a ConfigError (the
  Java class silently falls back to ``HH:mm:ss``);
- a converted field becomes text (in Java its schema becomes an optional or required STRING);
  a null stays null; a named field that is an integer is taken as milliseconds since midnight
  (Java: Integer, or a Long cut to 32 bits), a timestamp or date as its time of day (epoch ms
  mod 86,400,000, Java's ``%``), a string is left as it is, a boolean or number becomes its
  text; a record or array is a bad record (Java would write its ``toString()``);
- a value without a Connect schema (JsonConverter with ``schemas.enable=false``, String or
  ByteArray converters) passes through unchanged: the transform is registered schema-only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from sinkapp.errors import ConfigError, TransformError
from sinkapp.transforms.base import Meta, Transform, register

CLASS = "com.starrocks.connector.kafka.transforms.TimeMillisToStringTransform"
_FORMATS = ("HH:mm:ss", "HH:mm:ss.SSS")
_DAY_MS = 86_400_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _int32(v: int) -> int:
    """Java's ``Long.intValue()``: the low 32 bits, signed."""
    return (v + 2**31) % 2**32 - 2**31


def _java_rem(a: int, b: int) -> int:
    """Java's ``%`` (the sign of the dividend)."""
    r = abs(a) % b
    return -r if a < 0 else r


def millis_text(millis: int, with_ms: bool) -> str:
    """``formatMillisSinceMidnight`` of the Java class: hours are not wrapped at 24."""
    sign = "-" if millis < 0 else ""
    millis = abs(millis)
    s, ms = divmod(millis, 1000)
    text = f"{sign}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{text}.{ms:03d}" if with_ms else text


def _millis(name: str, v: Any) -> int | str:
    """Milliseconds since midnight of a field's value, or the text Java would write instead."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return _int32(v)
    if isinstance(v, dt.datetime):
        aware = v if v.tzinfo is not None else v.replace(tzinfo=dt.UTC)
        return _java_rem((aware - _EPOCH) // dt.timedelta(milliseconds=1), _DAY_MS)
    if isinstance(v, dt.date):
        return 0                                   # a Connect Date is midnight UTC
    if isinstance(v, dt.time):
        return ((v.hour * 60 + v.minute) * 60 + v.second) * 1000 + v.microsecond // 1000
    if isinstance(v, str):
        return v
    if isinstance(v, dict | list):
        raise TransformError(f"field {name!r} is a {'record' if isinstance(v, dict) else 'array'}, "
                             "not a time (TimeMillisToStringTransform converts top-level time fields)")
    return str(v)


@register("TimeMillisToString", CLASS, schema_only=True)
def time_millis_to_string(options: Mapping[str, str]) -> Transform:
    text = (options.get("fields") or "").strip()
    fields = [f for f in re.split(r"\s*,\s*", text) if f] if text else []
    fmt = (options.get("format") or "").strip() or "HH:mm:ss"
    if fmt not in _FORMATS:
        raise ConfigError(f"format={fmt!r}: TimeMillisToStringTransform writes HH:mm:ss (default) or "
                          "HH:mm:ss.SSS (the Java class treats any other value as HH:mm:ss)")
    with_ms = fmt == "HH:mm:ss.SSS"

    def t(value: dict[str, Any], meta: Meta) -> Any:
        names = fields or [k for k, v in value.items() if isinstance(v, dt.time)]
        names = [n for n in names if n in value]
        if not names:
            return value
        out = dict(value)
        for n in names:
            v = out[n]
            if v is not None:
                got = _millis(n, v)
                out[n] = got if isinstance(got, str) else millis_text(got, with_ms)
        return out
    return t
