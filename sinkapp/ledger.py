"""The batch ledger: durable per-partition record of batch boundaries (design §2, exactly-once).

Who calls: :class:`sinkapp.sink.RouteSink`. Before a batch's first load attempt the sink writes
``pending=(first, last)`` and waits until the write is confirmed by Kafka; after the load
succeeded it writes ``loaded=last`` (not awaited: losing it only makes the next owner re-send a
batch StarRocks already has under the same label, which is answered ``Label Already Exists``).

The worker that owns the partition next reads the entry after Faust's table recovery (streams
stay paused until then) and rebuilds exactly the pending batch from the redelivered records, so
its label (derived from first/last offsets) is the same; records at or below ``loaded`` are
acknowledged without loading.

``FaustLedger`` keeps entries in a Faust table (one per route, partitions = the source topic's,
so Faust's co-partitioning assigns ledger partition p with source partition p). Writes go
straight to the table's changelog with an explicit partition (no ``partition_for_key`` trap, no
attachment to the current event) and into the local store.
``MemoryLedger`` is the same contract in a dict, for unit tests and for routes without Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import faust
import orjson


@dataclass(frozen=True)
class Mark:
    """What the ledger knows of one source partition."""

    loaded: int = -1                       # last offset whose batch loaded; -1 = none recorded
    pending: tuple[int, int] | None = None  # (first, last) of the batch being loaded

    def to_json(self) -> dict[str, Any]:
        return {"loaded": self.loaded, "pending": list(self.pending) if self.pending else None}

    @classmethod
    def from_json(cls, doc: Any) -> Mark:
        if not isinstance(doc, dict):
            return cls()
        p = doc.get("pending")
        return cls(loaded=int(doc.get("loaded", -1)), pending=(int(p[0]), int(p[1])) if p else None)


class Ledger(Protocol):
    def get(self, partition: int) -> Mark: ...

    async def put(self, partition: int, mark: Mark, *, confirm: bool) -> None: ...


class MemoryLedger:
    """In-process ledger (unit tests; loses everything with the process)."""

    def __init__(self) -> None:
        self.marks: dict[int, Mark] = {}
        self.writes: list[tuple[int, Mark, bool]] = []

    def get(self, partition: int) -> Mark:
        return self.marks.get(partition, Mark())

    async def put(self, partition: int, mark: Mark, *, confirm: bool) -> None:
        self.marks[partition] = mark
        self.writes.append((partition, mark, confirm))


class FaustLedger:
    """Ledger on a Faust table's changelog topic (``<group>-sinkapp-ledger-<topic>-changelog``)."""

    def __init__(self, app: Any, topic: str, partitions: int) -> None:
        schema: faust.Schema = faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        self.table = app.Table(f"sinkapp-ledger-{topic}", partitions=partitions, schema=schema,
                               help=f"sinkapp batch ledger of topic {topic}")

    def get(self, partition: int) -> Mark:
        # Faust's recovery decodes the changelog's JSON bytes: key 0 (int), value a dict
        doc = self.table.data.get(partition)
        if isinstance(doc, bytes | str):
            doc = orjson.loads(doc)
        return Mark.from_json(doc)

    async def put(self, partition: int, mark: Mark, *, confirm: bool) -> None:
        doc = mark.to_json()
        self.table.data[partition] = doc             # the same shape recovery produces
        key, value = str(partition).encode(), orjson.dumps(doc)
        fut = await self.table.changelog_topic.send(key=key, value=value, partition=partition, force=True)
        if confirm:
            await fut
