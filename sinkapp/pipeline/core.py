"""The pipeline: routes' intake → per-table batches → loads → commits, for one worker.

Who calls: the Faust app (:mod:`sinkapp.worker.app`): each route's agent (``take``), the flush timer
(``flush_due``), the revoke and stop hooks (``drain``, ``release``) and the pages (``snapshot``).

The pipeline owns the parts and alone applies what they return: the route intake returns the record
it halts at (:class:`~.route.Halt`), the settler what became of a previous owner's pending batch, the
loader a batch's :class:`~.types.Outcome` (its counts in the :class:`~.stats.LoadStats` the pipeline
hands it). The pipeline changes route states, starts and forgets loads (``TableLane.loading``), moves
the committer after loads and assignments, and adds the counts to the statistics. No part calls it back.

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
from typing import Any

from sinkapp.errors import DdlError, SchemaChangeFailed
from sinkapp.pipeline import assign, view
from sinkapp.pipeline.batcher import Batcher, TableBatch, TableLane
from sinkapp.pipeline.codec import RouteCodec
from sinkapp.pipeline.committer import Committer
from sinkapp.pipeline.ledger import BatchRecord, Ledger
from sinkapp.pipeline.loader import Loader
from sinkapp.pipeline.ports import DeadLetters, PartitionControl, SourceReader, StreamLoader
from sinkapp.pipeline.route import RouteIntake
from sinkapp.pipeline.settings import PipelineConfig
from sinkapp.pipeline.settle import Settled, Settler
from sinkapp.pipeline.stats import LoadStats, Snapshot, TableStats, add_load
from sinkapp.pipeline.types import Kind, Outcome, Part, RouteState, TableKey
from sinkapp.streamload.retry import RetryPolicy

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, cfg: PipelineConfig, *, client: StreamLoader, ledger: Ledger, control: PartitionControl,
                 policy: RetryPolicy, dlq: DeadLetters | None = None, reader: SourceReader | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.control, self.ledger, self.clock, self.dlq = cfg, control, ledger, clock, dlq
        self.abandon = asyncio.Event()               # set while a drain abandons what is in flight
        self.shapes: Any = None                      # auto.create/evolve: sinkapp.tableshape TableShapes
        self.routes: list[RouteIntake] = []
        self.by_topic: dict[str, RouteIntake] = {}
        self.codecs: dict[str, RouteCodec] = {}
        self.table_stats: dict[str, TableStats] = {}
        self.loading: dict[TableKey, LoadStats] = {}  # the loads running now: what they counted so far
        self.committer = Committer(control)
        self.batcher = Batcher(max_bytes=cfg.max_bytes, max_rows=cfg.max_rows, interval_s=cfg.interval_ms / 1000,
                               max_interval_s=cfg.max_interval_ms / 1000, clock=clock)
        self.slots = asyncio.Semaphore(cfg.tasks_max)
        self.loader = Loader(client=client, ledger=ledger, policy=policy, label_prefix=cfg.label_prefix, home=cfg.database,
                             abandon=self.abandon, codecs=self.codecs, reader=reader, dlq=dlq, tolerant=cfg.tolerant,
                             log_messages=cfg.log_messages)
        self.settler = Settler(ledger=ledger, client=client, reader=reader,
                               codecs=self.codecs, abandon=self.abandon, retry_delay=policy.delay)
        self.settling: dict[str, asyncio.Task[Settled]] = {}   # per label: its settling (assign.py)
        self._halts: set[asyncio.Task[None]] = set()

    def add_route(self, route: Any, converter: Any, chunker: Any, encoder: Any, headers: dict[str, str],
                  formats: Callable[[TableKey], tuple[dict[str, str], Any]] | None = None) -> RouteIntake:
        """``formats``: other tables' headers and encoder (the rows a TableByField transform sends there)."""
        codec = RouteCodec(len(self.routes), route.name, TableKey(route.database, route.table), converter, chunker,
                           encoder, headers, dlq=self.dlq is not None, log_enable=self.cfg.log_enable,
                           log_messages=self.cfg.log_messages, formats=formats)
        chunker.routed = lambda name: codec.format_of(codec.table_of(name))[1]
        ri = RouteIntake(route, codec, self.batcher, self.committer, self.control)
        self.routes.append(ri)
        self.by_topic[route.topic], self.codecs[route.topic], chunker.home = ri, codec, route.database
        self.batcher.lane(ri.table, headers, encoder, chunker.marks_into(encoder))
        self.table_stats.setdefault(str(ri.table), TableStats())
        return ri

    def topic_gone(self, topic: str, gone: bool = True) -> None:
        """``topic`` was deleted (REMOVED; what it buffered loads at the revoke that follows), or is back."""
        ri = self.by_topic[topic]
        if gone and ri.state is RouteState.RUNNING:
            ri.state, ri.reason = RouteState.REMOVED, f"topic {topic} was deleted"
        elif not gone and ri.state is RouteState.REMOVED:
            ri.state, ri.reason = RouteState.RUNNING, None

    # -- intake -------------------------------------------------------------------------------
    async def take(self, rid: int, events: list[Any]) -> None:
        """A route's agent hands over fetched partition batches (Faust events)."""
        route = self.routes[rid]
        if route.state is not RouteState.RUNNING or self.abandon.is_set():
            return
        try:
            if not await assign.assign_new(self, route, events):
                return
            since = self.clock()                     # a schema change may make them wait in ready()
            try:
                await route.codec.ready([r for ev in events for r in ev.message.records])
            except (DdlError, SchemaChangeFailed) as exc:   # the table cannot be made to take the records
                self.stop_routes([rid], f"{exc}")
                return
            halt = route.take(events, since)
        except asyncio.CancelledError:
            raise
        except Exception as exc:                     # a bug must not kill the agent: stop the route, say why
            log.exception("route %s: intake failed", route.name)
            self.stop_routes([rid], f"internal error taking records of {route.name}: {exc!r}")
            return
        if halt is not None:
            self.halt(route, halt.reason)
        self.flush_due()
        for lane in list(self.batcher.lanes.values()):
            task = lane.loading
            if task is not None and not task.done() and self.batcher.full(lane):
                await asyncio.wait([task])          # backpressure: StarRocks is slower than Kafka
        self.flush_due()

    # -- loads --------------------------------------------------------------------------------
    def flush_due(self) -> None:
        """Start the loads of tables whose batch is due and that have none in flight."""
        if self.abandon.is_set():
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
                pending = await self._pending(batch)
                outcome = await self.load(lane, batch) if pending else Outcome(Kind.ABANDONED)
            await self._apply(batch, outcome)
        except asyncio.CancelledError:
            raise
        except Exception as exc:                     # a bug: stop what the batch feeds, keep the worker
            log.exception("load of a %s batch failed unexpectedly", lane.table)
            self.stop_routes(sorted(batch.routes), f"internal error loading into {lane.table}: {exc!r}")

    async def _pending(self, batch: TableBatch) -> bool:
        """Before a batch is sent: every member partition's ledger entry names it pending and its batch
        record holds its identity, confirmed. False: a member is no longer assigned here, or the worker
        is rebalancing or stopping (the batch is abandoned un-acked)."""
        ident = batch.identity()
        label, parts = ident.label(self.cfg.label_prefix, self.cfg.database), [m.part for m in ident.members]
        if not all(self.control.owns(p) for p in parts):
            log.info("batch %s dropped un-acked: a member partition is no longer assigned here", label)
            return False
        self.committer.mark_pending(batch.seq, label, parts)
        record = BatchRecord(label, ident, dead=batch.dead_done, split=batch.split)
        return await self.loader.until_confirmed(
            lambda: self.ledger.write(lambda: self.committer.entries(parts), batches=[record]),
            f"ledger write (pending {label})")

    async def load(self, lane: TableLane, batch: TableBatch) -> Outcome:
        """The load of ``batch`` (the caller holds the lane's lock). What it counted goes into the
        statistics when it ends, however it ends; until then the pages see it in ``loading``."""
        stats = self.loading[lane.table] = LoadStats()
        try:
            return await self.loader.load(batch, lane, stats)
        finally:
            del self.loading[lane.table]
            add_load(self.table_stats.setdefault(str(lane.table), TableStats()), lambda rid: self.routes[rid].stats,
                     lambda topic: self.by_topic[topic].id, stats)
            self.batcher.after_load(lane, stats.pressure)

    async def _apply(self, batch: TableBatch, outcome: Outcome) -> None:
        if outcome.kind is Kind.FAILED:
            self.stop_routes(sorted(batch.routes), outcome.reason)
            return
        if outcome.kind is not Kind.LOADED:          # abandoned: holds stay, the drain releases
            return
        ident = batch.identity()
        parts = self.committer.finished(batch.seq, outcome.through)
        if parts:
            await self._record_loaded(ident.label(self.cfg.label_prefix, self.cfg.database), parts, len(ident.members))
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

    def _busy(self, lanes: Any) -> list[asyncio.Task[None]]:
        return [ln.loading for ln in lanes if ln.loading is not None and not ln.loading.done()]

    async def flush_all(self) -> None:
        """Load everything open now and wait for every load (tests, drain, shutdown)."""
        while True:
            opens = [ln for ln in self.batcher.lanes.values() if ln.open is not None and ln.open.members]
            for ln in opens:
                if ln.loading is None or ln.loading.done():
                    self._start(ln)
            busy = self._busy(self.batcher.lanes.values())
            if not busy and not opens:
                return
            if busy:
                await asyncio.wait(busy)

    async def wait_halts(self) -> None:
        if self._halts:
            await asyncio.gather(*list(self._halts), return_exceptions=True)

    # -- halting, stopping, rebalancing --------------------------------------------------------
    def halt(self, route: RouteIntake, reason: str) -> None:
        """errors.tolerance=none met a record the route cannot load (the committer stops before it)."""
        if route.state is not RouteState.RUNNING:
            return
        route.state, route.reason = RouteState.HALTING, reason
        log.error("route %s: %s; loading what came before it", route.name, reason)
        task = asyncio.ensure_future(self._finish_then_stop(route))
        self._halts.add(task)
        task.add_done_callback(self._halts.discard)

    async def _finish_then_stop(self, route: RouteIntake) -> None:
        """Load what came before the bad record, then stop the route."""
        try:
            while route.state is RouteState.HALTING:
                holding = self.batcher.holding(route.id)
                for ln in holding:
                    if ln.loading is None or ln.loading.done():
                        self._start(ln)
                busy = self._busy(self.batcher.lanes.values())
                if not busy:
                    break
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
        self.batcher.drop(parts)
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
            self.abandon.set()
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
            self.abandon.clear()

    def release(self) -> None:
        """Forget every partition without acking (the next owner reads them from the commit)."""
        self.committer.release()
        for t in self.settling.values():             # the next assignment settles what is pending anew
            t.cancel()
        self.settling.clear()
        self.batcher.clear()
        for lane in self.batcher.lanes.values():
            lane.loading = None
        for r in self.routes:
            r.release()
            if r.state is RouteState.HALTING:        # the next owner meets the record again
                r.state, r.reason = RouteState.RUNNING, None

    def snapshot(self) -> Snapshot:
        """What the pages read (:mod:`.view`): the statistics with the running loads' counts so far."""
        return view.snapshot(self)
