"""Re-read a range of a source partition from Kafka (offsets ``first..last``).

Who calls: the sink core (:mod:`sinkapp.pipeline.rebuild`) when StarRocks refuses a table batch
for its data, and when a previous owner's pending batch must be sent again: batches hold only
encoded rows, so the original records (key, value, headers: what a dead letter carries) are read
again from Kafka, where they still are, since nothing of a batch is committed before it loads. A
group-less consumer with manual assignment, so it never touches the worker's consumer group.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


class SourceReader:
    def __init__(self, bootstrap: str, security: dict[str, Any], timeout_s: float = 30.0) -> None:
        self._bootstrap, self._security = bootstrap, security
        self.timeout_s = timeout_s
        self._consumer: Any = None
        self._lock = asyncio.Lock()              # one consumer: partitions are read one at a time

    async def read(self, part: tuple[str, int], first: int, last: int) -> list[Any]:
        """The records of ``part`` (topic, partition) with ``first <= offset <= last``, in offset order.

        Raises TimeoutError when Kafka does not return up to ``last`` within the timeout (the
        records were deleted by retention, or Kafka is unreachable). Concurrent calls (two
        partitions rejected at once) take turns on the one consumer."""
        async with self._lock:
            return await self._read(part[0], part[1], first, last)

    async def _read(self, topic: str, partition: int, first: int, last: int) -> list[Any]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        if self._consumer is None:
            # read committed, as the worker does: a rebuilt batch holds exactly the records it held
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                              isolation_level="read_committed",
                                              group_id=None, max_partition_fetch_bytes=8 << 20,
                                              **self._security)
            await self._consumer.start()
        c, tp = self._consumer, TopicPartition(topic, partition)
        c.assign([tp])
        c.seek(tp, first)
        out: list[Any] = []
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            got = (await c.getmany(tp, timeout_ms=500)).get(tp) or []
            for r in got:
                if r.offset > last:
                    return out
                out.append(r)
            if out and out[-1].offset >= last:
                return out
        raise TimeoutError(f"{topic}[{partition}] offsets {first}..{last} could not be read again "
                           f"within {self.timeout_s:g}s (deleted by retention, or Kafka unreachable)")

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
