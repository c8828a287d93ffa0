"""Kafka Connect's ``TimestampConverter$Value``, on logical values.

Who calls: :func:`sinkapp.transforms.build_transform`. The field's value may be a logical value
as the converters give it (Connect Timestamp → aware ``datetime``, Date → ``date``, Time →
``time``), epoch numbers (``unix.precision``), or text parsed with ``format`` (a
``java.text.SimpleDateFormat`` pattern, see :mod:`sinkapp.transforms.javadate`) or, failing that,
ISO-8601. Output per ``target.type``: Timestamp → aware UTC ``datetime``, Date → ``date``, Time →
``time``, unix → an integer, string → the pattern's text in UTC. Logical outputs become text when
the row is encoded (:mod:`sinkapp.streamload.encoding`), as a Connect logical value would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sinkapp.errors import ConfigError, TransformError
from sinkapp.transforms.base import Meta, Transform, register
from sinkapp.transforms.javadate import JavaDateFormat
from sinkapp.transforms.paths import need

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US_PER = {"seconds": 1_000_000, "milliseconds": 1000, "microseconds": 1, "nanoseconds": None}
_TARGETS = ("Timestamp", "Date", "Time", "unix", "string")


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


class _Reader:
    """A field's value → the aware UTC instant it stands for."""

    def __init__(self, fname: str, pattern: JavaDateFormat | None, precision: str) -> None:
        self.fname, self.pattern, self.precision = fname, pattern, precision

    def __call__(self, v: Any) -> dt.datetime:
        if isinstance(v, bool):
            raise TransformError(f"field {self.fname!r} is a boolean, not a time")
        if isinstance(v, dt.datetime):
            return _utc(v)
        if isinstance(v, dt.date):
            return dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC)
        if isinstance(v, dt.time):
            return dt.datetime.combine(_EPOCH.date(), v.replace(tzinfo=None), dt.UTC)
        if isinstance(v, int | float):
            per = _US_PER[self.precision]
            us = v / 1000 if per is None else v * per
            return _EPOCH + dt.timedelta(microseconds=us)
        if isinstance(v, str):
            return self.text(v)
        raise TransformError(f"field {self.fname!r} is {type(v).__name__}, not a time")

    def text(self, v: str) -> dt.datetime:
        if self.pattern is not None:                 # Connect parses string input with format
            got = self.pattern.parse(v)
            if got is not None:
                return got
        try:
            return _utc(dt.datetime.fromisoformat(v.replace("Z", "+00:00")))
        except ValueError:
            pass
        try:
            return dt.datetime.combine(_EPOCH.date(), dt.time.fromisoformat(v), dt.UTC)
        except ValueError:
            what = f"format {self.pattern.pattern!r}" if self.pattern else "a format"
            raise TransformError(f"field {self.fname!r}={v!r} matches neither {what} nor ISO-8601") from None


def _unix(ts: dt.datetime, precision: str) -> int:
    us = (ts - _EPOCH) // dt.timedelta(microseconds=1)
    per = _US_PER[precision]
    return us * 1000 if per is None else us // per


@register("TimestampConverter", "org.apache.kafka.connect.transforms.TimestampConverter$Value")
def timestamp_converter(options: Mapping[str, str]) -> Transform:
    fname = need(options, "field")
    target = need(options, "target.type")
    if target not in _TARGETS:
        raise ConfigError(f"target.type={target!r}: use {', '.join(_TARGETS)}")
    fmt = options.get("format")
    if target == "string" and not fmt:
        raise ConfigError("target.type=string needs format (a java.text.SimpleDateFormat pattern, e.g. "
                          "yyyy-MM-dd HH:mm:ss)")
    pattern = JavaDateFormat(fmt) if fmt else None
    precision = options.get("unix.precision", "milliseconds")
    if precision not in _US_PER:
        raise ConfigError(f"unix.precision={precision!r}: use seconds, milliseconds, microseconds or nanoseconds")
    read = _Reader(fname, pattern, precision)

    def convert(ts: dt.datetime) -> Any:
        if target == "Timestamp":
            return ts
        if target == "Date":
            return ts.date()
        if target == "Time":
            return ts.time()
        if target == "unix":
            return _unix(ts, precision)
        assert pattern is not None
        return pattern.format(ts)

    def t(value: dict[str, Any], meta: Meta) -> Any:
        v = value.get(fname)
        if v is None:
            return value
        out = dict(value)
        out[fname] = convert(read(v))
        return out
    return t
