"""Counters a user watches, and the snapshot the status pages and metrics read.

Who writes: the route intake (records in, tombstones, replay counts), the loader (loads, retries,
back-offs, dead letters), the pipeline (stops). Who reads: :func:`Snapshot` consumers only
(:mod:`sinkapp.observe.web`, :mod:`sinkapp.observe.metrics`, the progress line); they never see the sink's state.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class LoadTimes:
    """A fixed-bucket histogram of load durations (no list grows with the number of loads)."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)
        self.total_s = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS_S, seconds)] += 1
        self.total_s += seconds

    def buckets(self) -> list[tuple[str, int]]:
        out, acc = [], 0
        for bound, n in zip((*map(str, BUCKETS_S), "+Inf"), self.counts, strict=True):
            acc += n
            out.append((bound, acc))
        return out


@dataclass
class RouteStats:
    """Per route (topic → table)."""

    records_in: int = 0
    rows_loaded: int = 0
    rows_filtered: int = 0
    tombstones: int = 0
    skipped_loaded: int = 0                                       # at or below the ledger's loaded mark
    behind_ledger: int = 0                                        # assignments that found the commit behind it
    redelivered: int = 0
    dropped_stale: int = 0
    replayed_batches: int = 0
    gaps: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)   # by stage, confirmed written
    skipped_bad: Counter[str] = field(default_factory=Counter)     # tolerance all without a DLQ topic
    events_skipped: Counter[str] = field(default_factory=Counter)  # by kind: events a transform skips (truncate)
    loads: int = 0                                                # loads this route had rows in
    label_confirmed: int = 0                                      # ... answered Label Already Exists
    load_retries: int = 0
    bytes_loaded: int = 0
    last_load_label: str | None = None
    last_load_at: float | None = None                             # wall clock of the last load
    loads_by_status: Counter[str] = field(default_factory=Counter)
    load_times: LoadTimes = field(default_factory=LoadTimes)
    failed: str | None = None


@dataclass
class TableStats:
    """Per target table (db.table): one Stream Load per batch of it."""

    loads: int = 0
    rows_loaded: int = 0
    bytes_loaded: int = 0
    loads_by_status: Counter[str] = field(default_factory=Counter)
    load_times: LoadTimes = field(default_factory=LoadTimes)
    load_retries: int = 0
    backoffs: Counter[str] = field(default_factory=Counter)        # by reason (load pressure)
    last_rows: int = 0
    last_load_label: str | None = None
    last_load_at: float | None = None
    settled: int = 0                                               # pending batches of a previous owner
    trouble: tuple[float, str] | None = None                       # (since, why) while loads fail


@dataclass(frozen=True)
class RouteView:
    name: str
    topic: str
    table: str
    state: str                       # RUNNING | HALTING | STOPPED
    reason: str | None
    stats: RouteStats
    buffered: dict[int, tuple[int, int]]     # partition → (rows, bytes) in open batches
    trouble: tuple[float, str] | None


@dataclass(frozen=True)
class TableView:
    table: str
    stats: TableStats
    buffered_rows: int
    buffered_bytes: int
    loading: bool
    interval_s: float


@dataclass(frozen=True)
class PartitionView:
    topic: str
    partition: int
    loaded: int | None               # watermark: last offset loaded (None: not seen yet)
    committed: int | None
    end: int | None


@dataclass(frozen=True)
class Snapshot:
    """What the worker publishes for its pages, taken on demand from the pipeline and consumer."""

    routes: tuple[RouteView, ...] = ()
    tables: tuple[TableView, ...] = ()
    partitions: tuple[PartitionView, ...] = ()
    assigned_once: bool = False
    rebalancing: bool = False
    schema_changes: tuple[tuple[str, str, int], ...] = ()   # (table, create|add_column, count)
    schemas_refused: tuple[tuple[str, int], ...] = ()       # (table, schemas whose records are bad records)


def lag_of(snap: Snapshot) -> list[tuple[str, int, int]]:
    """(topic, partition, records not yet loaded) for the partitions assigned here."""
    out = []
    for p in snap.partitions:
        if p.end is None:
            continue
        done = p.loaded + 1 if p.loaded is not None else (p.committed or 0)
        out.append((p.topic, p.partition, max(0, p.end - done)))
    return out
