"""The batch ledger on its compacted Kafka topic (the state and record format:
:mod:`sinkapp.pipeline.ledger`).

Who calls: the worker builds one per consumer group (``sinkapp.ledger.topic``); the pipeline uses it
through the :class:`~sinkapp.pipeline.ledger.Ledger` protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sinkapp.pipeline.ledger import BatchRecord, Entry, State
from sinkapp.pipeline.types import Part

log = logging.getLogger(__name__)


class KafkaLedger:
    """The ledger on its compacted topic (created by the app at start, see sinkapp.kafka.admin)."""

    def __init__(self, topic: str, bootstrap: str, security: dict[str, Any]) -> None:
        self.topic = topic
        self._bootstrap, self._security = bootstrap, security
        self._producer: Any = None
        self._consumer: Any = None
        self._tps: list[Any] = []
        self._state = State()
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._pending: set[asyncio.Future[Any]] = set()
        self._tail: asyncio.Task[None] | None = None
        self._reads = self._read_ok = 0                # reads begun; the last that finished well

    async def _start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                              enable_idempotence=True, linger_ms=2, **self._security)
            await self._producer.start()
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                              group_id=None, **self._security)
            await self._consumer.start()
            from sinkapp.kafka.admin import partitions_of

            parts = await partitions_of(self._bootstrap, self._security, self.topic)
            if not parts:
                raise ConnectionError(f"ledger topic {self.topic} has no partitions (does it exist?)")
            self._tps = [TopicPartition(self.topic, p) for p in parts]
            self._consumer.assign(self._tps)
            await self._consumer.seek_to_beginning(*self._tps)

    async def catch_up(self) -> None:
        """Apply every record confirmed before this call; callers waiting share the next read."""
        asked = self._reads
        async with self._read_lock:
            if self._read_ok > asked:                  # a read begun after this call has finished
                return
            self._reads += 1
            await self._start()
            ends = await self._consumer.end_offsets(self._tps)
            while True:
                behind = [tp for tp in self._tps if await self._consumer.position(tp) < ends[tp]]
                if not behind:
                    break
                got = await self._consumer.getmany(*behind, timeout_ms=1000)
                for recs in got.values():
                    for r in recs:
                        self._state.apply(r.key, r.value)
            self._read_ok = self._reads
        if self._tail is None:
            self._tail = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        """Keep reading what other workers write, so the next catch-up has little to read."""
        while True:
            try:
                async with self._read_lock:
                    got = await self._consumer.getmany(timeout_ms=200)
                    for recs in got.values():
                        for r in recs:
                            self._state.apply(r.key, r.value)
                await asyncio.sleep(0.5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:                   # catch_up reports a real outage
                log.debug("ledger follow: %r", exc)
                await asyncio.sleep(1.0)

    def entry(self, part: Part) -> Entry:
        return self._state.entries.get(part, Entry())

    def batch(self, label: str) -> BatchRecord | None:
        return self._state.batches.get(label)

    def marked(self, name: str) -> bool:
        return name in self._state.marks

    def entries(self) -> dict[Part, Entry]:
        """Every partition entry read so far (the whole topic after ``catch_up``)."""
        return dict(self._state.entries)

    async def write(self, entries: Callable[[], Mapping[Part, Entry]], batches: Sequence[BatchRecord] = (),
                    drop: Sequence[str] = (), marks: Sequence[str] = ()) -> None:
        """Write (values computed now, sent in that order) and wait until Kafka confirmed all."""
        await self._start()
        futs = []
        async with self._write_lock:
            for key, value in self._state.records(entries(), batches, drop, marks):
                fut = await self._producer.send(self.topic, value, key=key)
                self._pending.add(fut)
                fut.add_done_callback(self._pending.discard)
                futs.append(fut)
        await asyncio.gather(*futs)

    async def flush(self) -> None:
        """Wait until every record sent so far is confirmed or failed (before a revoke ends, so a
        late write of this worker can never land after the next owner's)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        if self._tail is not None:
            self._tail.cancel()
            await asyncio.gather(self._tail, return_exceptions=True)
            self._tail = None
        for client in (self._producer, self._consumer):
            if client is not None:
                await client.stop()
        self._producer = self._consumer = None
