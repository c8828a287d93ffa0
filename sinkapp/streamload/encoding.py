"""Rows → Stream Load body bytes, per ``sink.properties.format`` (the one place that knows it).

Who calls: the route sink, once per fetched batch (``encode_chunk``: the rows of one fetched
partition batch, joined, without the outer brackets) and once per load (``body``: the chunks
of a Stream Load batch). Encoding a fetched batch in one call instead of one ``bytes`` per row
is what keeps the data path cheap: one ``orjson.dumps`` of a list, and no per-row object to
buffer (a per-row ``orjson.dumps`` result held in a list costs ~3.8 KB of RSS; the chunks are
plain ``bytes``, which the cyclic GC never walks). ``encode_row`` is the per-row form, used to
find the record a chunk failed on. Both raise :class:`~sinkapp.errors.EncodingError` for a value
the format cannot carry (the caller adds topic, partition, offset). JSON bodies are a JSON array of rows (the
Java connector's shape: users set ``strip_outer_array=true``, and sinkapp sets it when the
user did not say otherwise, since the body is always an array). CSV bodies join rows with
``row_delimiter`` and end with one.

Logical values (what the converters hand transforms, see :mod:`sinkapp.converters.simple`)
become text here, in JSON and CSV alike (:func:`logical_text`): ``Decimal`` → exact fixed-point
text (``1.56``, never ``1.56E+3``), ``date`` → ``YYYY-MM-DD``, ``time`` → ``HH:MM:SS.fff``
(six digits for a :class:`~sinkapp.converters.simple.MicrosTime` or a time with microseconds),
``datetime`` → ``YYYY-MM-DD HH:MM:SS[.ffffff]`` in UTC.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson

from sinkapp.config.sinkprops import CSV_FORMAT_OF, body_format, compression, parse_delimiter, source_columns
from sinkapp.converters.simple import MicrosTime
from sinkapp.errors import EncodingError

LOGICAL = (Decimal, dt.date, dt.time)            # dt.datetime is a dt.date


def logical_text(obj: Decimal | dt.date | dt.time) -> str:
    """The StarRocks text of a logical value (see the module doc)."""
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, dt.datetime):
        if obj.tzinfo is not None:
            obj = obj.astimezone(dt.UTC).replace(tzinfo=None)
        return obj.isoformat(sep=" ")
    if isinstance(obj, dt.date):
        return obj.isoformat()
    micros = isinstance(obj, MicrosTime) or obj.microsecond % 1000
    return obj.replace(tzinfo=None).isoformat(timespec="microseconds" if micros else "milliseconds")


def _default(obj: Any) -> Any:
    if isinstance(obj, LOGICAL):
        return logical_text(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


_OPTS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


class Body:
    """A Stream Load body as the chunks it is made of, never joined into one copy.

    ``head`` + chunk + ``sep`` + chunk ... + ``tail``. The HTTP client writes the parts one by one
    (a 64 MB body costs no second 64 MB); ``bytes(body)`` joins them (tests, small bodies). ``wire``:
    its compressed forms by codec, made once by :mod:`sinkapp.streamload.compress` and kept for retries."""

    __slots__ = ("parts", "head", "sep", "tail", "size", "wire")

    def __init__(self, parts: Sequence[bytes | memoryview], head: bytes, sep: bytes, tail: bytes) -> None:
        self.parts = [p for p in parts if len(p)]
        self.head, self.sep, self.tail = head, sep, tail
        self.size = (len(head) + len(tail) + sum(len(p) for p in self.parts)
                     + len(sep) * max(0, len(self.parts) - 1))
        self.wire: dict[str, bytes] = {}

    def __len__(self) -> int:
        return self.size

    def chunks(self) -> Iterator[bytes | memoryview]:
        if self.head:
            yield self.head
        for i, p in enumerate(self.parts):
            if i and self.sep:
                yield self.sep
            yield p
        if self.tail:
            yield self.tail

    def __bytes__(self) -> bytes:
        return b"".join(self.chunks())


class JsonEncoder:
    """Rows (dicts, or JSON object text) → JSON array body. ``columns``: the route's
    ``sink.properties.columns`` source columns (a top-level primitive value becomes a row when
    there is exactly one)."""

    content_headers = {"format": "json"}

    def __init__(self, props: Mapping[str, str] | None = None) -> None:
        self.columns = source_columns(props or {})

    def encode_row(self, row: Any) -> bytes:
        if isinstance(row, str | bytes):
            try:
                parsed = orjson.loads(row)
            except orjson.JSONDecodeError:
                raise EncodingError(
                    "a string value is not a JSON object; with sink.properties.format=json each value "
                    "must be a JSON object (use format=csv for plain text rows)") from None
            if not isinstance(parsed, dict):
                raise EncodingError("a string value is JSON but not an object")
            return orjson.dumps(parsed)
        if not isinstance(row, Mapping):
            raise EncodingError(f"a row must be an object/record, got {type(row).__name__}")
        try:
            return orjson.dumps(row, default=_default, option=_OPTS)
        except TypeError as exc:
            raise EncodingError(f"row cannot be encoded as JSON: {exc}") from None

    def encode_chunk(self, rows: list[Any]) -> bytes | memoryview:
        """Rows (dicts) → ``row,row,...`` (the inside of a JSON array); one ``orjson.dumps`` call."""
        if all(type(r) is dict for r in rows):
            try:
                return memoryview(orjson.dumps(rows, default=_default, option=_OPTS))[1:-1]
            except TypeError:
                pass                                 # the per-row pass below names the reason
        return b",".join([self.encode_row(r) for r in rows])

    @staticmethod
    def join_raw(rows: list[bytes]) -> bytes:
        """Validated JSON object texts (the record's own bytes) → a chunk."""
        return b",".join(rows)

    def body(self, chunks: Sequence[bytes | memoryview]) -> Body:
        return Body(chunks, b"[", b",", b"]")


class CsvEncoder:
    """Rows → CSV body with the route's separators; a ``str``/``bytes`` value is one row verbatim."""

    def __init__(self, props: Mapping[str, str]) -> None:
        self.sep = parse_delimiter(props.get("column_separator", "\\t"))
        self.delim = parse_delimiter(props.get("row_delimiter", "\\n"))
        enc = props.get("enclose", "")
        esc = props.get("escape", "")
        self.enclose = enc.encode()[:1] if enc else b""
        self.escape = esc.encode()[:1] if esc else b""
        self.columns = source_columns(props)

    def _field(self, v: Any) -> bytes:
        if v is None:
            return b"\\N"
        if isinstance(v, bool):
            b = b"1" if v else b"0"
        elif isinstance(v, bytes):
            b = v
        elif isinstance(v, dict | list):
            b = orjson.dumps(v, default=_default, option=_OPTS)
        elif isinstance(v, LOGICAL):
            b = logical_text(v).encode()
        else:
            b = str(v).encode("utf-8")
        if self.sep in b or self.delim in b or (self.enclose and self.enclose in b):
            if not self.enclose:
                raise EncodingError(
                    f"a value contains the column separator or row delimiter ({b[:40]!r}); "
                    "set sink.properties.enclose (e.g. \") so sinkapp can quote it")
            inner = b.replace(self.enclose, (self.escape or self.enclose) + self.enclose)
            return self.enclose + inner + self.enclose
        return b

    def encode_row(self, row: Any) -> bytes:
        if isinstance(row, bytes):
            return row
        if isinstance(row, str):
            return row.encode("utf-8")
        if isinstance(row, Mapping):
            keys = self.columns if self.columns is not None else list(row)
            return self.sep.join(self._field(row.get(k)) for k in keys)
        if isinstance(row, list | tuple):
            return self.sep.join(self._field(v) for v in row)
        raise EncodingError(f"a CSV row must be text, a record or a list, got {type(row).__name__}")

    def encode_chunk(self, rows: list[Any]) -> bytes:
        """Rows → ``row<delim>row...`` (no trailing delimiter)."""
        return self.delim.join([self.encode_row(r) for r in rows])

    def join_raw(self, rows: list[bytes]) -> bytes:
        """Rows that are already CSV text (String/ByteArray values) → a chunk."""
        return self.delim.join(rows)

    def body(self, chunks: Sequence[bytes | memoryview]) -> Body:
        return Body(chunks, b"", self.delim, self.delim if any(len(c) for c in chunks) else b"")


def build_encoder(props: Mapping[str, str]) -> JsonEncoder | CsvEncoder:
    return CsvEncoder(props) if body_format(props) == "csv" else JsonEncoder(props)


def load_headers(props: Mapping[str, str]) -> dict[str, str]:
    """Stream Load headers of a route: its ``sink.properties.*`` plus what the body shape needs.

    ``compression`` (see :mod:`sinkapp.config.sinkprops`) stays the JSON ``compression`` header; on a
    CSV route it becomes StarRocks' compressed-CSV ``format`` (``lz4_frame`` → ``format: lz4``), since
    StarRocks' ``compression`` header is for JSON. The client compresses the body as these say."""
    headers = {k.lower(): v for k, v in props.items()}
    headers.setdefault("format", "json")
    if headers["format"].lower() == "json":
        headers.setdefault("strip_outer_array", "true")
    codec = compression(headers)
    if codec is not None and body_format(headers) == "csv":
        headers.pop("compression", None)
        headers["format"] = CSV_FORMAT_OF[codec]
    return headers
