"""The route sink: records → per-partition buffers → Stream Load → acks. The only place that acks.

Who calls: the route's Faust agent (``add`` then ``flush_due``), the app's flush timer
(``flush_due``) and the app's rebalance/shutdown hook (``drain``).

Guarantees kept here (design §2, faust-streaming.md §1.4):
- events are acknowledged only after the load of the batch holding them succeeded, once
  each, in offset order per partition; a partition has at most one load in flight;
- a batch's label is derived from (prefix, table, topic, partition, first, last offset);
- a record that cannot be decoded or encoded, or a load StarRocks rejects, stops the route:
  its events are released without ack (offsets do not move), the error says what to fix, and
  later records of the route are not loaded until the worker is restarted;
- ``drain`` flushes everything within a bound and releases what did not make it, so Faust's
  rebalance/shutdown drain (which waits for un-acked events) is never blocked for long;
- exactly-once across crashes and rebalances: before a batch's first load attempt its
  boundaries are confirmed in the :mod:`sinkapp.ledger`; whoever owns the partition next
  rebuilds exactly that batch (same offsets, same label) and acks records at or below the
  last loaded offset without loading them again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sinkapp.converters import Converter
from sinkapp.encoding import CsvEncoder, JsonEncoder, load_headers
from sinkapp.errors import ConversionError, EncodingError, LoadError, LoadRejected
from sinkapp.labels import batch_label
from sinkapp.ledger import Ledger, Mark, MemoryLedger
from sinkapp.routes import Route
from sinkapp.streamload.client import StreamLoadClient
from sinkapp.streamload.retry import LoadAborted, RetryPolicy, load_with_retry

log = logging.getLogger(__name__)


@dataclass
class RouteStats:
    """Counters a user watches (status page, progress log)."""

    records_in: int = 0
    rows_loaded: int = 0
    rows_filtered: int = 0
    tombstones: int = 0
    skipped_loaded: int = 0
    redelivered: int = 0
    dropped_stale: int = 0
    replayed_batches: int = 0
    loads: int = 0
    load_retries: int = 0
    bytes_loaded: int = 0
    last_load_label: str | None = None
    failed: str | None = None


@dataclass
class PartitionBuffer:
    """Un-acked events of one source partition and their encoded rows, in offset order."""

    partition: int
    events: list[Any] = field(default_factory=list)
    rows: list[bytes] = field(default_factory=list)
    nbytes: int = 0
    first_offset: int = -1
    last_offset: int = -1
    started_at: float = 0.0
    replay: tuple[int, int] | None = None    # rebuilds the ledger's pending batch (first, last)
    dups: list[Any] = field(default_factory=list)   # re-delivered copies, acked with the originals

    def __len__(self) -> int:
        return len(self.events)

    def drop(self) -> None:
        """Let go of every event (and re-delivered copy) without acknowledging it."""
        self.events.clear()
        self.dups.clear()

    @property
    def bounds(self) -> tuple[int, int]:
        """The batch identity's offsets: the ledger's for a replayed batch, else first/last seen."""
        return self.replay or (self.first_offset, self.last_offset)


class RouteStopped(Exception):
    """Internal: the route failed; carries the user-facing reason."""


class RouteSink:
    """Buffers and loads the records of one route (topic → db.table)."""

    def __init__(self, route: Route, client: StreamLoadClient, converter: Converter,
                 encoder: JsonEncoder | CsvEncoder, *, label_prefix: str, max_bytes: int,
                 max_rows: int, max_age_ms: int, policy: RetryPolicy,
                 load_slots: asyncio.Semaphore | None = None, ledger: Ledger | None = None,
                 ack: Callable[[Any], None] = lambda ev: ev.ack(),
                 on_stop: Callable[[Route, str], None] | None = None,
                 owns: Callable[[int], bool] = lambda partition: True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.route = route
        self.client = client
        self.converter = converter
        self.encoder = encoder
        self.headers = load_headers(route.headers)
        self.label_prefix = label_prefix
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        self.max_age_s = max_age_ms / 1000.0
        self.policy = policy
        self.slots = load_slots or asyncio.Semaphore(1)
        self._ack = ack
        self._on_stop = on_stop
        self._clock = clock
        self._owns = owns
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        self.buffers: dict[int, PartitionBuffer] = {}          # open batch per partition
        self.sealed: dict[int, list[PartitionBuffer]] = {}     # closed batches waiting to load
        self.marks: dict[int, Mark] = {}                       # ledger view since assignment
        self.high: dict[int, int] = {}                         # highest offset taken per partition
        self.loading: dict[int, list[PartitionBuffer]] = {}    # batches handed to the load task
        self.inflight: dict[int, asyncio.Task[None]] = {}
        self.stats = RouteStats()
        self.aborting = False

    # -- intake ---------------------------------------------------------------------------
    async def prepare(self, events: list[Any]) -> None:
        """Let the converter fetch what it needs (registry schemas) before the synchronous ``add``.

        A converter without ``prepare`` needs nothing. A ``ConversionError`` here (an unknown
        schema id, a bad wire-format header) stops the route like a decode error in ``add``.
        """
        if self.stats.failed:
            return
        for p in {ev.message.partition for ev in events} - self.marks.keys():
            self.marks[p] = await self._load_mark(p)
        prep = getattr(self.converter, "prepare", None)
        if prep is None:
            return
        try:
            await prep([ev.message for ev in events])
        except ConversionError as exc:
            self._stop(str(exc))

    def add(self, events: Iterable[Any]) -> None:
        """Decode and encode ``events`` (Faust Events, offset order per partition) into buffers."""
        if self.stats.failed:
            return                                  # stopped: drop without ack, offsets stay
        conv, enc, now = self.converter.decode, self.encoder.encode_row, self._clock()
        for ev in events:
            msg = ev.message
            p, offset = msg.partition, msg.offset
            mark = self.marks.get(p)
            if mark is None:
                mark = self.marks[p] = self.ledger.get(p)
            if offset <= mark.loaded:               # loaded before a crash/rebalance: ack only
                self._ack(ev)
                self.stats.skipped_loaded += 1
                continue
            if offset <= self.high.get(p, -1):      # a second copy, delivered after a re-seek
                self.stats.redelivered += 1
                twin = self._holding(p, offset)
                if twin is not None:                 # acked together with the copy we hold
                    twin.dups.append(ev)
                    continue
                # a rewind to before what we hold: our copies are the stale ones (the new stream
                # delivers them again); drop them un-acked and follow the stream in order
                self.buffers.pop(p, None)
                self.sealed.pop(p, None)
            self.high[p] = offset
            buf = self._buffer_for(p, offset, mark)
            if not buf.events:
                buf.first_offset = offset
                buf.started_at = now
            buf.events.append(ev)
            buf.last_offset = offset
            self.stats.records_in += 1
            try:
                value = conv(msg.value)
                if value is not None:
                    row = enc(value)
                    buf.rows.append(row)
                    buf.nbytes += len(row) + 1
                else:
                    self.stats.tombstones += 1
            except (ConversionError, EncodingError) as exc:
                self._stop(f"record {msg.topic}[{p}]@{offset} cannot be loaded: {exc}")
                return
            if buf.replay is not None and offset >= buf.replay[1]:
                self._seal(p)                       # the pending batch is whole again
                self.marks[p] = Mark(mark.loaded, None)

    def _buffer_for(self, p: int, offset: int, mark: Mark) -> PartitionBuffer:
        """The open buffer ``offset`` belongs to, honouring the ledger's pending batch."""
        buf = self.buffers.get(p)
        if buf is None:
            buf = self.buffers[p] = PartitionBuffer(p)
        pend = mark.pending
        if pend is None:
            return buf
        if offset > pend[1]:                        # pending batch done (or its records are gone)
            if buf.replay is not None and buf.events:
                self._seal(p)
            self.marks[p] = Mark(mark.loaded, None)
            return self.buffers.setdefault(p, PartitionBuffer(p))
        if offset >= pend[0] and buf.replay is None:
            if buf.events:                          # records before the pending batch: their own batch
                self._seal(p)
            buf = self.buffers[p] = PartitionBuffer(p, replay=pend)
            self.stats.replayed_batches += 1
        return buf

    def _holding(self, p: int, offset: int) -> PartitionBuffer | None:
        """The open, sealed or loading batch of partition ``p`` whose range covers ``offset``."""
        cands = [self.buffers.get(p), *self.sealed.get(p, []), *self.loading.get(p, [])]
        for b in cands:
            if b is not None and b.events and b.first_offset <= offset <= b.last_offset:
                return b
        return None

    def _seal(self, p: int) -> None:
        buf = self.buffers.pop(p, None)
        if buf is not None and buf.events:
            self.sealed.setdefault(p, []).append(buf)

    def due(self, now: float | None = None) -> list[int]:
        """Partitions whose buffer reached the size, row or age trigger."""
        now = self._clock() if now is None else now
        due = [p for p, b in self.buffers.items()
               if b.events and b.replay is None and (b.nbytes >= self.max_bytes or len(b.rows) >= self.max_rows
                                                    or now - b.started_at >= self.max_age_s)]
        return due + [p for p, q in self.sealed.items() if q and p not in due]

    # -- flushing -------------------------------------------------------------------------
    async def flush_due(self) -> None:
        for p in self.due():
            await self.start_flush(p)

    async def start_flush(self, partition: int) -> None:
        """Seal the partition's open batch and load its sealed batches in the background, in order.

        Waits for the partition's previous loads first, so loads and acks stay in offset order
        and a partition has at most one load in flight. An unfinished replay of the ledger's
        pending batch is never sealed early: its offsets are its label.
        """
        prev = self.inflight.get(partition)
        if prev is not None and not prev.done():
            await asyncio.shield(prev)
        if self.stats.failed:
            return
        buf = self.buffers.get(partition)
        if buf is not None and buf.events and buf.replay is None:
            self._seal(partition)
        batches = self.sealed.pop(partition, [])
        if batches:
            self.loading[partition] = batches
            self.inflight[partition] = asyncio.ensure_future(self._load_batches(partition, batches))

    async def _load_batches(self, partition: int, batches: list[PartitionBuffer]) -> None:
        try:
            for buf in batches:
                if not await self._load_batch(buf):  # stopped, or abandoned for a rebalance
                    return
        finally:
            if self.loading.get(partition) is batches:
                del self.loading[partition]

    async def flush_all(self) -> None:
        """Flush every partition now and wait for all loads (used by tests and drain)."""
        for p in sorted(set(self.buffers) | set(self.sealed)):
            await self.start_flush(p)
        await self.wait_inflight()

    async def wait_inflight(self) -> None:
        tasks = [t for t in self.inflight.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _load_batch(self, buf: PartitionBuffer) -> bool:
        """Load one batch; True when it loaded and its events were acked."""
        topic, p = self.route.topic, buf.partition
        first, last = buf.bounds
        label = batch_label(self.label_prefix, self.route.table, topic, p, first, last)
        if not buf.rows:                             # only tombstones: nothing to load
            self._ack_all(buf)
            await self._mark_loaded(p, last)
            return True
        if not self._owns(p):                        # moved to another worker by a rebalance
            log.info("batch %s dropped un-acked: partition %d is no longer assigned here", label, p)
            buf.drop()
            return False
        body = self.encoder.body(buf.rows)
        if buf.replay is None and not await self._record_pending(p, first, last):
            buf.drop()                               # abandoned for rebalance/shutdown, not acked
            return False

        def on_retry(attempt: int, exc: LoadError) -> None:
            self.stats.load_retries += 1

        try:
            async with self.slots:
                result = await load_with_retry(
                    self.client, self.route.database, self.route.table, label, body, self.headers,
                    self.policy, should_abort=lambda: self.aborting, on_retry=on_retry)
        except LoadAborted:
            log.warning("load abandoned for rebalance/shutdown route=%s label=%s rows=%d",
                        self.route.name, label, len(buf.rows))
            buf.drop()
            return False
        except LoadRejected as exc:
            self._stop(f"load {label} of {len(buf.rows)} rows into {self.route.database}."
                       f"{self.route.table} was rejected: {exc}", buf)
            return False
        except LoadError as exc:
            self._stop(f"load {label} into {self.route.database}.{self.route.table} kept failing: {exc}", buf)
            return False
        except asyncio.CancelledError:
            buf.drop()
            raise
        self._ack_all(buf)
        await self._mark_loaded(p, last)
        st = self.stats
        st.loads += 1
        st.rows_loaded += result.loaded_rows
        st.rows_filtered += result.filtered_rows
        st.bytes_loaded += len(body)
        st.last_load_label = label
        log.info("loaded route=%s label=%s status=%s rows=%d filtered=%d bytes=%d ms=%d",
                 self.route.name, label, result.status, result.loaded_rows, result.filtered_rows,
                 len(body), result.load_time_ms)
        return True

    async def _load_mark(self, p: int) -> Mark:
        """The ledger's entry for ``p``, read when the partition's first record arrives here."""
        attempt = 0
        while True:
            try:
                return await self.ledger.load(p)
            except asyncio.CancelledError:
                raise
            except Exception as exc:                 # Kafka unreachable: the partition waits
                attempt += 1
                log.warning("ledger read failed route=%s partition=%d attempt=%d: %r",
                            self.route.name, p, attempt, exc)
                await asyncio.sleep(self.policy.delay(attempt))

    async def _record_pending(self, p: int, first: int, last: int) -> bool:
        """Confirm the batch's boundaries in the ledger before the first attempt (waits out Kafka)."""
        mark = Mark(self.marks.get(p, Mark()).loaded, (first, last))
        attempt = 0
        while not self.aborting:
            try:
                await self.ledger.put(p, mark, confirm=True)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:                 # Kafka unreachable: the batch waits, nothing skipped
                attempt += 1
                log.warning("ledger write failed route=%s partition=%d attempt=%d: %r",
                            self.route.name, p, attempt, exc)
                await asyncio.sleep(self.policy.delay(attempt))
        return False

    async def _mark_loaded(self, p: int, last: int) -> None:
        """Record the load before moving on: confirmed, so a rebalance right after cannot hide it
        from the next owner (whose commit of these acks Faust may discard)."""
        self.marks[p] = Mark(last, None)
        try:
            await self.ledger.put(p, Mark(last, None), confirm=True)
        except Exception as exc:                     # only costs a re-sent, de-duplicated batch
            log.warning("ledger update after load failed route=%s partition=%d: %r",
                        self.route.name, p, exc)

    def _ack_all(self, buf: PartitionBuffer) -> None:
        ack = self._ack
        for ev in buf.events:
            ack(ev)
        for ev in buf.dups:
            ack(ev)
        buf.drop()

    def _stop(self, reason: str, buf: PartitionBuffer | None = None) -> None:
        """Stop the route: release every held event without ack and remember why."""
        if buf is not None:
            buf.drop()
        if not self.stats.failed:
            self.stats.failed = reason
            log.error("route %s STOPPED, nothing after the last loaded offset is acknowledged: %s",
                      self.route.name, reason)
            if self._on_stop is not None:
                self._on_stop(self.route, reason)
        self.release()

    # -- rebalance / shutdown -------------------------------------------------------------
    def release(self) -> None:
        """Drop all buffered events without acking them (the next owner re-reads them).

        The ledger view is dropped too: after a rebalance it is read again from the table.
        """
        self.buffers.clear()
        self.sealed.clear()
        self.marks.clear()
        self.high.clear()
        self.loading.clear()

    async def drain(self, timeout_s: float) -> None:
        """Flush everything within ``timeout_s``; release what is left. Never raises."""
        try:
            await asyncio.wait_for(self.flush_all(), timeout_s)
        except TimeoutError:
            log.warning("drain of route %s did not finish within %.1fs; the rest is left to the next owner",
                        self.route.name, timeout_s)
        finally:
            self.aborting = True
            pending = [t for t in self.inflight.values() if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            self.inflight.clear()
            self.release()
            self.aborting = False

    @property
    def buffered_rows(self) -> int:
        return (sum(len(b.rows) for b in self.buffers.values())
                + sum(len(b.rows) for q in self.sealed.values() for b in q))
