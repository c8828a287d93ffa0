"""The Faust app base: installs the batch consumer and drains the sink at revoke and stop.

Who calls: Faust (the hooks below); :mod:`sinkapp.worker.app` builds a :class:`BatchApp` and sets
``pipeline`` (the sink core) and ``closers`` (clients to close when the worker stops).

``before_revoke`` (called by :class:`~sinkapp.faustio.consumer.BatchConsumer` while the partitions
are still assigned) loads what is buffered within ``sinkapp.drain.timeout.ms``; the consumer then
commits what loaded. Faust calls ``_consumer_wait_empty`` when partitions are revoked and when the
worker stops; it blocks until every event is acked or dropped (``Consumer.wait_empty``), so the
sink is drained there too and what it released is forgotten un-acked.

A worker process that is stopping gives itself ``sinkapp.drain.timeout.ms`` + :data:`STOP_GRACE_S`
(:func:`arm_stop_deadline`): aiokafka retries a commit, a coordinator lookup or a metadata update
without end while the broker is unreachable, so without it a worker whose broker went away never
exited on SIGTERM (its consumer thread kept retrying every 100 ms). Past the deadline it says so and
exits with status 1, as after kill -9: offsets it could not commit are read again, and rows it had
loaded are recognised by their labels and not loaded twice.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

import faust
from faust.types import TP

from sinkapp.config.keys import default_s
from sinkapp.faustio.consumer import BatchConsumer, BatchTransport

log = logging.getLogger(__name__)

#: seconds a stopping worker process may take after its drain's own limit (commits, closing clients)
STOP_GRACE_S = 30.0


def arm_stop_deadline(seconds: float) -> threading.Timer:
    """End the process with status 1 if it is still running ``seconds`` from now (a daemon timer)."""
    timer = threading.Timer(seconds, _exit_stuck, (seconds,))
    timer.daemon = True
    timer.start()
    return timer


def _exit_stuck(seconds: float) -> None:
    log.error("sinkapp: stopping has taken %.0fs, most likely because the Kafka broker is unreachable; exiting "
              "now (status 1, as after kill -9): offsets not committed are read again and rows already loaded "
              "are recognised by their labels, so none is lost or loaded twice", seconds)
    for h in logging.getLogger().handlers:
        h.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


class BatchApp(faust.App):
    pipeline: Any = None                 # sinkapp.pipeline.core.Pipeline
    closers: list[Any] = []              # objects with ``async close()``
    route_topics: set[str] = set()
    topic_tables: dict[str, str] = {}    # topic → its target "db.table" (the affine assignor groups by it)
    drain_timeout_s: float = default_s("sinkapp.drain.timeout.ms")
    start_gate: Any = None               # sinkapp.faustio.startgate.StartGate (a --processes child's)

    def _new_transport(self) -> Any:
        """Every route topic is read through :class:`BatchConsumer` (one event per fetched batch)."""
        return BatchTransport(self.conf.broker_consumer, self)

    @property
    def batch_consumer(self) -> BatchConsumer:
        return self.consumer  # type: ignore[return-value]

    async def _drain(self, why: str) -> None:
        if self.pipeline is not None:
            log.info("sinkapp: %s: loading what is buffered, at most %.1fs", why, self.drain_timeout_s)
            await self.pipeline.drain(self.drain_timeout_s)

    async def before_revoke(self, revoked: set[TP]) -> None:
        """Load before Faust revokes: a batch held past the revoke would be loaded by a worker
        that no longer owns the partition, after its new owner started from the commit."""
        await self._drain("partitions revoked")

    async def _on_partitions_revoked(self, revoked: Any) -> None:
        await super()._on_partitions_revoked(revoked)
        if self.pipeline is not None:
            self.pipeline.release()              # events that slipped in before flow stopped

    async def on_stop(self) -> None:
        if getattr(self, "in_worker", False):   # a worker process (Faust's Worker sets it), not a test's app
            arm_stop_deadline(self.drain_timeout_s + STOP_GRACE_S)
        await super().on_stop()
        for c in self.closers:
            try:
                await c.close()
            except Exception as exc:             # shutting down: report, go on
                log.warning("closing %r failed: %r", c, exc)

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        if self.pipeline is not None:
            await self._drain("stopping")
            self._forget_released(consumer, self.route_topics)
        await super()._consumer_wait_empty(consumer, logger)

    @staticmethod
    def _forget_released(consumer: Any, topics: set[str]) -> None:
        """Drop our topics' still-unacked messages from Faust's wait set (never ack them).

        After ``drain`` the sink holds nothing, but Faust itself keeps a reference to the last
        event of a stream, and a stopped route's events are never acked: ``wait_empty`` would
        wait for them until the rebalance timeout. Not acking keeps their offsets uncommitted,
        so they are delivered again to whoever owns the partition next.
        """
        unacked = getattr(consumer, "_unacked_messages", None)
        if unacked is None:
            return
        for msg in [m for m in unacked if m.tp.topic in topics]:
            unacked.discard(msg)

    def partition_offsets(self) -> list[tuple[Any, int | None, int | None, int | None]]:
        consumer = getattr(self, "_consumer", None)
        if consumer is None or not isinstance(consumer, BatchConsumer):
            return []
        return consumer.partition_offsets()

    @property
    def assigned_once(self) -> bool:
        consumer = getattr(self, "_consumer", None)
        return bool(consumer is not None and getattr(consumer, "assigned_once", False))
