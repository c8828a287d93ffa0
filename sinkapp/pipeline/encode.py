"""Encoding: the records of a fetched partition batch → one :class:`Chunk` of body bytes.

Who calls: the route's intake, once per run of a fetched partition batch (``Chunker.encode``),
and the bad-row search when it re-encodes a rejected batch's records read again from Kafka.

A chunk holds *encoded* rows: one ``bytes`` object per fetched batch (or per part of one, when a
ledger boundary cuts it), never a Python object per row. So a table batch of 500,000 rows is a
few hundred objects, which the cyclic GC does not walk and which cost their byte size in RSS.

The decode loop has three shapes, chosen once per route:
- ``raw-json``: ``JsonConverter`` without schemas into a JSON body. Each value is validated
  (``orjson.loads`` succeeds and yields an object) and the record's own bytes go into the body,
  so big integers, long decimals and LARGEINT values reach StarRocks exactly as written.
- ``raw-text``: String/ByteArray values into a CSV body: the bytes are the row (UTF-8 checked
  for StringConverter).
- ``decode``: every other converter: decode each value, then encode the batch's rows in one call;
  Avro into a JSON body first offers each long run of one schema to its columnar lane
  (:mod:`sinkapp.converters.avro_columnar`), which writes their rows without decoding them in Python.
A record that cannot be decoded or encoded is a :class:`BadRecord` (raised, or with
``errors.tolerance=all`` returned in :attr:`Chunk.bad`).
"""

from __future__ import annotations

from typing import Any

import orjson

from sinkapp.converters import Converter
from sinkapp.converters.simple import ByteArrayConverter, JsonConverter, StringConverter
from sinkapp.errors import ConversionError, EncodingError, TransformError
from sinkapp.pipeline.chunk import BadRecord, Chunk, Piece
from sinkapp.pipeline.lanes import columnar_runs
from sinkapp.pipeline.letters import TASK_PUT, TRANSFORMATION, VALUE_CONVERTER
from sinkapp.pipeline.partial import csv_refusal
from sinkapp.pipeline.primitive import primitive_row
from sinkapp.streamload.encoding import CsvEncoder, JsonEncoder
from sinkapp.transforms import UNAVAILABLE_KEY, Chain, Meta, Skipped
from sinkapp.transforms.rows import place_rows


class Chunker:
    """The route's decode loop: ``encode(records, i, end) -> Chunk``.

    ``tolerant`` (errors.tolerance=all): bad records are returned (``bad``) and left out of the
    chunk; otherwise the first one raises :class:`BadRecord`. An empty value is null for
    ``JsonConverter`` (as Kafka Connect reads it): skipped and counted like a tombstone.
    """

    def __init__(self, converter: Converter, encoder: JsonEncoder | CsvEncoder, tolerant: bool = False,
                 chain: Chain | None = None) -> None:
        self.converter = converter
        self.encoder = encoder
        self.tolerant = tolerant
        self.chain = chain
        self.dropped = 0                 # records a transform turned into no row
        self.home = ""                   # the route's database: TableByField's db.table of it is its table
        self.gate: Any = None            # auto.create/evolve: raw value -> raises ConversionError if refused
        self.row_gate: Any = None        # ... with TableByField: (raw value, its rows) -> the same, per row's table
        self.routed: Any = None          # table name -> encoder of the rows a transform sends there (TableByField)
        self.json_values = isinstance(converter, JsonConverter)
        # a converter's fast lane (Avro's compiled readers): decodes a run of records in one call, leaving
        # the records it cannot take to this loop; not with transforms (they take each value in turn)
        self.run = getattr(converter, "decode_run", None) if chain is None else None
        # ... and its columnar lane (Avro's long runs into a JSON body, no object per row): same conditions,
        # and a JSON body (the lane writes JSON rows)
        self.lane = getattr(converter, "encode_run", None) \
            if chain is None and isinstance(encoder, JsonEncoder) else None
        if chain is not None:
            self.mode = "decode"         # transforms need the decoded value
        elif isinstance(converter, JsonConverter) and not converter.schemas_enable \
                and isinstance(encoder, JsonEncoder):
            self.mode = "raw-json"
        elif isinstance(encoder, CsvEncoder) and (
                isinstance(converter, ByteArrayConverter)
                or (isinstance(converter, StringConverter) and converter.encoding.lower() in ("utf-8", "utf8"))):
            self.mode = "raw-text"
        else:
            self.mode = "decode"
        self.check_utf8 = isinstance(converter, StringConverter)
        self.whole_rows = isinstance(encoder, CsvEncoder)    # a CSV row cannot leave a column out
        self.marks = chain is not None and chain.marks_unavailable and not self.whole_rows
        self.class_name = getattr(converter, "class_name", "") or {
            JsonConverter: "org.apache.kafka.connect.json.JsonConverter",
            StringConverter: "org.apache.kafka.connect.storage.StringConverter",
            ByteArrayConverter: "org.apache.kafka.connect.converters.ByteArrayConverter",
        }.get(type(converter), type(converter).__name__)

    def marks_into(self, encoder: Any) -> bool:
        """Whether rows this route gives a table with ``encoder`` may lack columns (a CSV one never takes them)."""
        return self.marks and not isinstance(encoder, CsvEncoder)

    def encoder_of(self, table: str) -> JsonEncoder | CsvEncoder:
        """The encoder of rows a transform sends to ``table``: that table's own (its load properties)."""
        return self.encoder if self.routed is None else self.routed(table)

    def encode(self, records: list[Any], i: int, end: int) -> Chunk:
        if self.mode == "raw-json":
            return self._raw_json(records, i, end)
        if self.mode == "raw-text":
            return self._raw_text(records, i, end)
        if self.lane is not None and end - i > 1:
            return columnar_runs(self.lane, self._decode, self.gate, records, i, end)
        return self._decode(records, i, end)

    def _bad(self, bad: list[BadRecord], k: int, error: Exception, stage: str = VALUE_CONVERTER) -> None:
        b = BadRecord(k, error, stage)
        if not self.tolerant:
            raise b
        bad.append(b)

    def _raw_json(self, records: list[Any], i: int, end: int) -> Chunk:
        loads, out, tombs = orjson.loads, [], 0
        bad: list[BadRecord] = []
        for k in range(i, end):
            v = records[k].value
            if not v:
                tombs += 1
                continue
            try:
                doc = loads(v)
            except orjson.JSONDecodeError as exc:
                self._bad(bad, k, ConversionError(f"value is not valid JSON ({exc})"))
                continue
            if type(doc) is not dict:
                self._bad(bad, k, ConversionError(
                    f"value is JSON but not an object ({type(doc).__name__}); with sink.properties.format=json "
                    "each value must be one JSON object"))
                continue
            out.append(v)
        return Chunk(self.encoder.join_raw(out), len(out), tombs, bad, {})

    def _raw_text(self, records: list[Any], i: int, end: int) -> Chunk:
        out, tombs, check = [], 0, self.check_utf8
        bad: list[BadRecord] = []
        for k in range(i, end):
            v = records[k].value
            if v is None:
                tombs += 1
                continue
            if check:
                try:
                    v.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self._bad(bad, k, ConversionError(f"value is not valid utf-8 text: {exc}"))
                    continue
            out.append(v)
        return Chunk(self.encoder.join_raw(out), len(out), tombs, bad, {})

    def _decode(self, records: list[Any], i: int, end: int) -> Chunk:
        conv, tombs = self.converter.decode, 0
        values: list[Any] = []
        idx: list[int] = []
        bad: list[BadRecord] = []
        by_table: dict[str, tuple[list[Any], list[int]]] = {}
        skipped: list[tuple[int, Skipped]] = []
        json_values, chain, gate, run = self.json_values, self.chain, self.gate, self.run
        taken = i                                    # records before this one the fast lane decoded
        for k in range(i, end):
            if k < taken or (run is not None and (taken := run(records, k, end, values, idx, gate)) > k):
                continue
            v = records[k].value
            if v is None or (json_values and not v):
                tombs += 1
                continue
            try:
                if gate is not None:
                    gate(v)                  # a schema the table cannot take (sinkapp.tableshape)
                value = conv(v)
            except ConversionError as exc:
                self._bad(bad, k, exc)
                continue
            if value is None:
                tombs += 1
                continue
            if json_values and type(value) is not dict:
                try:
                    value = primitive_row(value, self.chain, self.encoder)
                except ConversionError as exc:
                    self._bad(bad, k, exc)
                    continue
            if chain is not None:
                self._chained(records[k], k, value, values, idx, by_table, bad, skipped)
                continue
            values.append(value)
            idx.append(k)
        return self._finish(values, idx, by_table, bad, tombs, tuple(skipped))

    def _chained(self, r: Any, k: int, value: Any, values: list[Any], idx: list[int],
                 by_table: dict[str, tuple[list[Any], list[int]]], bad: list[BadRecord],
                 skipped: list[tuple[int, Skipped]]) -> None:
        """Record ``k`` (``r``, decoded to ``value``) through the transforms: its rows placed, or it is bad."""
        assert self.chain is not None
        try:
            rows = self.chain.apply(value, Meta(r.topic, r.partition, r.offset, r.timestamp, r.key,
                                                tuple(r.headers or ())))
        except TransformError as exc:
            self._bad(bad, k, exc, TRANSFORMATION)
            return
        if isinstance(rows, Skipped):
            skipped.append((k, rows))
            return
        try:
            if self.row_gate is not None:
                self.row_gate(r.value, rows)   # a table its rows go to cannot take its schema
        except ConversionError as exc:
            self._bad(bad, k, exc)
            return
        if self.whole_rows and any(UNAVAILABLE_KEY in row for row in rows):
            self._bad(bad, k, csv_refusal(rows), TRANSFORMATION)
            return
        if not rows:
            self.dropped += 1
        err = place_rows(k, rows, self.home, values, idx, by_table)
        if err is not None:
            self._bad(bad, k, err, TRANSFORMATION)

    def _finish(self, values: list[Any], idx: list[int], by_table: dict[str, tuple[list[Any], list[int]]],
                bad: list[BadRecord], tombs: int, skipped: tuple[tuple[int, Skipped], ...]) -> Chunk:
        """Encode the decoded rows (the route's and the routed ones) into the chunk."""
        failed: set[int] = set()
        encs = {t: self.encoder_of(t) for t in by_table}
        for t, (vs, ks) in by_table.items():         # a CSV table of a JSON route: no row may lack a column
            for v, k in zip(vs, ks, strict=True):
                if UNAVAILABLE_KEY in v and isinstance(encs[t], CsvEncoder) and k not in failed:
                    failed.add(k)
                    self._bad(bad, k, csv_refusal([v]), TRANSFORMATION)
        chunk, n = self._encode_rows(values, idx, bad, failed)
        routed = {t: self._encode_rows(vs, ks, bad, failed, encs[t]) for t, (vs, ks) in by_table.items()}
        if failed:                                   # a record's other rows must not load either
            chunk, n = self._encode_rows(*self._without(values, idx, failed), bad, set())
            routed = {t: self._encode_rows(*self._without(vs, ks, failed), bad, set(), encs[t])
                      for t, (vs, ks) in by_table.items()}
        bad.sort(key=lambda b: b.index)
        return Chunk(chunk, n, tombs, bad, {t: r for t, r in routed.items() if r.rows}, skipped)

    @staticmethod
    def _without(values: list[Any], idx: list[int], failed: set[int]) -> tuple[list[Any], list[int]]:
        keep = [(v, k) for v, k in zip(values, idx, strict=True) if k not in failed]
        return [v for v, _ in keep], [k for _, k in keep]

    def _encode_rows(self, values: list[Any], idx: list[int], bad: list[BadRecord],
                     failed: set[int], encoder: JsonEncoder | CsvEncoder | None = None) -> Piece:
        """One chunk of ``values`` (with the route's encoder, or ``encoder``); rows the body cannot carry
        are bad records (added to ``failed``)."""
        encoder = encoder or self.encoder
        try:
            return Piece(encoder.encode_chunk(values), len(values))
        except EncodingError:
            pass
        # slow path: encode row by row to name the records the body cannot carry
        enc, good = encoder.encode_row, []  # type: ignore[var-annotated]
        for value, k in zip(values, idx, strict=True):
            try:
                good.append((k, enc(value)))
            except EncodingError as exc:
                if k not in failed:                  # one record may have become several rows
                    failed.add(k)
                    self._bad(bad, k, exc, TASK_PUT)
        rows_out = [row for k, row in good if k not in failed]
        return Piece(encoder.join_raw(rows_out), len(rows_out))
