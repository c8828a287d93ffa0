"""A route's intake: its fetched partition batches → rows in table batches (no I/O but the ledger read).

Who calls: the pipeline, from the route's Faust agent (``prepare``, then ``take``). One per route
(topic → db.table). For each fetched batch it decides what each record is (:mod:`.intake`),
encodes the new ones (:mod:`.encode`), gives their rows to the table batches (:mod:`.batcher`;
TableByField rows to the tables they name) and the event to the committer. A partition's first
batch after an assignment waits until the partition's ledger entry is read and the pending batches
a previous owner left are settled (:mod:`.settle`).

``errors.tolerance=none``: a record that cannot be decoded, transformed or encoded halts the route:
the records before it are loaded and committed, then the route stops with an error naming it.
``all``: it becomes a dead letter carried by the batch of the route's own table (written and
confirmed before that batch loads), or is skipped and counted without a dead-letter topic.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sinkapp.config.routes import Route
from sinkapp.converters import Converter
from sinkapp.errors import DdlError, SchemaChangeFailed
from sinkapp.pipeline.batcher import Batcher, TableLane
from sinkapp.pipeline.committer import Committer
from sinkapp.pipeline.encode import BadRecord, Chunk, Chunker
from sinkapp.pipeline.intake import PartitionView, gap_resume, plan_intake, segments
from sinkapp.pipeline.ledger import Ledger
from sinkapp.pipeline.letters import DeadLetter, letter
from sinkapp.pipeline.ports import PartitionControl
from sinkapp.pipeline.settle import Settler
from sinkapp.pipeline.stats import RouteStats
from sinkapp.pipeline.types import Part, RouteState, TableKey

log = logging.getLogger(__name__)


@dataclass
class Shared:
    """What every route's intake works with (built by the pipeline)."""

    committer: Committer
    batcher: Batcher
    settler: Settler
    ledger: Ledger
    control: PartitionControl
    lane: Callable[[TableKey, RouteIntake], TableLane]
    halt: Callable[[RouteIntake], None]
    stop: Callable[[list[int], str], None]
    confirm: Callable[..., Any]                  # Loader.until_confirmed
    clock: Callable[[], float]
    dlq: bool = False
    log_enable: bool = False
    log_messages: bool = False


class RouteIntake:
    def __init__(self, rid: int, route: Route, converter: Converter, chunker: Chunker, encoder: Any,
                 headers: dict[str, str], shared: Shared) -> None:
        self.id, self.route, self.converter, self.chunker, self.s = rid, route, converter, chunker, shared
        self.encoder, self.headers = encoder, headers          # of the Stream Loads its tables get
        self.table = TableKey(route.database, route.table)
        self.state = RouteState.RUNNING
        self.reason: str | None = None
        self.stats = RouteStats()
        self.views: dict[int, PartitionView] = {}
        self.shape: Any = None                      # auto.create/evolve: a sinkapp.tableshape RouteShape
        self.since: float | None = None             # when the events being taken reached the route

    @property
    def name(self) -> str:
        return self.route.name

    def letter(self, record: Any, bad: BadRecord) -> DeadLetter | None:
        """errors.tolerance=all: the record's dead letter, or None (skipped and counted) without a topic."""
        d = letter(record, bad.stage, bad.error, self.chunker.class_name)
        if self.s.log_enable:
            extra = (f" key={record.key!r:.200} value={record.value!r:.500}" if self.s.log_messages else "")
            log.warning("bad record %s stage=%s route=%s %s: %s%s", d.where(), d.stage, self.name,
                        "dead-lettered" if self.s.dlq else "skipped", bad.error, extra)
        if self.s.dlq:
            return d
        self.stats.skipped_bad[d.stage] += 1
        return None

    # -- assignment ---------------------------------------------------------------------------
    async def prepare(self, events: list[Any]) -> bool:
        """Read the ledger for partitions seen the first time (settling pending batches) and let the
        converter fetch what it needs (registry schemas). False: give up for now (rebalancing)."""
        new = sorted({Part(ev.message.topic, ev.message.partition) for ev in events
                      if not self.s.committer.known(Part(ev.message.topic, ev.message.partition))})
        if new:
            if not await self.s.confirm(self.s.ledger.catch_up, "ledger read"):
                return False
            for part in new:
                if self.s.control.accepts(part) and not await self._assign(part):
                    return False
        self.since = self.s.clock()                 # a schema change may make them wait in ready()
        try:
            await self.ready([r for ev in events for r in ev.message.records])
        except (DdlError, SchemaChangeFailed) as exc:   # the table cannot be made to take the records
            self.s.stop([self.id], f"{exc}")
            return False
        return True

    async def ready(self, records: list[Any]) -> None:
        """What decoding ``records`` needs: the converter fetches registry schemas it has not seen
        (intake, and records read again from Kafka to settle or split a batch)."""
        prep = getattr(self.converter, "prepare", None)
        if prep is not None:
            await prep(records, tolerant=True)
        if self.shape is not None:
            await self.shape.prepare(records)       # create the table / add columns before encoding

    async def _assign(self, part: Part) -> bool:
        entry = self.s.ledger.entry(part)
        done, stops = dict(entry.done), []
        for label in entry.pending:
            res = await self.s.settler.settle(label)
            out = res.outcome
            if out.kind == "aborted":
                return False
            if out.kind == "failed":
                self.s.stop([self.id], out.reason)
                return False
            if out.kind == "loaded" and res.record is not None:
                table = str(res.record.batch.table)
                upto = out.through.get(part, (entry.loaded, entry.loaded))[0]
                done[table] = max(done.get(table, entry.loaded), upto)
                if part in out.stopped:
                    stops.append((upto + 1, out.stopped[part]))
            self.stats.replayed_batches += 1
        self.s.committer.init(part, entry, done)
        self.views[part.partition] = PartitionView()
        if entry.pending:
            settled = self.s.committer.entries([part])
            await self.s.confirm(lambda: self.s.ledger.write(lambda: settled), f"ledger write ({part})")
        for offset, reason in stops:
            self._halt_at(part, offset, reason)
        return True

    # -- intake -------------------------------------------------------------------------------
    def take(self, events: list[Any]) -> None:
        for ev in events:
            if self.state is not RouteState.RUNNING:
                return                              # halted or stopped: dropped without ack
            self._take_one(ev)

    def _take_one(self, ev: Any) -> None:
        msg, st = ev.message, self.stats
        part, records = Part(msg.topic, msg.partition), msg.records
        if not records:
            return
        if not self.s.control.accepts(part) or not self.s.committer.known(part):
            st.dropped_stale += len(records)        # revoked, or being revoked: never load or ack
            return
        view = self.views[part.partition]
        floor = self.s.committer.watermark(part)
        plan = plan_intake(view, records, msg.prev_last, floor, getattr(msg, "fetch_from", None))
        if plan.gap:
            self._gap(part, view, floor, len(records))
            return
        view.seeking = False
        if view.high < 0 and plan.start:
            self._behind_ledger(part, records[0].offset, floor)
        st.skipped_loaded += plan.start
        st.redelivered += plan.new - plan.start
        last = records[-1].offset
        if plan.new < len(records):
            self._encode(part, records, plan.new)
        view.high = max(view.high, last)
        self.s.committer.took(part, ev, last, max(last, getattr(msg, "next_offset", last + 1) - 1))
        msg.records = []                            # the rows are encoded; Kafka keeps the records

    def _skipped(self, record: Any, why: Any) -> None:
        """An event a transform skipped on purpose: counted; the first of each kind is named in the log."""
        first = not self.stats.events_skipped[why.kind]
        self.stats.events_skipped[why.kind] += 1
        if first:
            log.warning("route=%s: %s event at %s[%d]@%d skipped: %s (each one is counted in "
                        "sinkapp_events_skipped_total{kind=\"%s\"}; this is logged once per route)", self.name,
                        why.kind, record.topic, record.partition, record.offset, why.note, why.kind)

    def _behind_ledger(self, part: Part, first: int, loaded: int) -> None:
        """The partition's committed offset is behind what the ledger says is loaded: say so once
        per assignment, with the command that would load those records again."""
        self.stats.behind_ledger += 1
        config = os.environ.get("SINKAPP_CONFIG") or "<connector.json>"
        log.warning(
            "route=%s partition=%d: the committed offset %d is behind the ledger, which says records up to %d "
            "are in StarRocks: %d record(s) are skipped, not loaded again. After a crash this is what loaded "
            "since the last commit; after an offset reset made with other tools, load them again with: "
            "sinkapp offsets reset --config %s --route %s --partition %d --to-offset %d --reload",
            self.name, part.partition, first, loaded, loaded - first + 1, config, part.topic, part.partition, first)

    def _gap(self, part: Part, view: PartitionView, floor: int, n: int) -> None:
        self.stats.dropped_stale += n
        if view.seeking:
            return
        resume = gap_resume(view, floor)
        view.seeking, view.resume = True, resume
        self.stats.gaps += 1
        log.warning("route=%s partition=%d: a fetched batch after offset %d never reached the route; "
                    "re-reading from %s", self.name, part.partition, max(view.high, floor),
                    resume if resume is not None else "the committed offset")
        self.s.control.reseek(part, resume)

    def _encode(self, part: Part, records: list[Any], i: int) -> None:
        skips = {t: off for t, off in self.s.committer.replay_skips(part).items() if off >= records[i].offset}
        for lo, hi, skip in segments(records, i, skips):
            try:
                chunk = self.chunker.encode(records, lo, hi)
            except BadRecord as bad:                # errors.tolerance=none
                if bad.index > lo:
                    self._add(part, records, lo, bad.index, self.chunker.encode(records, lo, bad.index), skip)
                self._halt(part, records[bad.index], bad)
                return
            self._add(part, records, lo, hi, chunk, skip)

    def _add(self, part: Part, records: list[Any], lo: int, hi: int, chunk: Chunk, skip: frozenset[str]) -> None:
        self.stats.records_in += hi - lo
        self.stats.tombstones += chunk.tombstones
        for k, why in chunk.skipped:
            self._skipped(records[k], why)
        first, last = records[lo].offset, records[hi - 1].offset
        own = str(self.table) not in skip
        epoch = self.s.committer.epoch(part)
        letters = [d for b in chunk.bad if (d := self.letter(records[b.index], b)) is not None] if own else []
        carried = False
        for name, piece in chunk.pieces(self.table.table).items():
            table = TableKey(self.table.database, name)
            if str(table) in skip:
                continue
            self.s.lane(table, self)
            mine = letters if table == self.table else None
            carried = carried or bool(mine)
            self.s.batcher.add(table, part, first, last, self.id, piece.data, piece.rows, mine, epoch, self.since)
        if letters and not carried:
            self.s.lane(self.table, self)
            self.s.batcher.add(self.table, part, first, last, self.id, None, 0, letters, epoch, self.since)

    def _halt(self, part: Part, record: Any, bad: BadRecord) -> None:
        r = record
        reason = (f"record {r.topic}[{r.partition}]@{r.offset} cannot be loaded ({bad.stage}): {bad.error}. "
                  f"Every record before it is loaded and committed. Fix the data and restart, or skip the "
                  f"record (kafka-consumer-groups --reset-offsets --to-offset {r.offset + 1} for "
                  f"{r.topic}:{r.partition}), or set errors.tolerance=all with "
                  f"errors.deadletterqueue.topic.name to dead-letter such records")
        self._halt_at(part, r.offset, reason)

    def _halt_at(self, part: Part, offset: int, reason: str) -> None:
        self.s.committer.stop(part, offset)
        if self.state is RouteState.RUNNING:
            self.state, self.reason = RouteState.HALTING, reason
            log.error("route %s: %s; loading what came before it", self.name, reason)
            self.s.halt(self)

    def release(self) -> None:
        """A rebalance: partitions are read again from their committed offsets by whoever owns them."""
        self.views.clear()
        if self.state is RouteState.HALTING:
            self.state, self.reason = RouteState.RUNNING, None   # the next owner meets the record again
