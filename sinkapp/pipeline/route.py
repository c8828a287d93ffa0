"""A route's intake: its fetched partition batches → rows in table batches (no I/O).

Who calls: the pipeline, from the route's Faust agent (``take``), once the partitions of the events
are assigned (the pipeline reads their ledger entries and settles what a previous owner left
pending) and the records are ready to decode (``codec.ready``). One per route (topic → db.table). For
each fetched batch it decides what each record is (:mod:`.intake`), encodes the new ones with the
route's codec (:mod:`.codec`), gives their rows to the table batches (:mod:`.batcher`; TableByField
rows to the tables they name), the partition's hold on them and then the event to the committer.

``errors.tolerance=none``: a record that cannot be decoded, transformed or encoded halts the route:
the committer never passes it, and ``take`` returns the :class:`Halt` for the pipeline, which loads
the records before it and then stops the route. ``all``: it becomes a dead letter carried by the
batch of the route's own table (written and confirmed before that batch loads), or is skipped and
counted without a dead-letter topic.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from sinkapp.config.routes import Route
from sinkapp.pipeline.batcher import Batcher
from sinkapp.pipeline.codec import RouteCodec
from sinkapp.pipeline.committer import Committer
from sinkapp.pipeline.encode import BadRecord, Chunk
from sinkapp.pipeline.intake import PartitionView, gap_resume, plan_intake, segments
from sinkapp.pipeline.ports import PartitionControl
from sinkapp.pipeline.stats import RouteStats
from sinkapp.pipeline.types import Part, RouteState, TableKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Halt:
    """A record the route cannot load (errors.tolerance=none): its partition stops before it."""

    part: Part
    offset: int
    reason: str


class RouteIntake:
    def __init__(self, route: Route, codec: RouteCodec, batcher: Batcher, committer: Committer,
                 control: PartitionControl) -> None:
        self.id, self.route, self.codec, self.table = codec.id, route, codec, codec.table
        self.batcher, self.committer, self.control = batcher, committer, control
        self.state = RouteState.RUNNING             # written by the pipeline only
        self.reason: str | None = None
        self.stats = RouteStats()
        self.views: dict[int, PartitionView] = {}

    @property
    def name(self) -> str:
        return self.route.name

    @property
    def converter(self) -> Any:
        return self.codec.converter

    @property
    def chunker(self) -> Any:
        return self.codec.chunker

    def assigned(self, part: Part) -> None:
        """``part`` is assigned here (the committer tracks it): its records may be taken."""
        self.views[part.partition] = PartitionView()

    def release(self) -> None:
        """A rebalance: partitions are read again from their committed offsets by whoever owns them."""
        self.views.clear()

    # -- intake -------------------------------------------------------------------------------
    def take(self, events: list[Any], since: float | None = None) -> Halt | None:
        """Take fetched batches in order, up to the first record the route cannot load (returned);
        ``since``: when they reached the route (the age of the rows they give)."""
        for ev in events:
            if self.state is not RouteState.RUNNING:
                return None                         # halted or stopped: dropped without ack
            halt = self._take_one(ev, since)
            if halt is not None:
                return halt
        return None

    def _take_one(self, ev: Any, since: float | None) -> Halt | None:
        msg, st = ev.message, self.stats
        part, records = Part(msg.topic, msg.partition), msg.records
        if not records:
            return None
        if not self.control.accepts(part) or not self.committer.known(part):
            st.dropped_stale += len(records)        # revoked, or being revoked: never load or ack
            return None
        view = self.views[part.partition]
        floor = self.committer.watermark(part)
        plan = plan_intake(view, records, msg.prev_last, floor, getattr(msg, "fetch_from", None))
        if plan.gap:
            self._gap(part, view, floor, len(records))
            return None
        view.seeking = False
        if view.high < 0 and plan.start:
            self._behind_ledger(part, records[0].offset, floor)
        st.skipped_loaded += plan.start
        st.redelivered += plan.new - plan.start
        last = records[-1].offset
        halt = self._encode(part, records, plan.new, since) if plan.new < len(records) else None
        view.high = max(view.high, last)
        self.committer.took(part, ev, last, max(last, getattr(msg, "next_offset", last + 1) - 1))
        self.control.taken(ev)                      # the rows are encoded; Kafka keeps the records
        return halt

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
        self.control.reseek(part, resume)

    def _encode(self, part: Part, records: list[Any], i: int, since: float | None) -> Halt | None:
        skips = {t: off for t, off in self.committer.replay_skips(part).items() if off >= records[i].offset}
        chunker = self.codec.chunker
        for lo, hi, skip in segments(records, i, skips):
            try:
                chunk = chunker.encode(records, lo, hi)
            except BadRecord as bad:                # errors.tolerance=none
                if bad.index > lo:
                    self._add(part, records, lo, bad.index, chunker.encode(records, lo, bad.index), skip, since)
                return self._halt(part, records[bad.index], bad)
            self._add(part, records, lo, hi, chunk, skip, since)
        return None

    def _add(self, part: Part, records: list[Any], lo: int, hi: int, chunk: Chunk, skip: frozenset[str],
             since: float | None) -> None:
        self.stats.records_in += hi - lo
        self.stats.tombstones += chunk.tombstones
        for k, why in chunk.skipped:
            self._skipped(records[k], why)
        first, last = records[lo].offset, records[hi - 1].offset
        own = str(self.table) not in skip
        epoch = self.committer.epoch(part)
        letters = self._letters(records, chunk) if own else []
        carried = False
        for name, piece in chunk.pieces(self.table.table).items():
            table = TableKey.within(self.table.database, name)
            if str(table) in skip:
                continue
            mine = letters if table == self.table else None
            carried = carried or bool(mine)
            self._put(table, part, first, last, piece.data, piece.rows, mine, epoch, since)
        if letters and not carried:
            self._put(self.table, part, first, last, None, 0, letters, epoch, since)

    def _letters(self, records: list[Any], chunk: Chunk) -> list[Any]:
        """errors.tolerance=all: the dead letters of a run's bad records, to carry in the route's own
        table batch; without a dead-letter topic none: they are skipped and counted here."""
        letters = [self.codec.letter(records[b.index], b) for b in chunk.bad]
        if self.codec.dlq:
            return letters
        self.stats.skipped_bad.update(d.stage for d in letters)
        return []

    def _put(self, table: TableKey, part: Part, first: int, last: int, data: Any, rows: int,
             dead: list[Any] | None, epoch: int, since: float | None) -> None:
        codec = self.codec
        self.batcher.lane(table, codec.headers, codec.encoder, codec.chunker.marks)
        seq = self.batcher.add(table, part, first, last, self.id, data, rows, dead, epoch, since)
        if seq is not None:
            self.committer.hold(part, seq, str(table), first)

    def _halt(self, part: Part, record: Any, bad: BadRecord) -> Halt:
        """The partition's watermark never passes ``record``, from before its event is taken."""
        r = record
        reason = (f"record {r.topic}[{r.partition}]@{r.offset} cannot be loaded ({bad.stage}): {bad.error}. "
                  f"Every record before it is loaded and committed. Fix the data and restart, or skip the "
                  f"record (kafka-consumer-groups --reset-offsets --to-offset {r.offset + 1} for "
                  f"{r.topic}:{r.partition}), or set errors.tolerance=all with "
                  f"errors.deadletterqueue.topic.name to dead-letter such records")
        self.committer.stop(part, r.offset)
        return Halt(part, r.offset, reason)
