"""JSON (plain or Connect envelope), String and ByteArray converters.

Who calls: the decode loop (``sinkapp.pipeline.encode``) once per record. ``JsonConverter`` with
``schemas_enable=True`` unwraps ``{"schema":…,"payload":…}`` and turns the Connect logical
types into their logical values, as Kafka Connect hands them to transforms: Decimal →
:class:`decimal.Decimal`, Date → :class:`datetime.date`, Time → :class:`datetime.time`,
Timestamp → an aware UTC :class:`datetime.datetime`. They become text only when the row is
encoded (:mod:`sinkapp.streamload.encoding`): exact decimal text, ``YYYY-MM-DD``, ``HH:MM:SS.fff`` and
``YYYY-MM-DD HH:MM:SS[.ffffff]`` (UTC), never epoch numbers. Debezium's semantic types
(``io.debezium.*``) become their StarRocks text here.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from sinkapp.errors import ConversionError

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DATE0 = dt.date(1970, 1, 1)

DECIMAL = "org.apache.kafka.connect.data.Decimal"
DATE = "org.apache.kafka.connect.data.Date"
TIME = "org.apache.kafka.connect.data.Time"
TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"


def format_datetime(ts: dt.datetime) -> str:
    """StarRocks DATETIME text: ``YYYY-MM-DD HH:MM:SS[.ffffff]`` in UTC."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts.isoformat(sep=" ")


def epoch_ms_to_datetime(ms: int) -> str:
    return format_datetime(_EPOCH + dt.timedelta(milliseconds=ms))


def days_to_date(days: int) -> str:
    return (_DATE0 + dt.timedelta(days=days)).isoformat()


def decimal_text(unscaled: int, scale: int) -> str:
    """Exact fixed-point text of ``unscaled × 10^-scale`` (no exponent form), for DECIMAL columns.

    Who calls: the Connect, Avro and Protobuf decimal conversions.
    """
    digits = str(abs(unscaled))
    if scale > 0:
        digits = digits.rjust(scale + 1, "0")
        digits = f"{digits[:-scale]}.{digits[-scale:]}"
    elif scale < 0:
        digits += "0" * -scale
    return "-" + digits if unscaled < 0 else digits


def _decimal(value: Any, params: dict) -> Decimal:
    if isinstance(value, str):          # decimal.format=BASE64 (Connect's default): big-endian unscaled
        try:
            unscaled = int.from_bytes(base64.b64decode(value, validate=True), "big", signed=True)
        except ValueError:
            raise ConversionError(f"Decimal value {value!r} is not base64") from None
        return Decimal(f"{unscaled}E{-int(params.get('scale', 0))}")  # exact: no context rounding
    if isinstance(value, int | float) and not isinstance(value, bool):  # decimal.format=NUMERIC
        return Decimal(str(value))
    raise ConversionError(f"Decimal value {value!r} is neither base64 text nor a number")


def connect_date(days: int) -> dt.date:
    """Connect's Date (days since the epoch) as its logical value."""
    return _DATE0 + dt.timedelta(days=days)


def connect_time(ms: int) -> dt.time:
    """Connect's Time (milliseconds since midnight) as its logical value."""
    return (dt.datetime.min + dt.timedelta(milliseconds=ms % 86_400_000)).time()


def connect_timestamp(ms: int) -> dt.datetime:
    """Connect's Timestamp (milliseconds since the epoch) as its logical value, in UTC."""
    return _EPOCH + dt.timedelta(milliseconds=ms)


class MicrosTime(dt.time):
    """A time of day written with six fraction digits when encoded (Avro ``time-millis``, as
    sinkapp has always written it); a plain :class:`datetime.time` from Connect's Time is
    written with three (``HH:MM:SS.fff``)."""

    __slots__ = ()


def time_of_day(us: int) -> str:
    """``HH:MM:SS.ffffff`` of microseconds since midnight (Avro time-micros, Debezium MicroTime)."""
    s, us = divmod(int(us), 1_000_000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{us:06d}"


def _wall_clock_us(us: int) -> str:
    """An epoch-based number that Debezium uses for a wall-clock value (no zone): its text."""
    return format_datetime(dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us)))


#: the zone ZonedTimestamp / ZonedTime values are converted to (``sinkapp.timezone``, default UTC);
#: set once per worker by :func:`set_zone`
_ZONE: dt.tzinfo = dt.UTC


def set_zone(name: str | None) -> None:
    """``sinkapp.timezone``: an IANA zone name (``Asia/Shanghai``) or ``UTC``."""
    global _ZONE
    if not name or name.upper() == "UTC":
        _ZONE = dt.UTC
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        _ZONE = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        from sinkapp.errors import ConfigError
        raise ConfigError(f"sinkapp.timezone={name!r} is not an IANA time zone name (e.g. UTC, "
                          "Europe/Berlin, Asia/Shanghai)") from None


def _zoned(text: str, time_only: bool = False) -> str:
    """Debezium ZonedTimestamp (or ZonedTime) ISO text → wall-clock text in ``sinkapp.timezone``."""
    iso = text.replace("Z", "+00:00")
    try:
        ts = (dt.datetime.combine(dt.date(2000, 1, 1), dt.time.fromisoformat(iso)) if time_only
              else dt.datetime.fromisoformat(iso))
    except ValueError:
        raise ConversionError(f"{'ZonedTime' if time_only else 'ZonedTimestamp'} {text!r} is not ISO-8601") from None
    if ts.tzinfo is not None:
        ts = ts.astimezone(_ZONE).replace(tzinfo=None)
    return ts.time().isoformat() if time_only else ts.isoformat(sep=" ")


def _variable_scale_decimal(value: Any) -> Any:
    if not isinstance(value, dict) or "value" not in value:
        return value
    raw = value["value"]
    if isinstance(raw, bytes | bytearray):          # Avro: the bytes themselves; JSON: base64 text
        unscaled = int.from_bytes(raw, "big", signed=True)
    else:
        try:
            unscaled = int.from_bytes(base64.b64decode(raw, validate=True), "big", signed=True)
        except (ValueError, TypeError):
            raise ConversionError(f"VariableScaleDecimal value {value!r} is not base64") from None
    return decimal_text(unscaled, int(value.get("scale") or 0))


#: Debezium's semantic types (io.debezium.time.*, io.debezium.data.*) → StarRocks-ready values.
#: Timestamp/MicroTimestamp/NanoTimestamp are wall-clock values (the source column had no zone) and
#: load as that wall-clock text; ZonedTimestamp/ZonedTime convert to UTC.
DEBEZIUM_TYPES: dict[str, Any] = {
    "io.debezium.time.Date": lambda v: days_to_date(int(v)),
    "io.debezium.time.Time": lambda v: time_of_day(int(v) * 1000),
    "io.debezium.time.MicroTime": lambda v: time_of_day(int(v)),
    "io.debezium.time.NanoTime": lambda v: time_of_day(int(v) // 1000),
    "io.debezium.time.Timestamp": lambda v: _wall_clock_us(int(v) * 1000),
    "io.debezium.time.MicroTimestamp": lambda v: _wall_clock_us(int(v)),
    "io.debezium.time.NanoTimestamp": lambda v: _wall_clock_us(int(v) // 1000),
    "io.debezium.time.ZonedTimestamp": lambda v: _zoned(v) if isinstance(v, str) else v,
    "io.debezium.time.ZonedTime": lambda v: _zoned(v, time_only=True) if isinstance(v, str) else v,
    "io.debezium.data.VariableScaleDecimal": _variable_scale_decimal,
}


def apply_schema(schema: dict | None, value: Any) -> Any:
    """Walk a Connect JSON schema beside its payload, converting logical types (Connect's and
    Debezium's)."""
    if value is None or not isinstance(schema, dict):
        return value
    name = schema.get("name")
    dbz = DEBEZIUM_TYPES.get(name) if name else None
    if dbz is not None and not isinstance(value, bool):
        return dbz(value)
    if name == DECIMAL:
        return _decimal(value, schema.get("parameters") or {})
    if name == DATE and isinstance(value, int):
        return connect_date(value)
    if name == TIME and isinstance(value, int):
        return connect_time(value)
    if name == TIMESTAMP and isinstance(value, int):
        return connect_timestamp(value)
    kind = schema.get("type")
    if kind == "struct" and isinstance(value, dict):
        fields = {f.get("field"): f for f in schema.get("fields") or []}
        return {k: apply_schema(fields.get(k), v) for k, v in value.items()}
    if kind == "array" and isinstance(value, list):
        item = schema.get("items")
        return [apply_schema(item, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        vs = schema.get("values")
        return {k: apply_schema(vs, v) for k, v in value.items()}
    if kind == "bytes" and isinstance(value, str):
        return value                      # base64 text, as Connect's JsonConverter emits
    return value


class Primitive(NamedTuple):
    """A top-level value whose Connect schema is not a struct or map (JsonConverter with schemas):
    its logical value and what the schema said (``bytes (org.apache.kafka.connect.data.Decimal)``).
    The decode loop makes it a one-column row where the route can take one
    (:meth:`sinkapp.pipeline.encode.Chunker._primitive`)."""

    value: Any
    schema_type: str


def _primitive(schema: Any, value: Any) -> Any:
    if value is None or not isinstance(schema, dict) or schema.get("type") in ("struct", "map"):
        return value
    name = schema.get("name")
    return Primitive(value, f"{schema.get('type')} ({name})" if name else str(schema.get("type")))


class JsonConverter:
    """``org.apache.kafka.connect.json.JsonConverter``; with schemas, a value whose schema is not a
    struct or map comes back as a :class:`Primitive`."""

    def __init__(self, schemas_enable: bool) -> None:
        self.schemas_enable = schemas_enable

    def decode(self, raw: bytes | None) -> Any:
        if raw is None:
            return None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConversionError(f"value is not valid JSON ({exc})") from None
        if not self.schemas_enable:
            return doc
        if not isinstance(doc, dict) or set(doc) != {"schema", "payload"}:
            raise ConversionError(
                "JsonConverter with schemas.enable=true expects {\"schema\":…,\"payload\":…}; "
                "got a value without that envelope (set value.converter.schemas.enable=false for plain JSON)")
        return _primitive(doc["schema"], apply_schema(doc["schema"], doc["payload"]))


class StringConverter:
    """``org.apache.kafka.connect.storage.StringConverter``: bytes → str."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding

    def decode(self, raw: bytes | None) -> Any:
        if raw is None:
            return None
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise ConversionError(f"value is not valid {self.encoding} text: {exc}") from None


class ByteArrayConverter:
    """``org.apache.kafka.connect.converters.ByteArrayConverter``: bytes pass through."""

    def decode(self, raw: bytes | None) -> Any:
        return raw
