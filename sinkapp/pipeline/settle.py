"""Settling a pending table batch a previous owner left in the ledger (design §2, README Delivery).

Who calls: the route intake, when a newly assigned partition's ledger entry names pending batches;
before any record of that partition is taken. The members of such a batch may now be owned by
several workers; each owner settles it alone, and two owners doing it at once is safe:

1. no batch record: the previous owner died while writing the pending entries, before any load
   attempt (it attempts only once every write is confirmed): abandoned, its records load anew;
2. ``get_load_state`` says VISIBLE or COMMITTED: it loaded; its members' records are done;
3. some member's entry does not name it (and it is not being split): as 1, never attempted;
4. else: its members' records are read again from Kafka, encoded as intake did, and loaded under
   the same label (StarRocks answers ``Label Already Exists`` if another owner got there first);
   a batch the ledger says is split is loaded in the same parts as before (badrows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sinkapp.errors import LoadError
from sinkapp.pipeline.batcher import TableBatch, TableLane
from sinkapp.pipeline.ledger import BatchRecord, Ledger
from sinkapp.pipeline.loader import Loader, Outcome
from sinkapp.pipeline.ports import SourceReader, StreamLoader
from sinkapp.pipeline.rebuild import encode_run, read_members
from sinkapp.pipeline.types import TableKey

log = logging.getLogger(__name__)
LOADED_STATES = ("VISIBLE", "COMMITTED")


@dataclass
class Settled:
    """``outcome.kind``: loaded (``through``), fresh (never attempted: load its records anew),
    failed (``reason``), aborted (rebalance or shutdown); ``record`` is None when there was none."""

    label: str
    record: BatchRecord | None
    outcome: Outcome = field(default_factory=lambda: Outcome("fresh"))


class Settler:
    def __init__(self, *, ledger: Ledger, client: StreamLoader, loader: Loader, reader: SourceReader | None,
                 database: str, route_of: Callable[[str], Any], lane_of: Callable[[TableKey, Any], TableLane],
                 aborting: Callable[[], bool], retry_delay: Callable[[int], float],
                 has_route: Callable[[str], bool] = lambda topic: True) -> None:
        self.ledger, self.client, self.loader, self.reader = ledger, client, loader, reader
        self.database = database
        self.route_of, self.lane_of, self.aborting, self.retry_delay = route_of, lane_of, aborting, retry_delay
        self.has_route = has_route
        self._running: dict[str, asyncio.Task[Settled]] = {}

    async def settle(self, label: str) -> Settled:
        """Settle ``label`` once per assignment, whichever of this worker's partitions asks first."""
        task = self._running.get(label)
        if task is None:
            task = self._running[label] = asyncio.ensure_future(self._settle(label))
        return await asyncio.shield(task)

    def forget(self) -> None:
        """A rebalance: the next assignment settles what is still pending anew."""
        for t in self._running.values():
            t.cancel()
        self._running.clear()

    async def _state(self, label: str) -> str | None:
        attempt = 0
        while not self.aborting():
            try:
                return await self.client.load_state(self.database, label)
            except LoadError as exc:
                attempt += 1
                log.warning("get_load_state %s failed attempt=%d: %s", label, attempt, exc)
                await asyncio.sleep(self.retry_delay(attempt))
        return None

    async def _settle(self, label: str) -> Settled:
        try:
            return await self._settle_once(label)
        except asyncio.CancelledError:
            raise
        except Exception as exc:                     # never crash the agent: the routes stop, saying why
            log.exception("settling pending batch %s failed", label)
            return Settled(label, self.ledger.batch(label),
                           Outcome("failed", reason=f"the pending batch {label} could not be settled: {exc!r}"))

    async def _settle_once(self, label: str) -> Settled:
        rec = self.ledger.batch(label)
        if rec is None:
            log.info("pending batch %s: never attempted (its ledger record is missing); loading anew", label)
            return Settled(label, None)
        ident = rec.batch
        whole = {m.part: (m.last, m.last) for m in ident.members}
        state = await self._state(label)
        if state is None:
            return Settled(label, rec, Outcome("aborted"))
        if state in LOADED_STATES:
            log.info("pending batch %s of %s is %s in StarRocks: its %d member(s) are loaded", label, ident.table,
                     state, len(ident.members))
            return Settled(label, rec, Outcome("loaded", whole))
        if not rec.split and not all(label in self.ledger.entry(m.part).pending for m in ident.members):
            log.info("pending batch %s: not every member's ledger entry names it, so it was never attempted; "
                     "loading its records anew", label)
            return Settled(label, rec)
        return Settled(label, rec, await self._resend(rec))

    async def _resend(self, rec: BatchRecord) -> Outcome:
        ident, table = rec.batch, rec.batch.table
        if self.reader is None:
            return Outcome("failed", reason=f"pending batch {rec.label} cannot be read again (no Kafka reader)")
        unknown = sorted({m.topic for m in ident.members if not self.has_route(m.topic)})
        if unknown:
            return Outcome("failed", reason=f"pending batch {rec.label} of {table} has members in {', '.join(unknown)}, "
                                            "which no route of this config reads (topics or topics.regex changed?): "
                                            "route them again until the batch is settled")
        try:
            members = await read_members(self.reader, ident.members, self.route_of)
        except Exception as exc:
            return Outcome("failed", reason=f"pending batch {rec.label} of {table}: its records could not be "
                                            f"read again from Kafka ({exc}); were they deleted by retention?")
        batch = TableBatch(table, fixed=ident, replay=True, dead_done=rec.dead, split=rec.split)
        for mr in members:
            batch.members[mr.member.part] = (mr.member.first, mr.member.last)
            data, rows, bad = encode_run(mr, 0, len(mr.records), table)
            if rows:
                batch.pieces.append((mr.member.part, mr.route.id, data, rows))
                batch.rows += rows
                batch.nbytes += len(data) + 1
            batch.routes.add(mr.route.id)
            batch.dead.extend(d for r, b in bad if (d := mr.route.letter(r, b)) is not None)
        log.info("pending batch %s of %s: loading its %d member(s) again under the same label (%d rows)",
                 rec.label, table, len(ident.members), batch.rows)
        lane = self.lane_of(table, members[0].route)
        async with lane.lock:
            return await self.loader.load(batch, lane)
