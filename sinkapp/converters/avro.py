"""``io.confluent.connect.avro.AvroConverter``: Confluent-framed Avro → Python dicts.

Who calls: the route sink (``prepare`` per batch, ``decode`` per record; see
:mod:`sinkapp.converters.registry`). Each record is read with its own writer schema (the id in
its header), so a producer switching to a new schema version mid-stream just works.

Logical types become values StarRocks loads as they are, produced by fastavro itself while it
reads (no second walk over the record): the writer schema's ``logicalType`` names are renamed
to ``sinkapp.*`` ones whose readers are registered in ``fastavro.read.LOGICAL_READERS`` (the
documented hook for custom logical types; fastavro's own readers stay untouched):

=====================================  =============================================
decimal (bytes / fixed)                ``"-123.45"`` exact, fixed-point text
date                                   ``"YYYY-MM-DD"``
time-millis                            :class:`~sinkapp.converters.simple.MicrosTime` (Connect's
                                       Time, as transforms expect); encoded ``"HH:MM:SS.ffffff"``
time-micros                            ``"HH:MM:SS.ffffff"``
timestamp-millis / -micros (UTC)       ``"YYYY-MM-DD HH:MM:SS[.ffffff]"`` in UTC
local-timestamp-millis / -micros       the same text, wall-clock as written
uuid (string / fixed)                  ``str``
=====================================  =============================================

Unions give the branch value, enums their symbol, arrays lists, maps and records dicts, bytes and
fixed ``bytes`` (the encoder writes them as base64).
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Sequence
from typing import Any

import fastavro
import orjson
from fastavro.read import LOGICAL_READERS

from sinkapp.config.types import ConverterSettings
from sinkapp.converters.avro_columnar import MIN_RUN, ColumnarReader, columnar_reader
from sinkapp.converters.avro_fast import Compiled, compile_reader
from sinkapp.converters.registry import (
    HEADER_SIZE,
    MAGIC_BYTE,
    SCHEMA_ID,
    RegistryConverter,
    RegistrySchema,
    SchemaRegistry,
    registry_from_settings,
)
from sinkapp.converters.simple import (
    DEBEZIUM_TYPES,
    MicrosTime,
    days_to_date,
    decimal_text,
    epoch_ms_to_datetime,
    format_datetime,
    time_of_day,
)
from sinkapp.errors import ConversionError

_EPOCH = dt.datetime(1970, 1, 1)
_PREFIX = "sinkapp."


def _decimal_text(data: bytes, writer_schema: dict, _reader: Any = None) -> str:
    return decimal_text(int.from_bytes(data, "big", signed=True), int(writer_schema.get("scale", 0)))


_time_text = time_of_day


def _time_millis(ms: int, *_: Any) -> MicrosTime:
    s, ms = divmod(int(ms) % 86_400_000, 1000)
    return MicrosTime(s // 3600, s // 60 % 60, s % 60, ms * 1000)


def _timestamp_us_text(us: int) -> str:
    return format_datetime(_EPOCH + dt.timedelta(microseconds=us))


#: writer type-logicalType → reader returning StarRocks-ready text
_READERS: dict[str, Any] = {
    "bytes-decimal": _decimal_text,
    "fixed-decimal": _decimal_text,
    "int-date": lambda d, *_: days_to_date(d),
    "int-time-millis": _time_millis,
    "long-time-micros": lambda d, *_: _time_text(d),
    "long-timestamp-millis": lambda d, *_: epoch_ms_to_datetime(d),
    "long-timestamp-micros": lambda d, *_: _timestamp_us_text(d),
    "long-local-timestamp-millis": lambda d, *_: _timestamp_us_text(d * 1000),
    "long-local-timestamp-micros": lambda d, *_: _timestamp_us_text(d),
    "string-uuid": lambda d, *_: d,
    "fixed-uuid": lambda d, *_: str(uuid.UUID(bytes=d)),
}
for _key, _fn in _READERS.items():
    _kind, _, _logical = _key.partition("-")
    LOGICAL_READERS[f"{_kind}-{_PREFIX}{_logical}"] = _fn


#: Debezium's semantic types, named by ``connect.name`` in the Avro schemas its converter writes
#: (no logicalType): read as the same StarRocks-ready text as in JSON (converters.simple)
_DBZ = "dbz."
for _name, _fn in DEBEZIUM_TYPES.items():
    for _kind in ("int", "long", "string", "record"):
        LOGICAL_READERS[f"{_kind}-{_PREFIX}{_DBZ}{_name}"] = (lambda f: lambda d, *_: f(d))(_fn)


def _rename_logical(node: Any) -> Any:
    """A copy of a schema (JSON form) with known logical types renamed to ``sinkapp.*``, and
    Debezium's ``connect.name`` semantic types given a ``sinkapp.dbz.*`` logical type."""
    if isinstance(node, list):
        return [_rename_logical(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rename_logical(v) for k, v in node.items()}
    kind, logical = out.get("type"), out.get("logicalType")
    if isinstance(kind, str) and isinstance(logical, str) and f"{kind}-{logical}" in _READERS:
        out["logicalType"] = _PREFIX + logical
    connect_name = out.get("connect.name")
    if logical is None and isinstance(kind, str) and connect_name in DEBEZIUM_TYPES:
        out["logicalType"] = f"{_PREFIX}{_DBZ}{connect_name}"
    return out


def parse_writer_schema(text: str, references: Sequence[tuple[str, RegistrySchema]] = ()) -> Any:
    """Parsed fastavro schema for a registry schema text (referenced named types parsed first)."""
    named: dict[str, Any] = {}
    try:
        for _, ref in references:
            fastavro.parse_schema(_rename_logical(orjson.loads(ref.text)), named_schemas=named)
        return fastavro.parse_schema(_rename_logical(orjson.loads(text)), named_schemas=named)
    except Exception as exc:  # fastavro raises several types for a bad schema
        raise ConversionError(f"Avro schema cannot be parsed: {type(exc).__name__}: {exc}") from None


class AvroConverter(RegistryConverter[Any]):
    """Avro with the writer schema from the registry; one parsed schema per id, kept for the run.

    Each record is read by the reader compiled for its writer schema (:mod:`.avro_fast`, ``readers``); a
    record that reader cannot read (not well-formed), and every record of a schema it does not cover, is
    read by fastavro, whose value or error it then is."""

    schema_type = "AVRO"
    class_name = "io.confluent.connect.avro.AvroConverter"

    def __init__(self, registry: SchemaRegistry, **kw: Any) -> None:
        super().__init__(registry, **kw)
        self.readers: dict[int, Compiled] = {}    # schema id → its compiled reader (ids it covers)
        self.columnar: dict[int, ColumnarReader] = {}   # schema id → its columnar lane (ids it covers)

    async def _build(self, schema: RegistrySchema, msg: Any) -> Any:
        refs = await self.fetch_references(schema, msg) if schema.references else []
        parsed = parse_writer_schema(schema.text, refs)
        return parsed

    async def _prepare_id(self, schema_id: int, msg: Any) -> None:
        await super()._prepare_id(schema_id, msg)
        compiled = compile_reader(self.schemas[schema_id], schema_id)
        if compiled is not None:
            self.readers[schema_id] = compiled
        lane = columnar_reader(self.schemas[schema_id])
        if lane is not None:
            self.columnar[schema_id] = lane

    @staticmethod
    def _schema_id(raw: Any) -> int | None:
        """The writer schema id of a Confluent-framed value; None for anything else."""
        if type(raw) is bytes and len(raw) >= HEADER_SIZE and raw[0] == MAGIC_BYTE:
            return int(SCHEMA_ID.unpack_from(raw, 1)[0])
        return None

    def _compiled(self, raw: Any) -> Compiled | None:
        schema_id = self._schema_id(raw)
        return None if schema_id is None else self.readers.get(schema_id)

    def decode(self, raw: bytes | None) -> Any:
        compiled = self._compiled(raw)
        if compiled is not None:
            try:
                return compiled.read(raw)            # type: ignore[arg-type]
            except Exception:  # noqa: BLE001, S110  (not well-formed: fastavro says what it is)
                pass
        return super().decode(raw)

    def decode_run(self, records: list[Any], k: int, end: int, values: list[Any], idx: list[int],
                   gate: Any) -> int:
        """The decode loop's fast lane (:class:`sinkapp.pipeline.encode.Chunker`): decodes ``records[k:]``
        while they are of the schema id of ``records[k]`` and its compiled reader can read them; returns
        the index of the first record it left for ``decode`` (see :class:`.avro_fast.Compiled`)."""
        compiled = self._compiled(records[k].value)
        return k if compiled is None else compiled.run(records, k, end, values, idx, gate)

    def encode_run(self, records: list[Any], k: int, end: int, gate: Any) -> tuple[int, bytes | None]:
        """The decode loop's columnar lane (:mod:`.avro_columnar`): ``(m, rows)`` where ``records[k:m]`` are
        the records from ``k`` of the schema id of ``records[k]`` (none a tombstone, each passing ``gate``),
        and ``rows`` their JSON rows (the inside of an array), or None when the lane did not take them (a
        run shorter than ``MIN_RUN``, a record it cannot read exactly): the caller decodes
        ``records[k:max(m, k + 1)]`` as usual. Fewer than ``MIN_RUN`` records left, or ``records[k]`` of a
        schema the lane does not read: ``(end, None)`` at once."""
        if end - k < MIN_RUN:
            return end, None
        head = records[k].value
        schema_id = self._schema_id(head)
        lane = None if schema_id is None else self.columnar.get(schema_id)
        if lane is None:                          # not a schema the lane reads: the decode loop takes the rest
            return end, None
        head = head[:HEADER_SIZE]
        payloads, m = [], k
        try:
            while m < end:
                v = records[m].value
                if type(v) is not bytes or len(v) <= HEADER_SIZE or v[:HEADER_SIZE] != head:
                    break
                if gate is not None:
                    gate(v)
                payloads.append(v[HEADER_SIZE:])
                m += 1
        except ConversionError:                   # the gate refused record m: the decode loop says why
            pass
        if m - k < MIN_RUN:
            return m, None
        return m, lane.encode(payloads)

    def _decode(self, entry: Any, schema_id: int, payload: bytes) -> Any:
        try:
            return fastavro.schemaless_reader(io.BytesIO(payload), entry, None)
        except Exception as exc:  # EOFError, IndexError, UnicodeDecodeError, ...: all mean bad bytes
            raise ConversionError(
                f"Avro payload ({len(payload)} bytes) does not match writer schema id {schema_id}: it is "
                f"truncated or corrupt ({type(exc).__name__}: {exc})") from None


def make_avro_converter(cs: ConverterSettings, **deps: Any) -> AvroConverter:
    """Factory for ``REGISTRY_CONVERTERS``."""
    return AvroConverter(registry_from_settings(cs, **deps))
