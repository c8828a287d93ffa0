"""The batch ledger: durable per-partition record of batch boundaries (design §2, exactly-once).

Who calls: :class:`sinkapp.sink.RouteSink`. Before a batch's first load attempt the sink writes
``pending=(first, last)`` and waits until the write is confirmed by Kafka; after the load
succeeded it writes ``loaded=last`` (not awaited: losing it only makes the next owner re-send a
batch StarRocks already has under the same label, which is answered ``Label Already Exists``).

The worker that owns the partition next reads the entry before it handles the partition's first
record and rebuilds exactly the pending batch from the redelivered records, so
its label (derived from first/last offsets) is the same; records at or below ``loaded`` are
acknowledged without loading.

``KafkaLedger`` keeps entries in a compacted Kafka topic, one per route, partitioned like the
source topic.
``MemoryLedger`` is the same contract in a dict, for unit tests and for routes without Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson


@dataclass(frozen=True)
class Mark:
    """What the ledger knows of one source partition."""

    loaded: int = -1                       # last offset whose batch loaded; -1 = none recorded
    pending: tuple[int, int] | None = None  # (first, last) of the batch being loaded
    dead: bool = False                      # the pending batch's bad records are dead-lettered

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"loaded": self.loaded, "pending": list(self.pending) if self.pending else None}
        if self.dead:
            doc["dead"] = True
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> Mark:
        if not isinstance(doc, dict):
            return cls()
        p = doc.get("pending")
        return cls(loaded=int(doc.get("loaded", -1)), pending=(int(p[0]), int(p[1])) if p else None,
                   dead=bool(doc.get("dead", False)) and bool(p))


class Ledger(Protocol):
    def get(self, partition: int) -> Mark: ...

    async def load(self, partition: int) -> Mark: ...

    async def put(self, partition: int, mark: Mark, *, confirm: bool) -> None: ...


class MemoryLedger:
    """In-process ledger (unit tests; loses everything with the process)."""

    def __init__(self) -> None:
        self.marks: dict[int, Mark] = {}
        self.writes: list[tuple[int, Mark, bool]] = []

    def get(self, partition: int) -> Mark:
        return self.marks.get(partition, Mark())

    async def load(self, partition: int) -> Mark:
        return self.get(partition)

    async def put(self, partition: int, mark: Mark, *, confirm: bool) -> None:
        self.marks[partition] = mark
        self.writes.append((partition, mark, confirm))


class KafkaLedger:
    """Ledger on a compacted topic ``<group>-sinkapp-ledger-<topic>``, partitioned like the source.

    The entry of source partition p is the last record of ledger partition p (key ``p``), so
    reading it is one seek and one fetch; writes are acknowledged by all in-sync replicas.
    Not a Faust table: Faust's table recovery pauses every stream until it finishes and was
    seen to hang for minutes after rebalances in our soak (faust-streaming.md §6 lists such
    hangs); this ledger is read per partition, lazily, when its first record arrives.
    """

    def __init__(self, topic: str, bootstrap: str, security: dict[str, Any]) -> None:
        self.topic = topic
        self._bootstrap, self._security = bootstrap, security
        self._producer: Any = None
        self._consumer: Any = None
        self._marks: dict[int, Mark] = {}

    async def _clients(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                              **self._security)
            await self._producer.start()
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                              group_id=None, **self._security)
            await self._consumer.start()

    async def load(self, partition: int) -> Mark:
        """Read the partition's entry from Kafka (called when a partition's first record arrives)."""
        from aiokafka import TopicPartition

        await self._clients()
        tp = TopicPartition(self.topic, partition)
        self._consumer.assign([tp])
        end = (await self._consumer.end_offsets([tp]))[tp]
        mark = Mark()
        if end > 0:
            self._consumer.seek(tp, end - 1)
            records = await self._consumer.getmany(tp, timeout_ms=10_000)
            got = records.get(tp) or []
            if not got:
                raise TimeoutError(f"ledger {self.topic}[{partition}] did not answer within 10s")
            mark = Mark.from_json(orjson.loads(got[-1].value))
        self._marks[partition] = mark
        return mark

    def get(self, partition: int) -> Mark:
        return self._marks.get(partition, Mark())

    async def put(self, partition: int, mark: Mark, *, confirm: bool) -> None:
        await self._clients()
        self._marks[partition] = mark
        fut = await self._producer.send(self.topic, orjson.dumps(mark.to_json()),
                                        key=str(partition).encode(), partition=partition)
        if confirm:
            await fut

    async def close(self) -> None:
        for client in (self._producer, self._consumer):
            if client is not None:
                await client.stop()
        self._producer = self._consumer = None
