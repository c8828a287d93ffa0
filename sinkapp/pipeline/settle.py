"""Settling a pending table batch a previous owner left in the ledger (README Delivery).

Who calls: the pipeline, when a newly assigned partition's ledger entry names pending batches;
before any record of that partition is taken. The members of such a batch may now be owned by
several workers; each owner settles it alone, and two owners doing it at once is safe. The settler
finds what became of it and returns that; it loads nothing itself:

1. no batch record: the previous owner died while writing the pending entries, before any load
   attempt (it attempts only once every write is confirmed): :attr:`Kind.FRESH`, its records load anew;
2. ``get_load_state`` says VISIBLE or COMMITTED: it loaded (:attr:`Kind.LOADED`);
3. some member's entry does not name it (and it is not being split): as 1, never attempted;
4. else :class:`Resend`: its members' records read again from Kafka and encoded as intake did, for
   the pipeline to load under the same label (StarRocks answers ``Label Already Exists`` if another
   owner got there first); a batch the ledger says is split loads in the same parts as before.

:func:`start_of` then says what the settled batches mean for one member partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sinkapp.errors import LoadError
from sinkapp.pipeline.batcher import TableBatch
from sinkapp.pipeline.codec import RouteCodec
from sinkapp.pipeline.ledger import BatchRecord, Entry, Ledger
from sinkapp.pipeline.ports import SourceReader, StreamLoader
from sinkapp.pipeline.rebuild import RebuildError, encode_run, read_members
from sinkapp.pipeline.types import Kind, Outcome, Part

log = logging.getLogger(__name__)
LOADED_STATES = ("VISIBLE", "COMMITTED")


@dataclass
class Settled:
    """What became of the pending batch ``label`` (``record``: None when it had none)."""

    label: str
    record: BatchRecord | None
    outcome: Outcome = field(default_factory=lambda: Outcome(Kind.FRESH))


@dataclass
class Resend:
    """A pending batch to load again, rebuilt from Kafka (``codec``: its first member's route's)."""

    label: str
    record: BatchRecord
    batch: TableBatch
    codec: RouteCodec


@dataclass
class Start:
    """How a newly assigned partition starts: per table, how far its rows are loaded (``done``), and
    the offsets it stops at (a settled batch refused a row of it, errors.tolerance=none)."""

    done: dict[str, int]
    stops: list[tuple[int, str]]


class Settler:
    def __init__(self, *, ledger: Ledger, client: StreamLoader, reader: SourceReader | None,
                 codecs: Mapping[str, RouteCodec], abandon: asyncio.Event,
                 retry_delay: Callable[[int], float]) -> None:
        self.ledger, self.client, self.reader = ledger, client, reader
        self.codecs, self.abandon, self.retry_delay = codecs, abandon, retry_delay

    async def settle(self, label: str) -> Settled | Resend:
        rec = self.ledger.batch(label)
        if rec is None:
            log.info("pending batch %s: never attempted (its ledger record is missing); loading anew", label)
            return Settled(label, None)
        ident = rec.batch
        state = await self._state(ident.table.database, label)
        if state is None:
            return Settled(label, rec, Outcome(Kind.ABANDONED))
        if state in LOADED_STATES:
            log.info("pending batch %s of %s is %s in StarRocks: its %d member(s) are loaded", label, ident.table,
                     state, len(ident.members))
            return Settled(label, rec, Outcome(Kind.LOADED, {m.part: (m.last, m.last) for m in ident.members}))
        if not rec.split and not all(label in self.ledger.entry(m.part).pending for m in ident.members):
            log.info("pending batch %s: not every member's ledger entry names it, so it was never attempted; "
                     "loading its records anew", label)
            return Settled(label, rec)
        return await self._rebuild(rec)

    async def _state(self, database: str, label: str) -> str | None:
        attempt = 0
        while not self.abandon.is_set():
            try:
                return await self.client.load_state(database, label)
            except LoadError as exc:
                attempt += 1
                log.warning("get_load_state %s failed attempt=%d: %s", label, attempt, exc)
                await asyncio.sleep(self.retry_delay(attempt))
        return None

    def _failed(self, rec: BatchRecord, reason: str) -> Settled:
        return Settled(rec.label, rec, Outcome(Kind.FAILED, reason=reason))

    async def _rebuild(self, rec: BatchRecord) -> Settled | Resend:
        ident, table = rec.batch, rec.batch.table
        if self.reader is None:
            return self._failed(rec, f"pending batch {rec.label} cannot be read again (no Kafka reader)")
        unknown = sorted({m.topic for m in ident.members if m.topic not in self.codecs})
        if unknown:
            return self._failed(rec, f"pending batch {rec.label} of {table} has members in {', '.join(unknown)}, "
                                     "which no route of this config reads (topics or topics.regex changed?): "
                                     "route them again until the batch is settled")
        try:
            members = await read_members(self.reader, ident.members, self.codecs)
        except RebuildError as exc:
            return self._failed(rec, f"pending batch {rec.label} of {table}: its records could not be read again "
                                     f"from Kafka ({exc}); were they deleted by retention?")
        batch = TableBatch(table, fixed=ident, replay=True, dead_done=rec.dead, split=rec.split)
        for mr in members:
            batch.members[mr.member.part] = (mr.member.first, mr.member.last)
            data, rows, bad = encode_run(mr, 0, len(mr.records), table)
            if rows:
                batch.pieces.append((mr.member.part, mr.codec.id, data, rows))
                batch.rows += rows
                batch.nbytes += len(data) + 1
            batch.routes.add(mr.codec.id)
            batch.dead.extend(mr.codec.letter(r, b) for r, b in bad)
        log.info("pending batch %s of %s: loading its %d member(s) again under the same label (%d rows)",
                 rec.label, table, len(ident.members), batch.rows)
        return Resend(rec.label, rec, batch, members[0].codec)


def start_of(part: Part, entry: Entry, settled: Sequence[Settled]) -> Start:
    """What the settled pending batches of ``entry`` mean for ``part``: how far each table's rows are
    loaded, and where the partition stops (a row of it StarRocks refused)."""
    done, stops = dict(entry.done), []
    for res in settled:
        out = res.outcome
        if out.kind is Kind.LOADED and res.record is not None:
            table = str(res.record.batch.table)
            upto = out.through.get(part, (entry.loaded, entry.loaded))[0]
            done[table] = max(done.get(table, entry.loaded), upto)
            if part in out.stopped:
                stops.append((upto + 1, out.stopped[part]))
    return Start(done, stops)
