"""Per-partition batch buffers (the decode loop is :mod:`sinkapp.pipeline.encode`).

Who calls: :class:`sinkapp.sink.RouteSink` when it takes, seals, loads and acks a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class PartitionBuffer:
    """A batch of one source partition: its encoded chunks and the events acked when it loads."""

    partition: int
    chunks: list[bytes | memoryview] = field(default_factory=list)
    rows: int = 0                 # rows in the body
    records: int = 0              # Kafka records covered (rows + tombstones)
    nbytes: int = 0
    first_offset: int = -1
    last_offset: int = -1
    started_at: float = 0.0
    replay: tuple[int, int] | None = None   # rebuilds the ledger's pending batch (first, last)
    events: list[Any] = field(default_factory=list)  # Faust events released (acked) after the load
    dead: list[Any] = field(default_factory=list)    # DeadLetters written before the batch is acked
    routed: dict[str, list[bytes | memoryview]] = field(default_factory=dict)  # rows for other tables
    routed_rows: dict[str, int] = field(default_factory=dict)
    dead_done: bool = False                          # the ledger says they were written already

    def __len__(self) -> int:
        return self.records

    def drop(self) -> None:
        """Let go of every event and chunk without acknowledging anything."""
        self.events.clear()
        self.chunks.clear()
        self.dead.clear()
        self.routed.clear()

    @property
    def bounds(self) -> tuple[int, int]:
        """The batch identity's offsets: the ledger's for a replayed batch, else first/last held."""
        return self.replay or (self.first_offset, self.last_offset)

    def covers(self, offset: int) -> bool:
        return self.records > 0 and self.first_offset <= offset <= self.last_offset
