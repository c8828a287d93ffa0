"""Per-partition batch buffers and the route's decode loop (records of a fetched batch → one chunk).

Who calls: :class:`sinkapp.sink.RouteSink`, once per fetched partition batch (``Chunker.encode``)
and when it seals, loads and acks a batch (``PartitionBuffer``).

A buffer holds *encoded* rows: one ``bytes`` chunk per fetched batch (or per part of one, when a
ledger boundary cuts it), never a Python object per row. So a buffer of 500,000 rows is a few
hundred objects, which the cyclic GC does not walk and which cost their byte size in RSS.

The decode loop has three shapes, chosen once per route:
- ``raw-json``: ``JsonConverter`` without schemas into a JSON body. Each value is validated
  (``orjson.loads`` succeeds and yields an object) and the record's own bytes go into the body,
  so big integers, long decimals and LARGEINT values reach StarRocks exactly as written.
- ``raw-text``: String/ByteArray values into a CSV body: the bytes are the row (UTF-8 checked
  for StringConverter).
- ``decode``: every other converter: decode each value, then encode the batch's rows in one call.
A record that cannot be decoded or encoded raises :class:`BadRecord` with its index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from sinkapp.converters import Converter
from sinkapp.converters.simple import ByteArrayConverter, JsonConverter, StringConverter
from sinkapp.encoding import CsvEncoder, JsonEncoder
from sinkapp.errors import ConversionError, EncodingError, SinkError


@dataclass(eq=False)
class PartitionBuffer:
    """A batch of one source partition: its encoded chunks and the events acked when it loads."""

    partition: int
    chunks: list[bytes | memoryview] = field(default_factory=list)
    rows: int = 0                 # rows in the body
    records: int = 0              # Kafka records covered (rows + tombstones)
    nbytes: int = 0
    first_offset: int = -1
    last_offset: int = -1
    started_at: float = 0.0
    replay: tuple[int, int] | None = None   # rebuilds the ledger's pending batch (first, last)
    events: list[Any] = field(default_factory=list)  # Faust events released (acked) after the load

    def __len__(self) -> int:
        return self.records

    def drop(self) -> None:
        """Let go of every event and chunk without acknowledging anything."""
        self.events.clear()
        self.chunks.clear()

    @property
    def bounds(self) -> tuple[int, int]:
        """The batch identity's offsets: the ledger's for a replayed batch, else first/last held."""
        return self.replay or (self.first_offset, self.last_offset)

    def covers(self, offset: int) -> bool:
        return self.records > 0 and self.first_offset <= offset <= self.last_offset


class BadRecord(SinkError):
    """Record ``index`` of the slice cannot be loaded; ``error`` says why."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


class Chunker:
    """The route's decode loop: ``encode(records, i, end) -> (chunk, rows, tombstones)``."""

    def __init__(self, converter: Converter, encoder: JsonEncoder | CsvEncoder) -> None:
        self.converter = converter
        self.encoder = encoder
        if isinstance(converter, JsonConverter) and not converter.schemas_enable \
                and isinstance(encoder, JsonEncoder):
            self.mode = "raw-json"
        elif isinstance(encoder, CsvEncoder) and (
                isinstance(converter, ByteArrayConverter)
                or (isinstance(converter, StringConverter) and converter.encoding.lower() in ("utf-8", "utf8"))):
            self.mode = "raw-text"
        else:
            self.mode = "decode"
        self.check_utf8 = isinstance(converter, StringConverter)

    def encode(self, records: list[Any], i: int, end: int) -> tuple[bytes | memoryview, int, int]:
        if self.mode == "raw-json":
            return self._raw_json(records, i, end)
        if self.mode == "raw-text":
            return self._raw_text(records, i, end)
        return self._decode(records, i, end)

    def _raw_json(self, records: list[Any], i: int, end: int) -> tuple[bytes, int, int]:
        loads, out, tombs = orjson.loads, [], 0
        for k in range(i, end):
            v = records[k].value
            if v is None:
                tombs += 1
                continue
            try:
                doc = loads(v)
            except orjson.JSONDecodeError as exc:
                raise BadRecord(k, ConversionError(f"value is not valid JSON ({exc}); first bytes: {v[:60]!r}")) \
                    from None
            if type(doc) is not dict:
                raise BadRecord(k, EncodingError(
                    f"value is JSON but not an object ({type(doc).__name__}); with sink.properties.format=json "
                    "each value must be one JSON object"))
            out.append(v)
        return self.encoder.join_raw(out), len(out), tombs

    def _raw_text(self, records: list[Any], i: int, end: int) -> tuple[bytes, int, int]:
        out, tombs, check = [], 0, self.check_utf8
        for k in range(i, end):
            v = records[k].value
            if v is None:
                tombs += 1
                continue
            if check:
                try:
                    v.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise BadRecord(k, ConversionError(f"value is not valid utf-8 text: {exc}")) from None
            out.append(v)
        return self.encoder.join_raw(out), len(out), tombs

    def _decode(self, records: list[Any], i: int, end: int) -> tuple[bytes | memoryview, int, int]:
        conv, values, tombs = self.converter.decode, [], 0
        for k in range(i, end):
            v = records[k].value
            if v is None:
                tombs += 1
                continue
            try:
                value = conv(v)
            except ConversionError as exc:
                raise BadRecord(k, exc) from None
            if value is None:
                tombs += 1
                continue
            values.append(value)
        try:
            return self.encoder.encode_chunk(values), len(values), tombs
        except EncodingError:
            self._find_unencodable(records, i, end)
            raise                                    # not reached: the row-by-row pass raises

    def _find_unencodable(self, records: list[Any], i: int, end: int) -> None:
        """Slow path after a chunk failed: encode row by row and name the record."""
        enc, conv = self.encoder.encode_row, self.converter.decode
        for k in range(i, end):
            v = records[k].value
            value = conv(v) if v is not None else None
            if value is None:
                continue
            try:
                enc(value)
            except EncodingError as exc:
                raise BadRecord(k, exc) from None
