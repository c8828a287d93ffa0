"""Finding the rows StarRocks refuses in a table batch, across its members.

Who calls: the loader, when StarRocks refused a batch for its data (``DataRejected``: filtered rows
over ``max_filter_ratio``, JSON it cannot parse), and the settler for a batch the ledger says is
being split. The batch's records are read again from Kafka (:mod:`sinkapp.pipeline.rebuild`),
laid out in member order, and loaded in halves; each part is labelled by its own identity (the
table and the part's sub-ranges of the members), so after a crash the next owner sends the same
parts and StarRocks de-duplicates the ones it has. Down to single records:

- ``errors.tolerance=all``: a refused record is dead-lettered (stage TASK_PUT, StarRocks'
  message) and every other row loads;
- ``none``: a refused record stops its partition there: the partition's records before it load,
  the ones after it do not; other partitions' records load. The routes of stopped partitions stop.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sinkapp.errors import DataRejected
from sinkapp.pipeline.letters import TASK_PUT, DeadLetter, letter
from sinkapp.pipeline.rebuild import MemberRecords, encode_run
from sinkapp.pipeline.types import BatchId, Member, Part, TableKey

log = logging.getLogger(__name__)


@dataclass
class Search:
    """What the search found: how far each member loaded, and the refused records."""

    through: dict[Part, int] = field(default_factory=dict)       # member → last offset done
    refused: list[tuple[Any, DataRejected]] = field(default_factory=list)
    stopped: dict[Part, tuple[Any, DataRejected]] = field(default_factory=dict)   # tolerance none
    letters: list[DeadLetter] = field(default_factory=list)      # tolerance all
    loads: int = 0
    rows_loaded: int = 0


#: load one part: (identity, body pieces, rows per route id)
LoadPart = Callable[[BatchId, list[bytes | memoryview], dict[int, int]], Awaitable[Any]]


def _part_of(items: list[tuple[int, int]], members: list[MemberRecords], table: TableKey, epoch: int
             ) -> tuple[BatchId, list[bytes | memoryview], dict[int, int]]:
    """The identity, body pieces and rows per route of a part (``items``: (member, record) indexes)."""
    runs: dict[int, list[int]] = {}
    for mi, ri in items:
        runs.setdefault(mi, []).append(ri)
    subs: list[Member] = []
    pieces: list[bytes | memoryview] = []
    by_route: dict[int, int] = {}
    for mi, idx in runs.items():
        mr = members[mi]
        lo, hi = idx[0], idx[-1] + 1                # contiguous: stopped partitions leave whole
        subs.append(Member(mr.member.topic, mr.member.partition, mr.records[lo].offset, mr.records[hi - 1].offset))
        data, n, _ = encode_run(mr, lo, hi, table)
        if n:
            pieces.append(data)
            by_route[mr.codec.id] = by_route.get(mr.codec.id, 0) + n
    return BatchId(table, tuple(sorted(subs)), epoch), pieces, by_route


async def search(members: list[MemberRecords], table: TableKey, first_error: DataRejected,
                 load_part: LoadPart, tolerant: bool, epoch: int = 0) -> Search:
    """Load ``members``' rows for ``table`` in halves around the records StarRocks refuses."""
    found = Search()
    items = [(mi, ri) for mi, mr in enumerate(members) for ri in range(len(mr.records))]
    todo: deque[tuple[int, int, DataRejected | None]] = deque([(0, len(items), first_error)])
    while todo:
        lo, hi, known = todo.popleft()
        part = [it for it in items[lo:hi] if members[it[0]].member.part not in found.stopped]
        if not part:
            continue
        error = known
        if error is None:
            ident, pieces, by_route = _part_of(part, members, table, epoch)
            if not by_route:
                continue
            try:
                await load_part(ident, pieces, by_route)
                found.loads += 1
                found.rows_loaded += sum(by_route.values())
                continue
            except DataRejected as exc:
                error = exc
        if len(part) == 1:
            _refused(found, members, part[0], error, tolerant)
            continue
        mid = lo + (hi - lo) // 2
        todo.appendleft((mid, hi, None))
        todo.appendleft((lo, mid, None))
    for mr in members:
        stop = found.stopped.get(mr.member.part)
        found.through[mr.member.part] = mr.member.last if stop is None else stop[0].offset - 1
    return found


def stop_reason(record: Any, why: DataRejected) -> str:
    """Why a partition stopped at ``record`` (errors.tolerance=none), and what to do."""
    r = record
    return (f"row {r.topic}[{r.partition}]@{r.offset} was refused by StarRocks (TASK_PUT): {why}. Every "
            f"record before it is loaded and committed. Fix the data or the table and restart, or skip the "
            f"record (kafka-consumer-groups --reset-offsets --to-offset {r.offset + 1} for "
            f"{r.topic}:{r.partition}), or set errors.tolerance=all with errors.deadletterqueue.topic.name "
            f"to dead-letter such rows")


def _refused(found: Search, members: list[MemberRecords], item: tuple[int, int], error: DataRejected,
             tolerant: bool) -> None:
    mr = members[item[0]]
    record = mr.records[item[1]]
    log.warning("row %s[%d]@%d refused by StarRocks: %s", record.topic, record.partition, record.offset,
                str(error)[:300])
    found.refused.append((record, error))
    if tolerant:
        found.letters.append(letter(record, TASK_PUT, error, "StarRocks Stream Load"))
    else:
        found.stopped[mr.member.part] = (record, error)
