"""Rebuilding a table batch's rows from Kafka: the ledger's pending batches and refused batches.

Who calls: the settler (a previous owner's pending batch, :mod:`sinkapp.pipeline.settle`) and the
bad-row search (:mod:`sinkapp.pipeline.badrows`). The pieces held in memory are encoded rows
only; the records they came from are still in Kafka (nothing of a batch is committed before it
loads), so they are read again (:class:`~sinkapp.pipeline.ports.SourceReader`) and encoded by the
member's route codec (:mod:`.codec`) exactly as intake did: same records, same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sinkapp.errors import SinkError
from sinkapp.pipeline.codec import RouteCodec
from sinkapp.pipeline.encode import BadRecord
from sinkapp.pipeline.ports import SourceReader
from sinkapp.pipeline.types import Member, TableKey


class RebuildError(SinkError):
    """A batch's records could not be read again from Kafka, or not encoded again."""


@dataclass
class MemberRecords:
    member: Member
    codec: RouteCodec
    records: list[Any]


async def read_members(reader: SourceReader, members: Sequence[Member],
                       codecs: Mapping[str, RouteCodec]) -> list[MemberRecords]:
    """Every member's records, in member order; :class:`RebuildError` when Kafka cannot give them
    back (``codecs``: the codec of the route that reads each topic)."""
    out = []
    for m in members:
        codec = codecs[m.topic]
        try:
            records = await reader.read(m.part, m.first, m.last)
            await codec.ready(records)          # registry schemas of records this worker never saw
        except Exception as exc:
            raise RebuildError(str(exc) or repr(exc)) from exc
        out.append(MemberRecords(m, codec, records))
    return out


def encode_run(mr: MemberRecords, lo: int, hi: int, table: TableKey) -> tuple[bytes | memoryview, int, list[Any]]:
    """Rows of ``mr.records[lo:hi]`` for ``table``, and the records that cannot be loaded."""
    codec = mr.codec
    try:
        chunk = codec.chunker.encode(mr.records, lo, hi)
    except BadRecord as exc:                    # errors.tolerance=none: no batch ever held one
        raise RebuildError(f"record {mr.member.topic}[{mr.member.partition}]@"
                           f"{mr.records[exc.index].offset} cannot be encoded again: {exc.error}") from None
    piece = chunk.pieces(codec.table.table).get(table.name_in(codec.table.database))
    # a record's dead letter belongs to the batch of its route's own table (intake puts it there)
    bad = [(mr.records[b.index], b) for b in chunk.bad] if table == codec.table else []
    if piece is None:
        return b"", 0, bad
    return piece.data, piece.rows, bad
