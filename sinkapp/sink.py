"""The route sink: fetched partition batches → per-partition buffers → Stream Load → acks.

Who calls: the route's Faust agent (``prepare``, ``add``, then ``flush_due``), the app's flush
timer (``flush_due``) and the app's revoke/shutdown hooks (``drain``, ``release``).

Guarantees kept here (design §2, faust-streaming.md §1.4):
- a fetched batch's event is acknowledged only after every record of it is loaded (or needed no
  load), and the partition's commit watermark (``on_loaded``) only moves past records that are
  in StarRocks, in offset order; a partition has at most one load in flight;
- a batch's label is derived from (prefix, table, topic, partition, first, last offset);
- a record that cannot be decoded or encoded, or a load StarRocks rejects, stops the route:
  its events are released without ack (offsets do not move), the error says what to fix, and
  later records of the route are not loaded until the worker is restarted;
- ``drain`` flushes everything within a bound and releases what did not make it, so Faust's
  rebalance/shutdown drain (which waits for un-acked events) is never blocked for long;
- exactly-once across crashes and rebalances: before a batch's first load attempt its
  boundaries are confirmed in the :mod:`sinkapp.ledger`; whoever owns the partition next
  rebuilds exactly that batch (:mod:`sinkapp.replay` decides what each record is).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sinkapp.buffer import PartitionBuffer
from sinkapp.config import ErrorSettings
from sinkapp.converters import Converter
from sinkapp.dlq import TASK_PUT, DeadLetter, DeadLetterQueue, letter
from sinkapp.encoding import CsvEncoder, JsonEncoder, load_headers
from sinkapp.errors import ConversionError, LoadError, LoadRejected
from sinkapp.labels import batch_label
from sinkapp.ledger import Ledger, Mark, MemoryLedger
from sinkapp.metrics import LoadTimes
from sinkapp.pipeline.encode import BadRecord, Chunker, Piece
from sinkapp.replay import PartitionView, gap_resume, plan_intake, segment_end
from sinkapp.routes import Route
from sinkapp.streamload.client import StreamLoadClient
from sinkapp.streamload.retry import LoadAborted, RetryPolicy, load_with_retry
from sinkapp.transforms import Chain

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
    gaps: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)   # by stage, confirmed written
    skipped_bad: Counter[str] = field(default_factory=Counter)     # tolerance all without a DLQ topic
    loads: int = 0
    label_confirmed: int = 0                                      # loads answered Label Already Exists
    load_retries: int = 0
    bytes_loaded: int = 0
    last_load_label: str | None = None
    last_load_at: float | None = None                             # wall clock of the last successful load
    loads_by_status: Counter[str] = field(default_factory=Counter)
    load_times: LoadTimes = field(default_factory=LoadTimes)
    failed: str | None = None


def _noop(*args: Any) -> None:
    return None


class _FirstRefused(Exception):
    """Internal: with errors.tolerance=none, the first record StarRocks refuses ends the search."""

    def __init__(self, record: Any, error: LoadRejected) -> None:
        super().__init__(str(error))
        self.record, self.error = record, error


def is_data_error(exc: LoadRejected) -> bool:
    """StarRocks refused rows (filtered rows over max_filter_ratio, unparsable JSON), not the
    request: only then can the batch be split to find the rows (streamload-protocol.md §3.2, §6)."""
    doc = exc.response or {}
    message = str(doc.get("Message") or doc.get("message") or exc)
    return bool(doc.get("ErrorURL")) or "too many filtered rows" in message


class RouteSink:
    """Buffers and loads the records of one route (topic → db.table).

    Injected: ``ack(event)`` releases a Faust event; ``on_loaded(partition, last_offset)`` moves
    the commit watermark; ``on_gap(partition, resume_offset | None)`` asks for a re-seek;
    ``accepts(partition)`` (assigned and not being revoked) gates intake, ``owns(partition)``
    (assigned) gates loads.
    """

    def __init__(self, route: Route, client: StreamLoadClient, converter: Converter,
                 encoder: JsonEncoder | CsvEncoder, *, label_prefix: str, max_bytes: int,
                 max_rows: int, max_age_ms: int, policy: RetryPolicy,
                 load_slots: asyncio.Semaphore | None = None, ledger: Ledger | None = None,
                 ack: Callable[[Any], None] = lambda ev: ev.ack(),
                 on_loaded: Callable[[int, int], None] = _noop,
                 on_gap: Callable[[int, int | None], None] = _noop,
                 on_stop: Callable[[Route, str], None] | None = None,
                 accepts: Callable[[int], bool] = lambda partition: True,
                 owns: Callable[[int], bool] = lambda partition: True,
                 errors: ErrorSettings | None = None, dlq: DeadLetterQueue | None = None,
                 refetch: Callable[[int, int, int], Awaitable[list[Any]]] | None = None,
                 chain: Chain | None = None,
                 task_id: str = "0",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.route = route
        self.client = client
        self.converter = converter
        self.encoder = encoder
        self.errors = errors or ErrorSettings()
        self.dlq = dlq
        self._refetch = refetch
        self.task_id = task_id
        self.chunker = Chunker(converter, encoder, tolerant=self.errors.tolerant, chain=chain)
        self.halting: str | None = None             # tolerance none: loading the good records, then stop
        self.halt_task: asyncio.Task[None] | None = None
        self.trouble: tuple[float, str] | None = None   # (since, why): loads retrying right now
        self.headers = load_headers(route.headers)
        self.label_prefix = label_prefix
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        self.max_age_s = max_age_ms / 1000.0
        self.policy = policy
        self.slots = load_slots or asyncio.Semaphore(1)
        self._ack = ack
        self._on_loaded = on_loaded
        self._on_gap = on_gap
        self._on_stop = on_stop
        self._clock = clock
        self._accepts = accepts
        self._owns = owns
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        self.parts: dict[int, PartitionView] = {}              # per assigned partition
        self.buffers: dict[int, PartitionBuffer] = {}          # open batch per partition
        self.sealed: dict[int, list[PartitionBuffer]] = {}     # closed batches waiting to load
        self.loading: dict[int, list[PartitionBuffer]] = {}    # batches handed to the load task
        self.inflight: dict[int, asyncio.Task[None]] = {}
        self.stats = RouteStats()
        self.aborting = False

    # -- intake ---------------------------------------------------------------------------
    async def prepare(self, events: list[Any]) -> None:
        """Read the ledger entry of partitions seen for the first time and let the converter
        fetch what it needs (registry schemas) before the synchronous ``add``.

        The converter prepares tolerantly: a record whose schema cannot be had (unknown id, bad
        framing) fails in ``decode`` alone, where ``errors.tolerance`` decides (dead letter, or stop
        after loading the records before it).
        """
        if self.stats.failed or self.halting:
            return
        for p in {ev.message.partition for ev in events} - self.parts.keys():
            self.parts[p] = PartitionView(await self._load_mark(p))
        prep = getattr(self.converter, "prepare", None)
        if prep is None:
            return
        try:
            await prep([r for ev in events for r in ev.message.records], tolerant=True)
        except ConversionError as exc:              # not expected in tolerant mode; never lose it
            self._stop(str(exc))

    def add(self, events: Iterable[Any]) -> None:
        """Take fetched partition batches (Faust events around :class:`BatchMessage`)."""
        for ev in events:
            if self.stats.failed or self.halting:
                return                              # stopped: drop without ack, offsets stay
            self._add_batch(ev)

    def _add_batch(self, ev: Any) -> None:
        msg = ev.message
        p, records = msg.partition, msg.records
        if not self._accepts(p):                    # revoked, or being revoked: never load or ack
            self.stats.dropped_stale += len(records)
            return
        view = self.parts.get(p)
        if view is None:
            view = self.parts[p] = PartitionView(self.ledger.get(p))
        plan = plan_intake(view, records, msg.prev_last, lambda off: self._holding(p, off) is not None,
                           getattr(msg, "fetch_from", None))
        if plan.gap:
            self.stats.dropped_stale += len(records)
            if not view.seeking:
                resume = gap_resume(view)
                view.seeking, view.resume = True, resume
                self.stats.gaps += 1
                log.warning("route=%s partition=%d: a fetched batch after offset %d never reached the "
                            "route; re-reading from %s", self.route.name, p, view.high,
                            resume if resume is not None else "the committed offset")
                self._on_gap(p, resume)
            return
        view.seeking = False
        n, start, new = len(records), plan.start, plan.new
        self.stats.skipped_loaded += start
        self.stats.redelivered += new - start
        last = records[-1].offset
        if plan.rewind:                             # our copies are stale: the stream re-delivers them
            self.buffers.pop(p, None)
            self.sealed.pop(p, None)
            self.stats.redelivered += sum(1 for r in records[start:] if r.offset <= view.high)
        if new == n:                                # nothing new in this batch
            view.high = max(view.high, last)
            holder = self._holding(p, last) if start < n else None
            if holder is not None:
                holder.events.append(ev)            # acked with the copy we hold
            else:
                self._ack(ev)
                if not self._holds(p):               # every record of it is loaded already
                    self._on_loaded(p, max(last, getattr(msg, "next_offset", last + 1) - 1))
            return
        view.high = max(view.high, last)
        now, i, buf = self._clock(), new, None
        while i < n:
            buf = self._buffer_for(p, records[i].offset, view)
            end = segment_end(view.mark.pending, buf.replay is not None, records, i)
            if not self._fill(buf, records, i, end, now):
                return
            if buf.replay is not None and records[end - 1].offset >= buf.replay[1]:
                self._seal(p)                       # the pending batch is whole again
                view.mark = Mark(view.mark.loaded, None)
            i = end
        assert buf is not None
        buf.events.append(ev)

    def _fill(self, buf: PartitionBuffer, records: list[Any], i: int, end: int, now: float) -> bool:
        try:
            chunk, rows, tombs, bad, routed = self.chunker.encode(records, i, end)
        except BadRecord as first_bad:              # errors.tolerance=none
            self._halt_at(buf, records, i, first_bad, now)
            return False
        self._append(buf, records, i, end, now, chunk, rows, tombs, routed)
        for b in bad:
            self._dead_letter(buf, records[b.index], b)
        return True

    def _append(self, buf: PartitionBuffer, records: list[Any], i: int, end: int, now: float,
                chunk: bytes | memoryview, rows: int, tombs: int, routed: dict[str, Piece] | None = None) -> None:
        if not buf.records:
            buf.first_offset = records[i].offset
            buf.started_at = now
        buf.records += end - i
        buf.last_offset = records[end - 1].offset
        if rows:
            buf.chunks.append(chunk)
            buf.rows += rows
            buf.nbytes += len(chunk) + 1
        for table, (tchunk, trows) in (routed or {}).items():   # TableByField: rows for other tables
            buf.routed.setdefault(table, []).append(tchunk)
            buf.routed_rows[table] = buf.routed_rows.get(table, 0) + trows
            buf.rows += trows
            buf.nbytes += len(tchunk) + 1
        st = self.stats
        st.records_in += end - i
        st.tombstones += tombs

    def _dead_letter(self, buf: PartitionBuffer, record: Any, bad: BadRecord) -> None:
        """errors.tolerance=all: the record goes to the dead-letter topic with the batch (written
        and confirmed before the batch is acknowledged), or is skipped and counted without one."""
        d = letter(record, bad.stage, bad.error, self.chunker.class_name)
        if self.errors.log_enable:
            extra = (f" key={record.key!r:.200} value={record.value!r:.500}" if self.errors.log_messages else "")
            log.warning("bad record %s stage=%s route=%s %s: %s%s", d.where(), d.stage, self.route.name,
                        "dead-lettered" if self.dlq else "skipped", bad.error, extra)
        if self.dlq is not None:
            buf.dead.append(d)
        else:
            self.stats.skipped_bad[d.stage] += 1

    def _halt_at(self, buf: PartitionBuffer, records: list[Any], i: int, bad: BadRecord, now: float) -> None:
        """errors.tolerance=none: load and commit the records before the bad one, then stop."""
        r = records[bad.index]
        reason = (f"record {r.topic}[{r.partition}]@{r.offset} cannot be loaded ({bad.stage}): {bad.error}. "
                  f"Every record before it is loaded and committed. Fix the data and restart, or skip the "
                  f"record (kafka-consumer-groups --reset-offsets --to-offset {r.offset + 1} for "
                  f"{r.topic}:{r.partition}), or set errors.tolerance=all with "
                  f"errors.deadletterqueue.topic.name to dead-letter such records")
        if bad.index > i and buf.replay is None:
            chunk, rows, tombs, _, routed = self.chunker.encode(records, i, bad.index)   # good: cannot raise
            self._append(buf, records, i, bad.index, now, chunk, rows, tombs, routed)
        self.halting = reason
        for p in [p for p, open_buf in self.buffers.items() if open_buf.replay is None]:
            self._seal(p)
        log.error("route %s: %s; loading what came before it", self.route.name, reason)
        self.halt_task = asyncio.ensure_future(self._finish_then_stop(reason))

    async def _finish_then_stop(self, reason: str) -> None:
        try:
            for p in sorted(self.sealed):
                await self.start_flush(p)
            await self.wait_inflight()
        finally:
            self._stop(reason)

    def _buffer_for(self, p: int, offset: int, view: PartitionView) -> PartitionBuffer:
        """The open buffer ``offset`` belongs to, honouring the ledger's pending batch."""
        buf = self.buffers.get(p)
        if buf is None:
            buf = self.buffers[p] = PartitionBuffer(p)
        pend = view.mark.pending
        if pend is None:
            return buf
        if offset > pend[1]:                        # pending batch done (or its records are gone)
            if buf.replay is not None and buf.records:
                self._seal(p)
            view.mark = Mark(view.mark.loaded, None)
            return self.buffers.setdefault(p, PartitionBuffer(p))
        if offset >= pend[0] and buf.replay is None:
            if buf.records:                         # records before the pending batch: their own batch
                self._seal(p)
            buf = self.buffers[p] = PartitionBuffer(p, replay=pend, dead_done=view.mark.dead)
            self.stats.replayed_batches += 1
        return buf

    def _holding(self, p: int, offset: int) -> PartitionBuffer | None:
        """The open, sealed or loading batch of partition ``p`` whose range covers ``offset``."""
        for b in (self.buffers.get(p), *self.sealed.get(p, ()), *self.loading.get(p, ())):
            if b is not None and b.covers(offset):
                return b
        return None

    def _holds(self, p: int) -> bool:
        b = self.buffers.get(p)
        return bool((b is not None and b.records) or self.sealed.get(p) or self.loading.get(p))

    def _seal(self, p: int) -> None:
        buf = self.buffers.pop(p, None)
        if buf is not None and buf.records:
            self.sealed.setdefault(p, []).append(buf)

    def due(self, now: float | None = None) -> list[int]:
        """Partitions whose buffer reached the size, row or age trigger, or has sealed batches."""
        now = self._clock() if now is None else now
        due = [p for p, b in self.buffers.items()
               if b.records and b.replay is None and (b.nbytes >= self.max_bytes or b.rows >= self.max_rows
                                                     or now - b.started_at >= self.max_age_s)]
        return due + [p for p, q in self.sealed.items() if q and p not in due]

    # -- flushing -------------------------------------------------------------------------
    async def flush_due(self, wait: bool = True) -> None:
        """Start the loads of due partitions. ``wait=False`` (the flush timer) skips a partition
        whose previous load is still in flight; the agent waits for it, which holds back intake
        while StarRocks is slower than Kafka (buffers stay bounded)."""
        for p in self.due():
            prev = self.inflight.get(p)
            if not wait and prev is not None and not prev.done():
                continue
            await self.start_flush(p)

    async def start_flush(self, partition: int) -> None:
        """Seal the partition's open batch and load its sealed batches in the background, in order.

        Waits for the partition's previous loads first (``asyncio.wait``: a previous load
        cancelled by a drain must not cancel the caller, e.g. the flush timer), so loads and
        acks stay in offset order and a partition has at most one load in flight. An unfinished
        replay of the ledger's pending batch is never sealed early: its offsets are its label.
        """
        prev = self.inflight.get(partition)
        if prev is not None and not prev.done():
            await asyncio.wait([prev])
        if self.stats.failed:
            return
        buf = self.buffers.get(partition)
        if buf is not None and buf.records and buf.replay is None:
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
        """Load one batch; True when it loaded and its events were acked.

        Order: ledger ``pending`` confirmed → dead letters written and confirmed, then the ledger
        says so (``dead``) → Stream Load → ack, watermark, ledger ``loaded``."""
        topic, p = self.route.topic, buf.partition
        first, last = buf.bounds
        label = batch_label(self.label_prefix, self.route.table, topic, p, first, last)
        if not buf.rows and not buf.dead:            # only tombstones (or skipped records): nothing to load
            through = self._through(buf, last)
            self._ack_all(buf)
            await self._mark_loaded(p, last, through)
            return True
        if not self._owns(p):                        # moved to another worker by a rebalance
            log.info("batch %s dropped un-acked: partition %d is no longer assigned here", label, p)
            buf.drop()
            return False
        if buf.replay is None and not await self._put_confirmed(p, Mark(self._loaded(p), (first, last))):
            buf.drop()                               # abandoned for rebalance/shutdown, not acked
            return False
        if buf.dead and not buf.dead_done and not await self._write_dead(p, buf.dead, first, last):
            buf.drop()
            return False
        if not buf.rows:                             # every record of it was dead-lettered
            n_dead, through = len(buf.dead), self._through(buf, last)
            self._ack_all(buf)
            await self._mark_loaded(p, last, through)
            log.info("batch %s: %d record(s) dead-lettered, no rows to load", label, n_dead)
            return True
        # one Stream Load per table: the route's, then each TableByField table (labels carry the
        # table, so each part of a replayed batch is de-duplicated on its own)
        parts = ([(self.route.table, buf.chunks, buf.rows - sum(buf.routed_rows.values()))]
                 if buf.chunks else [])
        parts += [(t, c, buf.routed_rows[t]) for t, c in sorted(buf.routed.items())]
        loaded: list[tuple[str, Any, int, float]] = []
        for table, chunks, nrows in parts:
            tlabel = batch_label(self.label_prefix, table, topic, p, first, last)
            body = self.encoder.body(chunks)
            chunks.clear()                           # the body is the only copy from here on
            t0 = time.monotonic()
            outcome = await self._load_part(buf, table, tlabel, body, nrows, p, first, last, single=len(parts) == 1)
            if outcome is None or isinstance(outcome, bool):
                return bool(outcome)                 # stopped, abandoned, or done by the bisect path
            loaded.append((tlabel, outcome, len(body), time.monotonic() - t0))
        through = self._through(buf, last)
        self._ack_all(buf)
        await self._mark_loaded(p, last, through)
        self.trouble = None
        st = self.stats
        for tlabel, result, nbytes, seconds in loaded:
            st.load_times.observe(seconds)
            st.loads_by_status[result.status] += 1
            st.loads += 1
            st.rows_filtered += result.filtered_rows
            st.bytes_loaded += nbytes
            st.last_load_label = tlabel
            log.info("loaded route=%s label=%s status=%s rows=%d filtered=%d bytes=%d ms=%d",
                     self.route.name, tlabel, result.status, result.loaded_rows, result.filtered_rows,
                     nbytes, result.load_time_ms)
            if result.filtered_rows:
                await self._report_filtered(tlabel, result)
        st.rows_loaded += sum(self._rows_of(r, n) for (_, r, _, _), (_, _, n) in zip(loaded, parts, strict=True))
        st.last_load_at = time.time()
        return True

    async def _load_part(self, buf: PartitionBuffer, table: str, label: str, body: bytes, nrows: int, p: int,
                         first: int, last: int, *, single: bool) -> Any:
        """One table's Stream Load of a batch: the LoadResult, or False (stopped / abandoned), or
        True when the bad-row path finished the whole batch (single-table batches only)."""
        def on_retry(attempt: int, exc: LoadError) -> None:
            self.stats.load_retries += 1
            if self.trouble is None:
                self.trouble = (time.time(), "")
            self.trouble = (self.trouble[0], f"StarRocks load {label} failing (attempt {attempt}): {exc}")

        try:
            async with self.slots:
                return await load_with_retry(
                    self.client, self.route.database, table, label, body, self.headers,
                    self.policy, should_abort=lambda: self.aborting, on_retry=on_retry)
        except LoadAborted:
            log.warning("load abandoned for rebalance/shutdown route=%s label=%s rows=%d",
                        self.route.name, label, nrows)
            buf.drop()
            return False
        except LoadRejected as exc:
            if single and table == self.route.table and self._refetch is not None and is_data_error(exc) \
                    and buf.replay is None:
                return await self._load_around_bad_rows(buf, p, first, last, exc)
            self._stop(f"load {label} of {nrows} rows into {self.route.database}.{table} was rejected: {exc}", buf)
            return False
        except LoadError as exc:
            self._stop(f"load {label} into {self.route.database}.{table} kept failing: {exc}", buf)
            return False
        except asyncio.CancelledError:
            buf.drop()
            raise

    async def _report_filtered(self, label: str, result: Any) -> None:
        """A load StarRocks accepted with filtered rows (max_filter_ratio > 0): say how many and
        where StarRocks lists them; the rows themselves only with errors.log.include.messages."""
        url = str((result.response or {}).get("ErrorURL") or "")
        log.warning("load %s: StarRocks filtered %d row(s) (sink.properties.max_filter_ratio allows it)%s",
                    label, result.filtered_rows, f"; ErrorURL {url}" if url else "")
        if url and self.errors.log_messages:
            try:
                lines = await self.client.error_log(url)
            except Exception as exc:                  # the report is best effort
                log.warning("ErrorURL %s could not be read: %r", url, exc)
                return
            log.warning("load %s filtered rows, as StarRocks lists them:\n%s", label, lines)

    async def _load_around_bad_rows(self, buf: PartitionBuffer, p: int, first: int, last: int,
                                    exc: LoadRejected) -> bool:
        """StarRocks refused the batch for its data: find the rows it refuses by halving (each
        part under the label of its own first and last offset, so a replay after a crash sends the
        same parts and StarRocks de-duplicates the ones it has). errors.tolerance=all: dead-letter
        their source records and load the rest (True: the batch is done). none: load everything
        before the first refused row, then stop the route there (False)."""
        log.warning("load of %s[%d]@%d..%d rejected for its data; finding the rows StarRocks refuses: %s",
                    self.route.topic, p, first, last, str(exc)[:500])
        try:
            assert self._refetch is not None
            records = await self._refetch(p, first, last)
        except Exception as err:
            self._stop(f"the batch {self.route.topic}[{p}]@{first}..{last} was rejected ({exc}) and its "
                       f"records could not be read again to find the bad rows: {err}", buf)
            return False
        letters: list[DeadLetter] = []
        try:
            await self._bisect(records, 0, len(records), p, letters, known_bad=True)
        except _FirstRefused as refused:             # errors.tolerance=none
            r, why = refused.record, refused.error
            if r.offset > first:
                await self._mark_loaded(p, r.offset - 1)
            self._stop(f"row {r.topic}[{r.partition}]@{r.offset} was refused by StarRocks (TASK_PUT): {why}. "
                       f"Every record before it is loaded and committed. Fix the data or the table and "
                       f"restart, or skip the record (kafka-consumer-groups --reset-offsets --to-offset "
                       f"{r.offset + 1} for {r.topic}:{r.partition}), or set errors.tolerance=all with "
                       f"errors.deadletterqueue.topic.name to dead-letter such rows", buf)
            return False
        except LoadRejected as err:                  # not a data error: retrying parts cannot help
            self._stop(f"load of part of {self.route.topic}[{p}]@{first}..{last} into {self.route.database}."
                       f"{self.route.table} was rejected: {err}", buf)
            return False
        except LoadAborted:
            buf.drop()
            return False
        except LoadError as err:
            self._stop(f"load of part of {self.route.topic}[{p}]@{first}..{last} kept failing: {err}", buf)
            return False
        if letters and self.dlq is not None and not await self._write_dead(p, letters, first, last):
            buf.drop()
            return False
        if self.dlq is None:
            for d in letters:
                self.stats.skipped_bad[d.stage] += 1
        self._ack_all(buf)
        await self._mark_loaded(p, last)
        return True

    async def _bisect(self, records: list[Any], lo: int, hi: int, p: int, letters: list[DeadLetter],
                      known_bad: bool = False) -> None:
        """Load ``records[lo:hi]``; on a data rejection halve it, down to single records."""
        if lo >= hi:
            return
        if not known_bad:
            chunk, rows, _, _, _ = self.chunker.encode(records, lo, hi)   # decode-stage bad ones: written already
            if not rows:
                return
            label = batch_label(self.label_prefix, self.route.table, self.route.topic, p,
                                records[lo].offset, records[hi - 1].offset)
            try:
                async with self.slots:
                    result = await load_with_retry(
                        self.client, self.route.database, self.route.table, label,
                        self.encoder.body([chunk]), self.headers, self.policy,
                        should_abort=lambda: self.aborting)
                self.stats.loads += 1
                self.stats.rows_loaded += self._rows_of(result, rows)
                self.stats.rows_filtered += result.filtered_rows
                return
            except LoadRejected as exc:
                if not is_data_error(exc):
                    raise
                if hi - lo == 1:
                    if not self.errors.tolerant:
                        raise _FirstRefused(records[lo], exc) from None
                    letters.append(letter(records[lo], TASK_PUT, exc, "StarRocks Stream Load"))
                    log.warning("row %s[%d]@%d refused by StarRocks: %s", self.route.topic, p,
                                records[lo].offset, str(exc)[:300])
                    return
        mid = (lo + hi) // 2
        await self._bisect(records, lo, mid, p, letters)
        await self._bisect(records, mid, hi, p, letters)

    def _rows_of(self, result: Any, sent: int) -> int:
        """Rows a successful load put in StarRocks. ``Label Already Exists`` answers carry no
        counts: the rows of the batch are there (loaded by an earlier attempt), so they count
        as loaded, and ``label_confirmed`` says how many batches were confirmed that way."""
        if result.status in ("Label Already Exists", "LABEL_ALREADY_EXISTS"):
            self.stats.label_confirmed += 1
            return sent
        return int(result.loaded_rows)

    async def _load_mark(self, p: int) -> Mark:
        """The ledger's entry for ``p``, read when the partition's first batch arrives here."""
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

    def _loaded(self, p: int) -> int:
        view = self.parts.get(p)
        return view.mark.loaded if view else -1

    async def _until_kafka_confirms(self, write: Callable[[], Awaitable[Any]], what: str, p: int) -> bool:
        """Run ``write`` until Kafka confirms it (an unreachable Kafka is waited out: the batch
        waits, nothing is skipped); False when the worker started rebalancing or stopping."""
        attempt = 0
        while not self.aborting:
            try:
                await write()
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                log.warning("%s failed route=%s partition=%d attempt=%d: %r", what, self.route.name, p,
                            attempt, exc)
                await asyncio.sleep(self.policy.delay(attempt))
        return False

    async def _put_confirmed(self, p: int, mark: Mark) -> bool:
        """Write a ledger entry and wait until Kafka confirmed it."""
        return await self._until_kafka_confirms(lambda: self.ledger.put(p, mark, confirm=True), "ledger write", p)

    async def _write_dead(self, p: int, dead: list[DeadLetter], first: int, last: int) -> bool:
        """Dead-letter a batch's bad records (confirmed), then record that in the ledger, so the
        next owner of a crashed batch does not write them again."""
        dlq = self.dlq
        assert dlq is not None
        if not await self._until_kafka_confirms(lambda: dlq.send(dead, self.task_id), "dead-letter write", p):
            return False
        for d in dead:
            self.stats.dead_lettered[d.stage] += 1
        log.info("dead-lettered route=%s topic=%s records=%s", self.route.name, dlq.topic,
                 ",".join(d.where() for d in dead[:20]) + (" ..." if len(dead) > 20 else ""))
        return await self._put_confirmed(p, Mark(self._loaded(p), (first, last), dead=True))

    @staticmethod
    def _through(buf: PartitionBuffer, last: int) -> int:
        """The highest offset the commit may cover after ``buf`` loaded: its last record, or past
        the transaction markers that follow it when it ends where a fetched batch ended."""
        through = last
        for ev in buf.events:
            msg = ev.message
            nxt = getattr(msg, "next_offset", None)
            if getattr(msg, "offset", None) == last and isinstance(nxt, int):
                through = max(through, nxt - 1)
        return through

    async def _mark_loaded(self, p: int, last: int, through: int | None = None) -> None:
        """Record the load (confirmed, so a rebalance right after cannot hide it from the next
        owner), then move the partition's commit watermark (to ``through`` when given: offsets
        after ``last`` that hold no record, such as transaction markers)."""
        view = self.parts.get(p)
        if view is not None:
            view.mark = Mark(last, view.mark.pending if view.mark.pending and view.mark.pending[0] > last
                             else None)
        try:
            await self.ledger.put(p, Mark(last, None), confirm=True)
        except Exception as exc:                     # only costs a re-sent, de-duplicated batch
            log.warning("ledger update after load failed route=%s partition=%d: %r",
                        self.route.name, p, exc)
        self._on_loaded(p, last if through is None else through)

    def _ack_all(self, buf: PartitionBuffer) -> None:
        ack = self._ack
        for ev in buf.events:
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

        The ledger view is dropped too: after a rebalance it is read again from Kafka.
        """
        self.buffers.clear()
        self.sealed.clear()
        self.parts.clear()
        self.loading.clear()
        if not self.stats.failed:
            self.halting = None                      # the next owner meets the bad record again

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

    def buffered_by_partition(self) -> dict[int, tuple[int, int]]:
        """(rows, body bytes) waiting to load, per partition (open and sealed batches)."""
        out: dict[int, tuple[int, int]] = {}
        for b in [*self.buffers.values(), *(b for q in self.sealed.values() for b in q)]:
            rows, nbytes = out.get(b.partition, (0, 0))
            out[b.partition] = (rows + b.rows, nbytes + b.nbytes)
        return out

    @property
    def buffered_rows(self) -> int:
        return (sum(b.rows for b in self.buffers.values())
                + sum(b.rows for q in self.sealed.values() for b in q))
