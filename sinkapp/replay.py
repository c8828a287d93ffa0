"""Exactly-once replay decisions for one source partition (design §2), on fetched batches.

Who calls: :class:`sinkapp.sink.RouteSink` for every fetched partition batch, before it decodes
anything. Pure functions over offsets: no IO, no Faust, unit-tested in tests/test_replay.py.

What a partition's records can be, in offset order, for a route that has read the partition's
ledger entry ``Mark(loaded, pending)`` and taken records up to ``high`` since assignment:

- at or below ``loaded``: in StarRocks already (before a crash or rebalance): acknowledged and
  committed without loading (``Plan.start`` is the first record above it);
- above ``loaded`` and at or below ``high``: a copy re-delivered after a re-seek. When a buffer
  here holds that offset, the copy is acknowledged with it; otherwise the stream rewound to
  before what is held, the held copies are the stale ones and the stream is followed
  (``Plan.rewind``);
- above ``high``: new. New records that fall in the ledger's ``pending`` batch go into a buffer
  of exactly that range (same offsets, same label, so StarRocks de-duplicates a batch that had
  been loaded before the crash); records before it form their own batch; the pending batch is
  closed by its last offset or by the first record after it (:func:`segment_end`).
- ``prev_last`` of a batch (the last offset the consumer yielded before it) above ``high``
  means a batch was dropped on the way (Faust skips events of a stale generation or while flow
  is stopped): its records must not be committed past, so the batch is dropped and the
  partition re-read from ``high + 1`` (``Plan.gap``; :func:`gap_resume`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from sinkapp.ledger import Mark

_OFFSET = attrgetter("offset")


@dataclass
class PartitionView:
    """What the route knows of one assigned partition."""

    mark: Mark                     # the ledger entry (loaded, pending), updated as batches load
    high: int = -1                 # highest offset taken since assignment
    seeking: bool = False          # a re-seek after a gap is under way
    resume: int | None = None      # ... to this offset (None: to the committed offset)


@dataclass(frozen=True)
class Plan:
    gap: bool = False              # drop the batch, re-seek (see module doc)
    start: int = 0                 # records[:start] are loaded already
    new: int = 0                   # records[start:new] are copies of records taken before
    rewind: bool = False           # the copies are not held here: drop held copies, follow the stream


def plan_intake(view: PartitionView, records: list[Any], prev_last: int | None,
                holding: Callable[[int], bool], fetch_from: int | None = None) -> Plan:
    """Classify a fetched batch (``records`` non-empty, offset order) against ``view``.

    While a re-seek is pending, only the re-read is taken: a batch that starts (or was read from)
    at or before the resume offset. Batches fetched before the seek took effect come from beyond
    the gap, and the consumer may already have reset their ``prev_last``."""
    if view.seeking:
        if view.resume is not None and records[0].offset > view.resume \
                and (fetch_from is None or fetch_from > view.resume):
            return Plan(gap=True)
        if view.resume is None and prev_last is not None:
            return Plan(gap=True)
    elif prev_last is not None and prev_last > view.high:
        return Plan(gap=True)
    n = len(records)
    start = 0
    if records[0].offset <= view.mark.loaded:
        start = bisect_right(records, view.mark.loaded, key=_OFFSET)
    if start == n or records[start].offset > view.high:
        return Plan(start=start, new=start)
    new = bisect_right(records, view.high, lo=start, key=_OFFSET)
    if holding(records[start].offset):
        return Plan(start=start, new=new)
    return Plan(start=start, new=start, rewind=True)


def gap_resume(view: PartitionView) -> int | None:
    """Where to re-read a partition after a gap: after what was taken, else after what loaded;
    ``None``: nothing known here, re-read from the committed offset."""
    if view.high >= 0:
        return view.high + 1
    if view.mark.loaded >= 0:
        return view.mark.loaded + 1
    return None


def segment_end(pending: tuple[int, int] | None, replaying: bool, records: list[Any], i: int) -> int:
    """End (exclusive) of the run of ``records[i:]`` that belongs in one buffer.

    ``replaying``: the open buffer rebuilds ``pending``; it takes records up to pending's last
    offset. Otherwise records before pending's first offset form their own batch."""
    if pending is None:
        return len(records)
    if replaying:
        return bisect_right(records, pending[1], lo=i, key=_OFFSET)
    if records[i].offset < pending[0]:
        return bisect_left(records, pending[0], lo=i, key=_OFFSET)
    return len(records)
