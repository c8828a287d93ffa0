"""The pipeline's step before it takes a newly assigned partition's first records.

Who calls: :meth:`sinkapp.pipeline.core.Pipeline.take` (these functions are the pipeline's own, on
its state, in a module of their own). For each partition of the events that the committer does not
track yet: the ledger is read up to now, every batch the partition's entry names pending is settled
once per assignment (:mod:`.settle`; a batch to send again is loaded here, under its table's lock),
what they mean for the partition (:func:`~.settle.start_of`) starts the committer's tracking, the
settled entry is written, and the partition stops where a settled batch refused a row of it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sinkapp.pipeline.route import RouteIntake
from sinkapp.pipeline.settle import Resend, Settled, start_of
from sinkapp.pipeline.types import Kind, Outcome, Part

if TYPE_CHECKING:
    from sinkapp.pipeline.core import Pipeline

log = logging.getLogger(__name__)


async def assign_new(p: Pipeline, route: RouteIntake, events: list[Any]) -> bool:
    """Start the partitions of ``events`` seen the first time. False: give up for now (rebalancing),
    or the route stopped."""
    new = sorted({Part(ev.message.topic, ev.message.partition) for ev in events
                  if not p.committer.known(Part(ev.message.topic, ev.message.partition))})
    if not new:
        return True
    if not await p.loader.until_confirmed(p.ledger.catch_up, "ledger read"):
        return False
    for part in new:
        if p.control.accepts(part) and not await _assign(p, route, part):
            return False
    return True


async def _assign(p: Pipeline, route: RouteIntake, part: Part) -> bool:
    entry = p.ledger.entry(part)
    settled = []
    for label in entry.pending:
        res = await _settle(p, label)
        if res.outcome.kind is Kind.ABANDONED:
            return False
        if res.outcome.kind is Kind.FAILED:
            p.stop_routes([route.id], res.outcome.reason)
            return False
        settled.append(res)
        route.stats.replayed_batches += 1
    start = start_of(part, entry, settled)
    p.committer.init(part, entry, start.done)
    route.assigned(part)
    if entry.pending:
        entries = p.committer.entries([part])
        await p.loader.until_confirmed(lambda: p.ledger.write(lambda: entries), f"ledger write ({part})")
    for offset, reason in start.stops:
        p.committer.stop(part, offset)
        p.halt(route, reason)
    return True


async def _settle(p: Pipeline, label: str) -> Settled:
    """Settle ``label`` once per assignment, whichever of this worker's partitions asks first."""
    task = p.settling.get(label)
    if task is None:
        task = p.settling[label] = asyncio.ensure_future(_settle_once(p, label))
    return await asyncio.shield(task)


async def _settle_once(p: Pipeline, label: str) -> Settled:
    try:
        found = await p.settler.settle(label)
        if not isinstance(found, Resend):
            return found
        codec = found.codec
        headers, encoder = codec.format_of(found.batch.table)
        lane = p.batcher.lane(found.batch.table, headers, encoder, codec.chunker.marks_into(encoder))
        async with lane.lock:
            return Settled(label, found.record, await p.load(lane, found.batch))
    except Exception as exc:                     # never crash the agent: the routes stop, saying why
        log.exception("settling pending batch %s failed", label)
        return Settled(label, p.ledger.batch(label),
                       Outcome(Kind.FAILED, reason=f"the pending batch {label} could not be settled: {exc!r}"))
