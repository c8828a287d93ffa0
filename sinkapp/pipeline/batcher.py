"""The batcher: one open batch per target table, across every partition and route that feeds it.

Who calls: the route intake (``lane``, ``add``: the rows a run of a fetched partition batch gave
for one table; ``add`` returns the batch the committer must hold the partition for when it joined
it) and the pipeline (``due``, ``seal``, ``drop``, ``clear``, ``after_load``).
The batcher alone writes a lane's open batch and back-off; the pipeline alone writes
``TableLane.loading``.

``bufferflush.maxbytes``, ``sinkapp.flush.max.rows`` and ``bufferflush.intervalms`` apply per
table, as in the Java connector. A table's open batch is due when it reached the byte or row
bound, or its first row is older than the interval (times the lane's back-off factor: under load
pressure the interval grows, up to ``sinkapp.load.backoff.max.ms``, and shrinks back as loads
succeed). A table has at most one batch loading (``TableLane.loading``); the next one grows
meanwhile and is due as soon as the load ends.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sinkapp.errors import ConfigError
from sinkapp.pipeline.letters import DeadLetter
from sinkapp.pipeline.types import BatchId, Part, TableKey, batch_id

_seq = itertools.count(1)


@dataclass(eq=False)
class TableBatch:
    """One table's batch: member ranges, encoded pieces (each tagged with its partition and route)."""

    table: TableKey
    seq: int = field(default_factory=lambda: next(_seq))
    members: dict[Part, tuple[int, int]] = field(default_factory=dict)
    pieces: list[tuple[Part, int, bytes | memoryview, int]] = field(default_factory=list)  # part, route, data, rows
    rows: int = 0
    nbytes: int = 0
    started_at: float = 0.0
    dead: list[DeadLetter] = field(default_factory=list)
    routes: set[int] = field(default_factory=set)
    replay: bool = False          # rebuilt from the ledger's pending batch (no new pending write)
    dead_done: bool = False       # the ledger says its dead letters are written
    split: bool = False           # the ledger says it loads in parts
    fixed: BatchId | None = None  # a rebuilt batch keeps exactly the recorded identity
    epoch: int = 0                # the highest label epoch of its member partitions

    def identity(self) -> BatchId:
        return self.fixed if self.fixed is not None else batch_id(self.table, self.members, self.epoch)

    def chunks(self) -> list[bytes | memoryview]:
        return [data for _, _, data, _ in self.pieces]

    def rows_by_route(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for _, route, _, rows in self.pieces:
            out[route] = out.get(route, 0) + rows
        return out

    def drop_parts(self, parts: set[Part]) -> None:
        """Take ``parts`` out (their route stopped): their rows are not loaded by this batch."""
        kept = [p for p in self.pieces if p[0] not in parts]
        self.rows = sum(p[3] for p in kept)
        self.nbytes = sum(len(p[2]) + 1 for p in kept)
        self.pieces = kept
        self.members = {p: r for p, r in self.members.items() if p not in parts}
        self.dead = [d for d in self.dead if Part(d.topic, d.partition) not in parts]


@dataclass
class TableLane:
    """A table's open batch, the batch loading now, and its back-off state."""

    table: TableKey
    headers: dict[str, str]
    encoder: Any
    open: TableBatch | None = None    # written by the batcher only
    loading: Any = None               # asyncio.Task of the batch in flight; written by the pipeline only
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)   # held by the one load in flight
    factor: float = 1.0               # back-off: the interval is multiplied by this
    partial: bool = False             # a route feeding it may send rows that lack columns (Debezium)


class Batcher:
    def __init__(self, *, max_bytes: int, max_rows: int, interval_s: float, max_interval_s: float,
                 clock: Callable[[], float]) -> None:
        self.max_bytes, self.max_rows = max_bytes, max_rows
        self.interval_s, self.max_interval_s = interval_s, max(interval_s, max_interval_s)
        self.lanes: dict[TableKey, TableLane] = {}
        self._clock = clock

    def lane(self, table: TableKey, headers: dict[str, str], encoder: Any, partial: bool = False) -> TableLane:
        """The lane of ``table`` (made with the first route's headers and encoder); ``partial``: the
        route may send rows that lack columns. A route that would load the table with other headers is
        a ConfigError (one batch holds every route's rows and is loaded with one set of headers)."""
        lane = self.lanes.get(table)
        if lane is None:
            lane = self.lanes[table] = TableLane(table, headers, encoder)
        elif lane.headers != headers:
            differ = sorted(k for k in set(headers) | set(lane.headers) if headers.get(k) != lane.headers.get(k))
            raise ConfigError(f"table {table} is fed by routes with different load properties ({', '.join(differ)}); "
                              f"set them once for the table (sink.table.{table}.properties.*)")
        lane.partial = lane.partial or partial
        return lane

    def add(self, table: TableKey, part: Part, first: int, last: int, route: int,
            data: bytes | memoryview | None, rows: int, dead: list[DeadLetter] | None = None,
            epoch: int = 0, since: float | None = None) -> int | None:
        """Rows of records ``first..last`` of ``part`` for ``table`` (or only dead letters); ``since``:
        when the records reached the worker, if that was before now (they waited for a schema change),
        so the batch's age is its oldest row's. Returns the batch's ``seq`` when ``part`` joined it
        now (the committer holds the partition from ``first`` until that batch loads), else None."""
        lane = self.lanes[table]
        b = lane.open
        now = self._clock()
        if b is None:
            b = lane.open = TableBatch(table, started_at=now if since is None else min(now, since))
        elif since is not None and since < b.started_at:
            b.started_at = since
        span = b.members.get(part)
        b.members[part] = (span[0] if span else first, last)
        b.routes.add(route)
        b.epoch = max(b.epoch, epoch)
        if data is not None and rows:
            b.pieces.append((part, route, data, rows))
            b.rows += rows
            b.nbytes += len(data) + 1
        if dead:
            b.dead.extend(dead)
        return b.seq if span is None else None

    def interval(self, lane: TableLane, pending: Sequence[int] = ()) -> float:
        """The lane's flush interval now; ``pending``: the pressure of a load still running, as
        :class:`~sinkapp.pipeline.stats.LoadStats` counts it (what the interval will be once it is in)."""
        factor = lane.factor
        for times in pending:
            factor = self._factor(factor, times)
        return min(self.max_interval_s, self.interval_s * factor)

    def full(self, lane: TableLane) -> bool:
        b = lane.open
        return b is not None and (b.nbytes >= self.max_bytes or b.rows >= self.max_rows)

    def is_due(self, lane: TableLane, now: float) -> bool:
        b = lane.open
        return b is not None and bool(b.members) and (
            self.full(lane) or now - b.started_at >= self.interval(lane))

    def due(self, now: float | None = None) -> list[TableLane]:
        """Lanes whose open batch should load now and that have no load in flight."""
        now = self._clock() if now is None else now
        return [ln for ln in self.lanes.values()
                if (ln.loading is None or ln.loading.done()) and self.is_due(ln, now)]

    def seal(self, lane: TableLane) -> TableBatch | None:
        b, lane.open = lane.open, None
        return b if b is not None and b.members else None

    def drop(self, parts: set[Part]) -> None:
        """Take ``parts`` out of every open batch (their routes stopped); a batch left empty goes."""
        if not parts:
            return
        for lane in self.lanes.values():
            if lane.open is not None:
                lane.open.drop_parts(parts)
                if not lane.open.members:
                    lane.open = None

    def clear(self) -> None:
        """Forget every open batch (a rebalance: the next owner reads their records again)."""
        for lane in self.lanes.values():
            lane.open = None

    def holding(self, route: int) -> list[TableLane]:
        """Lanes whose open batch holds rows (or dead letters) of ``route``."""
        return [ln for ln in self.lanes.values() if ln.open is not None and route in ln.open.routes]

    def after_load(self, lane: TableLane, pressure: Sequence[int]) -> None:
        """A load ended; ``pressure``: per Stream Load it sent, the times StarRocks refused it for load
        pressure (each doubles the lane's interval, bounded) or 0 (it went through without: the
        interval halves back towards the setting)."""
        for times in pressure:
            lane.factor = self._factor(lane.factor, times)

    def _factor(self, factor: float, times: int) -> float:
        if not times:
            return max(1.0, factor / 2)
        for _ in range(times):
            factor = min(self.max_interval_s / self.interval_s, factor * 2)
        return factor

    def buffered(self) -> dict[TableKey, tuple[int, int]]:
        return {t: (ln.open.rows, ln.open.nbytes) for t, ln in self.lanes.items() if ln.open is not None}
