"""Faust carries one event per fetched partition batch, and commits what the routes loaded.

Why (docs/design.md §5): a Faust event per Kafka record costs ~200 µs of framework CPU; one
event per fetched partition batch costs Faust < 0.1 µs per row. So the aiokafka driver's
``getmany`` is replaced by one that yields, per fetch, one :class:`BatchMessage` per partition
carrying the fetched records (``records``, ``first_offset``; ``offset`` = the last record's).

Who calls: Faust. :class:`sinkapp.faustio.app.BatchApp` installs :class:`BatchTransport` through
``App._new_transport`` before any agent is declared, so every route topic of the worker is read
through :class:`BatchConsumer`. The sink core reaches it through
:class:`sinkapp.faustio.control.ConsumerControl` (``mark_loaded``, ``owns``, re-seeks).

What stays stock Faust: group membership and rebalance callbacks, flow control (a batch is not
yielded while flow is stopped, and ``getmany`` seeks back to the committed offsets then, as
stock does), the generation check, the assignment / buffered-partition check, the read-offset
check of ``_drain_messages``, the commit timer and ``wait_empty``.

What changes:
- Commits. Faust commits the first contiguous run of *acked* offsets, but it also acks events it
  skips (flow stopped, stale generation), and its compiled stream code writes those acks into
  the consumer's ack state directly. So "loaded" is our own mark: the committed offset of a
  partition is ``mark_loaded``'s watermark + 1, and Faust's ack lists are ignored (cleared). An
  ack now only releases the event from Faust's wait set. Offset gaps (compaction, transaction
  markers) need no bookkeeping: the watermark is an offset, not a count.
- Revoke. Before Faust forgets a revoked partition, the app's ``before_revoke`` hook flushes the
  routes (bounded by ``sinkapp.drain.timeout.ms``) and the watermarks are committed while the
  partitions are still assigned. From the start of the revoke no batch of those partitions is
  yielded, and the sink refuses batches of partitions in :attr:`revoking`.
- Continuity. Every batch carries ``prev_last``: the last offset this consumer yielded for the
  partition before it (``None`` after a seek). The sink uses it to notice a batch Faust dropped
  on the way (its records would otherwise be committed past) and asks for a re-seek.

This relies on private faust-streaming and aiokafka API (``Consumer._wait_next_records``,
``_new_offset``, ``_filter_tps_with_pending_acks``, ``_add_gap``, ``_acked``, ``_committed_offset``,
``App._new_transport``, aiokafka's ``_subscription`` chain, ``_isolation_level``,
``_coordinator.fetch_committed_offsets``, ``_auto_offset_reset``, ...), all of it in
this package (sinkapp.faustio) and nowhere else, pinned by the version range in pyproject.toml;
``tests/test_faust_contract.py`` fails loudly when an upgrade changes any of it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from mode.utils.futures import notify

from sinkapp.faustio.assignor import install as install_assignor
from sinkapp.faustio.startgate import pass_start_gate

log = logging.getLogger(__name__)


class BatchMessage(ConsumerMessage):
    """One fetched batch of one partition: ``records`` in offset order, ``offset`` = the last's."""

    __slots__ = ("records", "first_offset", "prev_last", "next_offset", "fetch_from")

    records: list[Any]
    first_offset: int
    prev_last: int | None
    next_offset: int          # the consumer's position after this batch (past transaction markers)
    fetch_from: int | None    # the position these records were read from (None: a seek intervened)


def to_batch(tp: TP, records: list[Any], generation_id: int, prev_last: int | None,
             next_offset: int | None = None) -> BatchMessage:
    """Wrap aiokafka ``ConsumerRecord``s of one partition (non-empty, offset order)."""
    last = records[-1]
    ts = last.timestamp
    msg = BatchMessage(tp.topic, tp.partition, last.offset, ts / 1000.0 if ts is not None else 0.0,
                       last.timestamp_type, None, None, None, None, 0, 0, tp,
                       generation_id=generation_id)
    msg.records = records
    msg.first_offset = records[0].offset
    msg.prev_last = prev_last
    msg.fetch_from = None
    msg.next_offset = next_offset if next_offset is not None and next_offset > last.offset else last.offset + 1
    return msg


class BatchConsumer(faust_aiokafka.Consumer):
    """faust-streaming's aiokafka Consumer, yielding one :class:`BatchMessage` per partition per fetch."""

    def _new_consumer_thread(self) -> Any:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loaded: dict[TP, int] = {}          # last offset loaded per partition (this assignment)
        self.revoking: set[TP] = set()
        self.assigned_once = False               # readiness: the first assignment arrived
        self._prev_last: dict[TP, int] = {}      # last offset yielded since the last seek
        self._seeks = 0                          # bumped around every seek: a fetch it overlaps is suspect
        self._owned: frozenset[TP] | None = None # assignment() as of the last rebalance callback

    # -- fetch ----------------------------------------------------------------------------
    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # type: ignore[override]
        seeks_before = self._seeks
        try:
            before = self._positions(self.assignment())
        except Exception:
            before = {}
        records, active = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            # as stock Faust: a fetch that returns while flow is stopped seeks back
            try:
                await self.perform_seek()
            except Exception as exc:
                log.warning("exception performing seek when flow not active: %r", exc)
            return
        prev = self._prev_last
        positions = self._positions(records)
        for tp, recs in records.items():
            if not recs:
                continue
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                break
            if tp in self.revoking:
                continue
            if active is None or tp in active or tp in self._buffered_partitions:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                msg = to_batch(tp, recs, generation_id, prev.get(tp), positions.get(tp))
                # where these records were read from: the position before the drain, unless a seek
                # may have moved it in between (then unknown, and the route waits for a re-read)
                msg.fetch_from = before.get(tp) if self._seeks == seeks_before else None
                prev[tp] = msg.offset
                yield tp, msg

    def _positions(self, tps: Any) -> dict[TP, int]:
        """aiokafka's position of each partition after the records just fetched: past control
        batches (transaction markers) and compacted-away offsets. A read of an int the consumer
        thread wrote before handing the records over; empty when aiokafka's internals differ."""
        try:
            assignment = self._thread._ensure_consumer()._subscription.subscription.assignment
            return {tp: assignment.state_value(tp).position for tp in tps}
        except Exception:
            return {}

    async def seek(self, partition: TP, offset: int) -> None:
        self._seeks += 1
        self._prev_last.pop(partition, None)
        await super().seek(partition, offset)
        self._seeks += 1

    async def perform_seek(self) -> None:
        self._seeks += 1
        self._prev_last.clear()
        await super().perform_seek()
        self._seeks += 1

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Gaps are irrelevant to watermark commits (and a batch's own offsets are no gap)."""

    # -- acks and commits -----------------------------------------------------------------
    def ack(self, message: Any) -> bool:
        """Release the message from Faust's wait set; commits follow :meth:`mark_loaded` only."""
        if message.acked:
            return False
        message.acked = True
        self._unacked_messages.discard(message)
        notify(self._waiting_for_ack)
        return True

    def mark_loaded(self, tp: TP, last_offset: int) -> None:
        """Every record of ``tp`` up to ``last_offset`` is in StarRocks (or needs no load)."""
        if last_offset > self.loaded.get(tp, -1):
            self.loaded[tp] = last_offset

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Iterator[TP]:
        self._acked.clear()                      # skip-acks Faust recorded: never a commit source
        self._acked_index.clear()
        return iter([tp for tp in self.loaded
                     if topics is None or tp in topics or tp.topic in topics])

    def _new_offset(self, tp: TP) -> int | None:
        last = self.loaded.get(tp)
        return None if last is None else last + 1

    # -- rebalance ------------------------------------------------------------------------
    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Flush and commit the revoked partitions while they are still assigned, then revoke."""
        self.revoking |= set(revoked)
        self._owned = None
        try:
            hook: Callable[[set[TP]], Awaitable[None]] | None = getattr(self.app, "before_revoke", None)
            if hook is not None and revoked and not self.app.should_stop:
                await hook(set(revoked))
            if revoked:
                await self.commit(set(revoked))
        except Exception as exc:                 # the next owner's ledger makes a re-send exact
            log.warning("flush/commit before revoke failed: %r", exc)
        finally:
            for tp in revoked:
                self.loaded.pop(tp, None)
                self._prev_last.pop(tp, None)
            await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self.assigned_once = True
        self.revoking -= set(assigned)
        self._owned = None
        for tp in assigned:
            self.loaded.pop(tp, None)
        await super().on_partitions_assigned(assigned, generation_id)
        self._owned = None

    def owns(self, tp: TP) -> bool:
        """Is ``tp`` assigned here and not being revoked? (Called per fetched batch: Faust's
        ``assignment()`` builds a new set of every assigned partition each time, so the set is
        kept until the next rebalance callback; while one runs, ``revoking`` covers the old.)"""
        if tp in self.revoking:
            return False
        if self._owned is None:
            self._owned = frozenset(self.assignment())
        return tp in self._owned

    def subscribed_topics(self) -> set[str] | None:
        """The topics the Kafka consumer is subscribed to now; None before it started."""
        try:
            return set(self._thread._ensure_consumer().subscription())
        except Exception:
            return None

    def partition_offsets(self) -> list[tuple[TP, int | None, int | None, int | None]]:
        """(partition, last loaded offset, committed offset, end offset) of each assigned partition."""
        out = []
        for tp in sorted(self.assignment()):
            try:
                end = self.highwater(tp)
            except Exception:
                end = None
            out.append((tp, self.loaded.get(tp), self._committed_offset.get(tp), end))
        return out


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Reads with ``isolation_level=read_committed`` (records of aborted or open transactions upstream
    are never loaded; stock Faust does only in transactional apps); offers the table-affine assignor."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"     # read by AIOKafkaConsumer.start()
        install_assignor(self.app, consumer)             # sinkapp.assignment=affine (sinkapp.faustio.assignor)
        return consumer

    async def subscribe(self, topics: Iterable[str]) -> None:
        await pass_start_gate(self.app)      # the first JoinGroup waits at a --processes start barrier
        await super().subscribe(topics)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Never commit offsets of a deleted topic (``topics.regex``: routes stop when their topic is
        deleted): the broker answers UNKNOWN_TOPIC_OR_PARTITION, which aiokafka logs as an error and
        retries without end, holding the rebalance that removes the topic. A topic missing from the
        consumer's metadata is left out (nothing is left to read of it)."""
        consumer = self._ensure_consumer()
        known = {tp: off for tp, off in offsets.items() if consumer.partitions_for_topic(tp.topic)}
        if len(known) < len(offsets):
            log.info("not committing %s: no longer in Kafka's metadata (deleted)",
                     ", ".join(sorted({tp.topic for tp in offsets if tp not in known})))
        return True if not known else await super()._commit(known)  # type: ignore[no-any-return]

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """aiokafka's ``seek_to_committed`` asks the coordinator once per partition, one round trip
        after the other, and its fetcher then asks again, one partition at a time, for each that has
        no committed offset (measured: 12 s and 5 s for 1,500 partitions, before the first batch of
        every assignment). This asks once for all of them, seeks as it does, and resets the ones
        without a committed offset by ``auto.offset.reset`` in one request, as the fetcher would."""
        return await self.call_thread(self._seek_to_committed_at_once)  # type: ignore[no-any-return]

    async def _seek_to_committed_at_once(self) -> dict[TP, Any]:
        consumer = self._ensure_consumer()
        tps = sorted(consumer.assignment())
        committed = await consumer._coordinator.fetch_committed_offsets(tps) if tps else {}
        out: dict[TP, Any] = {}                  # None: nothing committed (as aiokafka's)
        for tp in tps:
            meta = committed.get(tp)
            offset = meta.offset if meta is not None and meta.offset != -1 else None
            out[tp] = offset
            if offset is not None and offset >= 0:
                consumer.seek(tp, offset)
        reset = {"earliest": consumer.seek_to_beginning, "latest": consumer.seek_to_end}.get(
            consumer._auto_offset_reset)
        missing = [tp for tp in tps if out[tp] is None]
        if missing and reset is not None:
            await reset(*missing)
        return out


class BatchTransport(faust_aiokafka.Transport):
    """The aiokafka transport with :class:`BatchConsumer` (installed by ``SinkApp._new_transport``)."""

    Consumer: ClassVar[Any] = BatchConsumer
