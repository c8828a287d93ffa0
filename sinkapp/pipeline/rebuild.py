"""Rebuilding a table batch's rows from Kafka: the ledger's pending batches and refused batches.

Who calls: the settler (a previous owner's pending batch, :mod:`sinkapp.pipeline.settle`) and the
bad-row search (:mod:`sinkapp.pipeline.badrows`). The pieces held in memory are encoded rows
only; the records they came from are still in Kafka (nothing of a batch is committed before it
loads), so they are read again (:class:`~sinkapp.pipeline.ports.SourceReader`) and encoded by the
member's route exactly as intake did: same records, same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sinkapp.pipeline.encode import BadRecord, Chunker
from sinkapp.pipeline.letters import DeadLetter
from sinkapp.pipeline.ports import SourceReader
from sinkapp.pipeline.types import Member, TableKey


class RouteLike(Protocol):
    id: int
    table: TableKey
    chunker: Chunker

    def letter(self, record: Any, bad: BadRecord) -> DeadLetter | None: ...

    async def ready(self, records: list[Any]) -> None: ...


@dataclass
class MemberRecords:
    member: Member
    route: RouteLike
    records: list[Any]


async def read_members(reader: SourceReader, members: Sequence[Member],
                       route_of: Callable[[str], RouteLike]) -> list[MemberRecords]:
    """Every member's records, in member order (raises when Kafka cannot give them back)."""
    out = []
    for m in members:
        records = await reader.read(m.part, m.first, m.last)
        route = route_of(m.topic)
        await route.ready(records)              # registry schemas of records this worker never saw
        out.append(MemberRecords(m, route, records))
    return out


def encode_run(mr: MemberRecords, lo: int, hi: int, table: TableKey) -> tuple[bytes | memoryview, int, list[Any]]:
    """Rows of ``mr.records[lo:hi]`` for ``table``, and the records that cannot be loaded."""
    route = mr.route
    try:
        chunk = route.chunker.encode(mr.records, lo, hi)
    except BadRecord as exc:                    # errors.tolerance=none: no batch ever held one
        raise RuntimeError(f"record {mr.member.topic}[{mr.member.partition}]@"
                           f"{mr.records[exc.index].offset} cannot be encoded again: {exc.error}") from None
    piece = chunk.pieces(route.table.table).get(table.table) if table.database == route.table.database else None
    # a record's dead letter belongs to the batch of its route's own table (intake puts it there)
    bad = [(mr.records[b.index], b) for b in chunk.bad] if table == route.table else []
    if piece is None:
        return b"", 0, bad
    return piece.data, piece.rows, bad
