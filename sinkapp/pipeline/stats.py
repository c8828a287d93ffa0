"""Counters a user watches, what one load counted, and the snapshot the pages and metrics read.

Who writes: the route intake its own route's intake counters (records in, tombstones, skips); the
loader only the :class:`LoadStats` of the load it runs; the pipeline adds each load's
:class:`LoadStats` to the table's and routes' counters (:func:`add_load`) when the load ends, however
it ends. Who reads: :func:`Snapshot` consumers only (:mod:`sinkapp.observe.web`,
:mod:`sinkapp.observe.metrics`, the progress line); they never see the sink's state.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
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


@dataclass(frozen=True)
class Sent:
    """One Stream Load that went through (a batch's, or one part of a split or partial batch)."""

    label: str
    status: str
    rows: int                      # rows sent
    loaded: int                    # rows StarRocks counts as loaded (all of them when ``confirmed``)
    filtered: int
    nbytes: int
    seconds: float
    at: float                      # wall clock
    by_route: dict[int, int]       # route id -> rows of it sent
    confirmed: bool = False        # Label Already Exists: an earlier attempt loaded it


@dataclass
class LoadStats:
    """What one table batch's load did, in the order it happened; live while the load runs."""

    sent: list[Sent] = field(default_factory=list)
    retries: int = 0
    route_retries: Counter[int] = field(default_factory=Counter)
    backoffs: Counter[str] = field(default_factory=Counter)            # by reason (load pressure)
    pressure: list[int] = field(default_factory=list)   # per Stream Load: times it met pressure (0: none)
    dead_lettered: Counter[tuple[str, str]] = field(default_factory=Counter)   # (topic, stage), written
    skipped_bad: Counter[tuple[str, str]] = field(default_factory=Counter)     # (topic, stage), no topic


def add_load(table: TableStats, route: Callable[[int], RouteStats], topic_route: Callable[[str], int],
             s: LoadStats) -> None:
    """Add what a load counted to its table's and routes' counters (``route``: a route id's
    counters; ``topic_route``: the id of the route that reads a topic)."""
    for x in s.sent:
        table.loads += 1
        table.rows_loaded += x.loaded
        table.bytes_loaded += x.nbytes
        table.loads_by_status[x.status] += 1
        table.load_times.observe(x.seconds)
        table.last_rows, table.last_load_label, table.last_load_at = x.loaded, x.label, x.at
        for r, n in x.by_route.items():
            st = route(r)
            st.loads += 1
            st.label_confirmed += int(x.confirmed)
            st.rows_loaded += n if x.confirmed or x.loaded == x.rows else round(n * x.loaded / max(1, x.rows))
            st.rows_filtered += round(x.filtered * n / max(1, x.rows))
            st.bytes_loaded += round(x.nbytes * n / max(1, x.rows))
            st.loads_by_status[x.status] += 1
            st.load_times.observe(x.seconds)
            st.last_load_label, st.last_load_at = x.label, x.at
    table.load_retries += s.retries
    for r, n in s.route_retries.items():
        route(r).load_retries += n
    table.backoffs.update(s.backoffs)
    for (topic, stage), n in s.dead_lettered.items():
        route(topic_route(topic)).dead_lettered[stage] += n
    for (topic, stage), n in s.skipped_bad.items():
        route(topic_route(topic)).skipped_bad[stage] += n


@dataclass(frozen=True)
class RouteView:
    name: str
    topic: str
    table: str
    state: str                       # RUNNING | HALTING | STOPPED | REMOVED
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
    schema_changes: tuple[tuple[str, str, int], ...] = ()   # (table, create|add_column|modify_column, count)
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
