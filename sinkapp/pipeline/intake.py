"""Exactly-once intake decisions for one source partition (docs/design.md §2), on fetched
batches.

Who calls: :class:`sinkapp.pipeline.route.RouteIntake` for every fetched partition batch, before it
decodes anything. Pure functions over offsets: no I/O, no Faust (tests/test_intake.py).

What a partition's records can be, in offset order, for a route that took records up to ``high``
since the partition was assigned and whose watermark (committer) is ``floor``:

- at or below ``floor``: in StarRocks already, or needed no load (before a crash or rebalance, or
  earlier in this assignment): acknowledged without loading (``Plan.start`` is the first above);
- above ``floor`` and at or below ``high``: a copy re-delivered after a re-seek; the original is
  held by a table batch (or gave no row): the copy is acknowledged with it (``Plan.new`` is the
  first record above ``high``);
- above ``high``: new. Where the ledger says a table's rows are loaded further than ``floor``
  (a pending batch the previous owner started, settled at assignment), rows for that table from
  records up to there are left out (:func:`segments`);
- ``prev_last`` of a batch (the last offset the consumer yielded before it) above ``high`` means
  a batch was dropped on the way (Faust skips events of a stale generation or while flow is
  stopped): its records must not be committed past, so the batch is dropped and the partition read
  again from ``high + 1`` (``Plan.gap``; :func:`gap_resume`). While that re-read is pending, only
  a batch that starts (or was read from) at or before the resume offset is taken: batches fetched
  before the seek took effect come from beyond the gap, and the seek reset their ``prev_last``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

_OFFSET = attrgetter("offset")


@dataclass
class PartitionView:
    """What the route knows of one assigned partition's stream."""

    high: int = -1                 # highest offset taken since assignment
    seeking: bool = False          # a re-read after a gap is under way
    resume: int | None = None      # ... from this offset (None: from the committed offset)


@dataclass(frozen=True)
class Plan:
    gap: bool = False              # drop the batch, read again (see module doc)
    start: int = 0                 # records[:start] are loaded already
    new: int = 0                   # records[start:new] are copies of records taken before


def plan_intake(view: PartitionView, records: list[Any], prev_last: int | None, floor: int,
                fetch_from: int | None = None) -> Plan:
    """Classify a fetched batch (``records`` non-empty, offset order) against ``view``."""
    if view.seeking:
        if view.resume is not None and records[0].offset > view.resume \
                and (fetch_from is None or fetch_from > view.resume):
            return Plan(gap=True)
        if view.resume is None and prev_last is not None:
            return Plan(gap=True)
    elif prev_last is not None and prev_last > max(view.high, floor):
        return Plan(gap=True)
    n = len(records)
    start = bisect_right(records, floor, key=_OFFSET) if records[0].offset <= floor else 0
    if start == n or records[start].offset > view.high:
        return Plan(start=start, new=start)
    return Plan(start=start, new=bisect_right(records, view.high, lo=start, key=_OFFSET))


def gap_resume(view: PartitionView, floor: int) -> int | None:
    """Where to read a partition again after a gap: after what was taken, else after what
    loaded; ``None``: nothing known here, read from the committed offset."""
    if view.high >= 0:
        return view.high + 1
    if floor >= 0:
        return floor + 1
    return None


def segments(records: list[Any], i: int, skips: dict[str, int]) -> list[tuple[int, int, frozenset[str]]]:
    """Cut ``records[i:]`` where a table's replay skip ends: ``(start, end, tables whose rows of
    records[start:end] are loaded already)``; ``skips`` maps a table to its last loaded offset."""
    n = len(records)
    cuts = sorted({bisect_right(records, off, lo=i, key=_OFFSET) for off in skips.values()} | {n})
    out, lo = [], i
    for cut in cuts:
        if cut <= lo:
            continue
        skip = frozenset(t for t, off in skips.items() if records[lo].offset <= off)
        out.append((lo, cut, skip))
        lo = cut
    return out
