"""The decode loop's columnar lane: long runs of records turned into JSON rows in one call by the
converter (Avro's :mod:`sinkapp.converters.avro_columnar`), the rest through the record-by-record loop.

Who calls: :meth:`sinkapp.pipeline.encode.Chunker.encode`, when its converter has ``encode_run`` and the
route has a JSON body and no transforms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sinkapp.pipeline.chunk import BadRecord, Chunk

#: ``(records, k, end, gate) -> (m, rows text or None)``: see ``AvroConverter.encode_run``
Lane = Callable[[list[Any], int, int, Any], tuple[int, Any]]


def columnar_runs(lane: Lane, decode: Callable[[list[Any], int, int], Chunk], gate: Any,
                  records: list[Any], i: int, end: int) -> Chunk:
    """``records[i:end]`` as one chunk: the runs the lane takes as its rows, every other record through
    ``decode`` (the record-by-record loop), in record order (rows of one key must reach the body in the
    order of their offsets)."""
    parts: list[Any] = []
    rows = tombs = 0
    bad: list[BadRecord] = []
    k = i
    while k < end:
        m, text = lane(records, k, end, gate)
        if text is not None:
            parts.append(text)
            rows += m - k
            k = m
            continue
        stop = max(m, k + 1)
        c = decode(records, k, stop)
        if c.rows:
            parts.append(c.data)
            rows += c.rows
        tombs += c.tombstones
        bad.extend(c.bad)
        k = stop
    return Chunk(b",".join(parts), rows, tombs, bad, {})
