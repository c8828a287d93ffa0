"""Long runs of Avro records of one writer schema → the JSON rows of a Stream Load body in one call,
without a Python object per row: polars reads them, numpy checks them, polars writes the JSON.

Who calls: :class:`sinkapp.converters.avro.AvroConverter` makes one :class:`ColumnarReader` per schema
id it covers (:func:`columnar_reader`); the decode loop (:class:`sinkapp.pipeline.encode.Chunker`)
hands it runs of at least :data:`MIN_RUN` records through ``AvroConverter.encode_run``.

Why: the compiled reader (:mod:`.avro_fast`) still costs ~3.7 µs per Datagen order in Python and
``orjson.dumps`` of its dicts ~0.4 µs more; polars (Rust) reads a run of the same records and writes
their JSON in ~1.0 µs per row once a run is a few thousand records long (it has a fixed cost of about
a millisecond per call, so short runs stay on the compiled reader).

How: the records' payloads (the Confluent header cut off) are concatenated into one data block of an
Avro object container (a header written once per schema, with ``int`` declared as ``long``: the same
zigzag varint, read without polars' 32-bit wrap, as fastavro reads it), ``polars.read_avro`` reads the
block, and ``DataFrame.write_json`` writes the rows (the same JSON text orjson writes for fastavro's
values: NaN and infinities as null, the same float digits).

A block has no record boundaries, so a record with bytes missing or left over would shift every record
after it; polars does not notice (it read 555 of 1,500 such corrupted runs without an error in a
trial). So every run is checked before its JSON is used: from the values polars read, numpy computes
each record's encoded size (varints by their zigzag value, strings by their UTF-8 length, 8 per double,
1 per union index) and it must equal the record's own payload size, record by record; in a run whose
every record sits exactly on its own bytes, polars' values are the bytes' values. Any error, any size
that differs, even a panic of polars' reader on a corrupt block (which Rust reports on stderr): the
run is not taken (``encode`` returns None) and the compiled reader and fastavro read
it record by record, so bad records get their own error as before. A non-canonical varint (longer than
needed: no Avro encoder writes one) also differs in size, so such records take the slower path too.

Which schemas: a record at the top whose fields are ``int``, ``long``, ``double``, ``string``, records of
those, and two-branch unions of ``null`` and one of those. Not: ``boolean`` (fastavro reads any non-zero
byte as true, polars only 1), ``float`` (polars writes a float32's shortest digits, orjson its double's),
``bytes``, ``fixed``, ``enum``, arrays, maps, named-type references, and any node with a ``logicalType``
(sinkapp's StarRocks-text readers, Debezium's semantic types): their records take the compiled reader.
"""

from __future__ import annotations

import io
import os
from typing import Any

#: a shorter run stays on the compiled reader (polars' fixed cost per call is about a millisecond)
MIN_RUN = 2048

_SIMPLE = frozenset({"int", "long", "double", "string"})


class _Ineligible(Exception):
    pass


def _container_type(node: Any) -> Any:
    """The node as the container header declares it (``int`` as ``long``), or _Ineligible."""
    if isinstance(node, str):
        if node in _SIMPLE:
            return "long" if node == "int" else node
        raise _Ineligible(node)
    if isinstance(node, list):
        if len(node) != 2 or "null" not in node:
            raise _Ineligible("union")
        other = node[1] if node[0] == "null" else node[0]
        if other == "null":
            raise _Ineligible("union")
        t = _container_type(other)
        return ["null", t] if node[0] == "null" else [t, "null"]
    if not isinstance(node, dict) or "logicalType" in node:
        raise _Ineligible("node")
    kind = node.get("type")
    if kind in _SIMPLE:
        return _container_type(kind)
    if kind != "record":
        raise _Ineligible(str(kind))
    names = [f.get("name") for f in node["fields"]]
    if not names or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        raise _Ineligible("field names")
    return {"type": "record", "name": node["name"],
            "fields": [{"name": f["name"], "type": _container_type(f["type"])} for f in node["fields"]]}


class ColumnarReader:
    """The columnar lane for one writer schema: ``encode(payloads) -> (rows text | None)``."""

    def __init__(self, container_schema: dict[str, Any]) -> None:
        self.schema = container_schema
        self._pl: Any = None                 # polars, numpy and the header: set by _load at the first run
        self._np: Any = None
        self._panic: Any = None
        self._header = self._sync = b""
        self._thresholds: Any = None

    @property
    def loaded(self) -> bool:
        """Whether polars was imported for this lane (it has been given a run)."""
        return self._pl is not None

    def _load(self) -> None:
        """Import polars and numpy and write the container header, at the first run the lane is given: a
        worker whose Avro routes never give it one (CSV bodies, transforms, short runs) never imports them."""
        os.environ.setdefault("POLARS_MAX_THREADS", "1")     # the worker's event loop is the parallelism
        import fastavro
        import numpy as np
        import polars as pl
        from polars.exceptions import PanicException

        self._np = np
        self._panic = PanicException         # a BaseException: polars' reader panics on some corrupt blocks
        out = io.BytesIO()
        fastavro.writer(out, fastavro.parse_schema(self.schema), [], codec="null")
        self._header = out.getvalue()
        self._sync = self._header[-16:]
        self._thresholds = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)
        self._pl = pl

    def encode(self, payloads: list[bytes]) -> bytes | None:
        """The rows of ``payloads`` (Avro records of this schema, without the Confluent header) as
        ``{..},{..}`` (the inside of a JSON array), or None when any of them is not read exactly."""
        if self._pl is None:
            self._load()
        np, n = self._np, len(payloads)
        lens = np.fromiter(map(len, payloads), dtype=np.int64, count=n)
        body = b"".join(payloads)
        try:
            df = self._pl.read_avro(io.BytesIO(b"".join((self._header, _varint(n), _varint(len(body)), body,
                                                         self._sync))))
            if df.height != n:
                return None
            size = np.zeros(n, dtype=np.int64)
            for f in self.schema["fields"]:
                size += self._size(df.get_column(f["name"]), f["type"])
            if not np.array_equal(size, lens):
                return None
            out = io.BytesIO()
            df.write_json(out)
        except (Exception, self._panic):  # noqa: BLE001  (any failure: the records are read one by one instead)
            return None
        text = out.getvalue()
        return text[1:-1] if text[:1] == b"[" and text[-1:] == b"]" else None

    def _size(self, s: Any, node: Any) -> Any:
        """Each value's encoded size in bytes (numpy int64), for the values of ``s`` of type ``node``."""
        np = self._np
        if isinstance(node, list):                        # [null, T]: the branch index, then T's value
            present = s.is_not_null().to_numpy()
            other = node[1] if node[0] == "null" else node[0]
            return 1 + np.where(present, self._size(s, other), 0)
        if isinstance(node, dict):                        # a record: its fields' sizes
            total = np.zeros(len(s), dtype=np.int64)
            for f in node["fields"]:
                total += self._size(s.struct.field(f["name"]), f["type"])
            return total
        if node == "double":
            if not np.isfinite(s.fill_null(0.0).to_numpy()).all():
                raise ValueError("NaN or infinity")         # orjson's null for them: the record path
            return np.full(len(s), 8, dtype=np.int64)
        if node == "string":
            nbytes = s.str.len_bytes().fill_null(0).to_numpy().astype(np.int64)
            return self._varint_size(nbytes) + nbytes
        return self._varint_size(s.fill_null(0).to_numpy().astype(np.int64))     # long

    def _varint_size(self, a: Any) -> Any:
        np = self._np
        zz = ((a << 1) ^ (a >> 63)).view(np.uint64)
        return np.searchsorted(self._thresholds, zz, side="right").astype(np.int64) + 1


def _varint(n: int) -> bytes:
    """A non-negative long as Avro writes it (zigzag varint)."""
    z, out = n << 1, bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def columnar_reader(parsed: Any) -> ColumnarReader | None:
    """The columnar lane of records of the parsed writer schema ``parsed``, or None when its shape is
    not one this lane reads exactly (see the module's list)."""
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        return None
    try:
        schema = _container_type(parsed)
    except (_Ineligible, KeyError, TypeError):
        return None
    return ColumnarReader(schema)
