"""JSON (plain or Connect envelope), String and ByteArray converters.

Who calls: the route's sink (``sinkapp.sink``) once per record. ``JsonConverter`` with
``schemas_enable=True`` unwraps ``{"schema":…,"payload":…}`` and turns the Connect logical
types (Decimal, Date, Time, Timestamp) into values StarRocks loads correctly: decimal strings,
``YYYY-MM-DD``, ``HH:MM:SS.fff`` and ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC), not epoch numbers.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

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


def ms_to_time(ms: int) -> str:
    t = (dt.datetime.min + dt.timedelta(milliseconds=ms)).time()
    return t.isoformat(timespec="milliseconds")


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


def _decimal(value: Any, params: dict) -> str:
    if isinstance(value, str):          # decimal.format=BASE64 (Connect's default): big-endian unscaled
        try:
            unscaled = int.from_bytes(base64.b64decode(value, validate=True), "big", signed=True)
        except ValueError:
            raise ConversionError(f"Decimal value {value!r} is not base64") from None
        return decimal_text(unscaled, int(params.get("scale", 0)))
    if isinstance(value, int | float):  # decimal.format=NUMERIC
        return str(Decimal(str(value)))
    raise ConversionError(f"Decimal value {value!r} is neither base64 text nor a number")


def apply_schema(schema: dict | None, value: Any) -> Any:
    """Walk a Connect JSON schema beside its payload, converting logical types."""
    if value is None or not isinstance(schema, dict):
        return value
    name = schema.get("name")
    if name == DECIMAL:
        return _decimal(value, schema.get("parameters") or {})
    if name == DATE and isinstance(value, int):
        return days_to_date(value)
    if name == TIME and isinstance(value, int):
        return ms_to_time(value)
    if name == TIMESTAMP and isinstance(value, int):
        return epoch_ms_to_datetime(value)
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


class JsonConverter:
    """``org.apache.kafka.connect.json.JsonConverter``."""

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
        return apply_schema(doc["schema"], doc["payload"])


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
