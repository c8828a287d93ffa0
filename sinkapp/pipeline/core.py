"""The pipeline: routes' intake → per-table batches → loads → commits, for one worker.

Who calls: the Faust app (:mod:`sinkapp.worker.app`): each route's agent (``take``), the flush timer
(``flush_due``), the revoke and stop hooks (``drain``, ``release``) and the pages (``snapshot``).

A table has one open batch and at most one load in flight (``tasks.max`` bounds the loads in
flight across tables). A route's agent that fills a table's batch to its byte or row bound while
the table's previous load is still in flight waits for it, which holds intake back while StarRocks
is slower than Kafka (memory stays bounded: one loading and one open batch per table).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sinkapp.config.keys import default, default_flag
from sinkapp.config.types import Settings
from sinkapp.pipeline.batcher import Batcher, TableBatch, TableLane
from sinkapp.pipeline.committer import Committer
from sinkapp.pipeline.ledger import Ledger
from sinkapp.pipeline.loader import Loader, LoaderDeps, Outcome
from sinkapp.pipeline.ports import DeadLetters, PartitionControl, SourceReader, StreamLoader
from sinkapp.pipeline.route import RouteIntake, Shared
from sinkapp.pipeline.settle import Settler
from sinkapp.pipeline.stats import RouteView, Snapshot, TableStats, TableView
from sinkapp.pipeline.types import Part, RouteState, TableKey
from sinkapp.streamload.retry import RetryPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """The settings the core reads; each default is its key's (:mod:`sinkapp.config.keys`)."""

    label_prefix: str = default("sinkapp.label.prefix")
    max_bytes: int = default("bufferflush.maxbytes")
    max_rows: int = default("sinkapp.flush.max.rows")
    interval_ms: int = default("bufferflush.intervalms")
    max_interval_ms: int = default("sinkapp.load.backoff.max.ms")   # longest interval under pressure
    tasks_max: int = default("tasks.max")
    database: str = ""
    tolerant: bool = default("errors.tolerance") == "all"
    log_enable: bool = default_flag("errors.log.enable")
    log_messages: bool = default_flag("errors.log.include.messages")

    @classmethod
    def of(cls, settings: Settings) -> PipelineConfig:
        e = settings.errors
        return cls(label_prefix=settings.label_prefix, max_bytes=settings.bufferflush_maxbytes,
                   max_rows=settings.flush_max_rows, interval_ms=settings.bufferflush_intervalms,
                   max_interval_ms=settings.backoff_max_ms, tasks_max=settings.tasks_max,
                   database=settings.database, tolerant=e.tolerant, log_enable=e.log_enable,
                   log_messages=e.log_messages)


class Pipeline:
    def __init__(self, cfg: PipelineConfig, *, client: StreamLoader, ledger: Ledger, control: PartitionControl,
                 policy: RetryPolicy, dlq: DeadLetters | None = None, reader: SourceReader | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.control, self.ledger = cfg, control, ledger
        self.aborting = False
        self.shapes: Any = None                      # auto.create/evolve: sinkapp.tableshape TableShapes
        self.routes: list[RouteIntake] = []
        self.by_topic: dict[str, RouteIntake] = {}
        self.table_stats: dict[str, TableStats] = {}
        self.committer = Committer(control)
        self.batcher = Batcher(max_bytes=cfg.max_bytes, max_rows=cfg.max_rows, interval_s=cfg.interval_ms / 1000,
                               max_interval_s=cfg.max_interval_ms / 1000, hold=self.committer.hold, clock=clock)
        self.slots = asyncio.Semaphore(cfg.tasks_max)
        self.loader = Loader(LoaderDeps(
            client=client, ledger=ledger, committer=self.committer, batcher=self.batcher, policy=policy,
            label_prefix=cfg.label_prefix, reader=reader, route_of=self.route_of,
            route_stats=lambda rid: self.routes[rid].stats, table_stats=self._table_stats, owns=control.owns,
            aborting=lambda: self.aborting, dlq=dlq, tolerant=cfg.tolerant, log_messages=cfg.log_messages))
        self.settler = Settler(ledger=ledger, client=client, loader=self.loader, reader=reader,
                               database=cfg.database, route_of=self.route_of, lane_of=self._lane,
                               aborting=lambda: self.aborting, retry_delay=policy.delay,
                               has_route=lambda topic: topic in self.by_topic)
        self.shared = Shared(self.committer, self.batcher, self.settler, ledger, control, lane=self._lane,
                             halt=self._halt, stop=self.stop_routes, confirm=self.loader.until_confirmed, clock=clock,
                             dlq=dlq is not None, log_enable=cfg.log_enable, log_messages=cfg.log_messages)
        self._halts: set[asyncio.Task[None]] = set()

    def add_route(self, route: Any, converter: Any, chunker: Any, encoder: Any, headers: dict[str, str]) -> RouteIntake:
        ri = RouteIntake(len(self.routes), route, converter, chunker, encoder, headers, self.shared)
        self.routes.append(ri)
        self.by_topic[route.topic] = ri
        self._lane(ri.table, ri)
        return ri

    def route_of(self, topic: str) -> RouteIntake:
        return self.by_topic[topic]

    def _table_stats(self, table: str) -> TableStats:
        return self.table_stats.setdefault(table, TableStats())

    def _lane(self, table: TableKey, route: RouteIntake) -> TableLane:
        lane = self.batcher.lanes.get(table)
        if lane is None:
            lane = self.batcher.lane(table, route.headers, route.encoder)
            self._table_stats(str(table))
        lane.partial = lane.partial or route.chunker.marks
        return lane

    # -- intake -------------------------------------------------------------------------------
    async def take(self, rid: int, events: list[Any]) -> None:
        """A route's agent hands over fetched partition batches (Faust events)."""
        route = self.routes[rid]
        if route.state is not RouteState.RUNNING or self.aborting:
            return
        try:
            if not await route.prepare(events):
                return
            route.take(events)
        except asyncio.CancelledError:
            raise
        except Exception as exc:                     # a bug must not kill the agent: stop the route, say why
            log.exception("route %s: intake failed", route.name)
            self.stop_routes([rid], f"internal error taking records of {route.name}: {exc!r}")
            return
        self.flush_due()
        for lane in list(self.batcher.lanes.values()):
            task = lane.loading
            if task is not None and not task.done() and self.batcher.full(lane):
                await asyncio.wait([task])          # backpressure: StarRocks is slower than Kafka
        self.flush_due()

    # -- loads --------------------------------------------------------------------------------
    def flush_due(self) -> None:
        """Start the loads of tables whose batch is due and that have none in flight."""
        if self.aborting:
            return
        for lane in self.batcher.due():
            self._start(lane)

    def _start(self, lane: TableLane) -> None:
        batch = self.batcher.seal(lane)
        if batch is not None:
            lane.loading = asyncio.ensure_future(self._run(lane, batch))

    async def _run(self, lane: TableLane, batch: TableBatch) -> None:
        try:
            async with self.slots, lane.lock:
                outcome = await self.loader.load(batch, lane)
            await self._apply(batch, outcome)
        except asyncio.CancelledError:
            raise
        except Exception as exc:                     # a bug: stop what the batch feeds, keep the worker
            log.exception("load of a %s batch failed unexpectedly", lane.table)
            self.stop_routes(sorted(batch.routes), f"internal error loading into {lane.table}: {exc!r}")

    async def _apply(self, batch: TableBatch, outcome: Outcome) -> None:
        if outcome.kind == "failed":
            self.stop_routes(sorted(batch.routes), outcome.reason)
            return
        if outcome.kind != "loaded":                 # abandoned: holds stay, the drain releases
            return
        ident = batch.identity()
        parts = self.committer.finished(batch.seq, outcome.through)
        if parts:
            await self._record_loaded(ident.label(self.cfg.label_prefix), parts, len(ident.members))
            self.committer.advance(parts)
        for part, reason in outcome.stopped.items():
            self.stop_routes([self.by_topic[part.topic].id], reason)

    async def _record_loaded(self, label: str, parts: list[Part], members: int) -> None:
        """The members' entries after a load (confirmed; a failure only costs the next owner a
        get_load_state), then, once no entry names the batch, its batch record goes."""
        try:
            await self.ledger.write(lambda: self.committer.entries(parts))
            if len(parts) == members:
                await self.ledger.write(dict, drop=[label])
        except Exception as exc:
            log.warning("ledger update after load of %s failed: %r", label, exc)

    async def flush_all(self) -> None:
        """Load everything open now and wait for every load (tests, drain, shutdown)."""
        while True:
            opens = [ln for ln in self.batcher.lanes.values() if ln.open is not None and ln.open.members]
            for ln in opens:
                if ln.loading is None or ln.loading.done():
                    self._start(ln)
            busy = [ln.loading for ln in self.batcher.lanes.values()
                    if ln.loading is not None and not ln.loading.done()]
            if not busy and not opens:
                return
            if busy:
                await asyncio.wait(busy)

    async def wait_halts(self) -> None:
        if self._halts:
            await asyncio.gather(*list(self._halts), return_exceptions=True)

    # -- halting, stopping, rebalancing --------------------------------------------------------
    def _halt(self, route: RouteIntake) -> None:
        task = asyncio.ensure_future(self._finish_then_stop(route))
        self._halts.add(task)
        task.add_done_callback(self._halts.discard)

    async def _finish_then_stop(self, route: RouteIntake) -> None:
        """errors.tolerance=none met a bad record: load what came before it, then stop the route."""
        try:
            while True:
                lanes = [ln for ln in self.batcher.lanes.values()
                         if (ln.open is not None and route.id in ln.open.routes)
                         or (ln.loading is not None and not ln.loading.done())]
                if not lanes or route.state is not RouteState.HALTING:
                    break
                for ln in lanes:
                    if ln.open is not None and route.id in ln.open.routes and (ln.loading is None or ln.loading.done()):
                        self._start(ln)
                busy = [ln.loading for ln in lanes if ln.loading is not None and not ln.loading.done()]
                if busy:
                    await asyncio.wait(busy)
        finally:
            if route.state is RouteState.HALTING:
                self.stop_routes([route.id], route.reason or "halted")

    def stop_routes(self, ids: list[int], reason: str) -> None:
        """Stop routes: their events are released without ack (offsets stay), their rows leave the open
        batches, and nothing of them loads until the worker is restarted."""
        parts: set[Part] = set()
        for rid in ids:
            r = self.routes[rid]
            if r.state is RouteState.STOPPED:
                continue
            r.state, r.reason = RouteState.STOPPED, reason
            if r.stats.failed is None:
                r.stats.failed = reason
                log.error("route %s STOPPED, nothing after the last loaded offset is acknowledged: %s", r.name, reason)
            parts |= {p for p in self.committer.parts if p.topic == r.route.topic}
        for lane in self.batcher.lanes.values():
            if lane.open is not None and parts:
                lane.open.drop_parts(parts)
                if not lane.open.members:
                    lane.open = None
        self.committer.release(sorted(parts))

    async def drain(self, timeout_s: float) -> None:
        """Load everything within ``timeout_s``, abandon what is left un-acked; never raises."""
        try:
            await asyncio.wait_for(self.flush_all(), timeout_s)
        except TimeoutError:
            log.warning("drain did not finish within %.1fs; the rest is left to the next owner", timeout_s)
        except Exception as exc:
            log.warning("drain failed: %r; the rest is left to the next owner", exc)
        finally:
            self.aborting = True
            tasks = [ln.loading for ln in self.batcher.lanes.values() if ln.loading is not None]
            tasks += list(self._halts)
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await self.ledger.flush()
            except Exception as exc:
                log.warning("ledger flush at drain failed: %r", exc)
            self.release()
            self.aborting = False

    def release(self) -> None:
        """Forget every partition without acking (the next owner reads them from the commit)."""
        self.committer.release()
        self.settler.forget()
        for lane in self.batcher.lanes.values():
            lane.open = None
            lane.loading = None
        for r in self.routes:
            r.release()

    # -- what the pages read ------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        routes = []
        for r in self.routes:
            buffered: dict[int, tuple[int, int]] = {}
            for lane in self.batcher.lanes.values():
                for part, rid, data, rows in (lane.open.pieces if lane.open is not None else ()):
                    if rid == r.id:
                        n, b = buffered.get(part.partition, (0, 0))
                        buffered[part.partition] = (n + rows, b + len(data) + 1)
            trouble = self.table_stats.get(str(r.table), TableStats()).trouble
            routes.append(RouteView(r.name, r.route.topic, str(r.table), r.state.value, r.reason, r.stats, buffered,
                                    trouble or getattr(r.converter, "trouble", None)))
        tables = []
        for t, lane in self.batcher.lanes.items():
            rows, nbytes = (lane.open.rows, lane.open.nbytes) if lane.open is not None else (0, 0)
            tables.append(TableView(str(t), self._table_stats(str(t)), rows, nbytes,
                                    lane.loading is not None and not lane.loading.done(), self.batcher.interval(lane)))
        shapes = self.shapes
        changes = tuple((t, k, n) for (t, k), n in sorted(shapes.changes.items())) if shapes else ()
        refused = tuple(sorted(shapes.refused.items())) if shapes else ()
        return Snapshot(tuple(routes), tuple(tables), schema_changes=changes, schemas_refused=refused)
