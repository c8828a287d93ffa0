"""What the sink core needs from the world, as Protocols (the fakes in tests implement them).

- :class:`PartitionControl`: the consumer (sinkapp.faustio): ownership, taken records, acks, commit
  watermarks, re-seeks;
- :class:`StreamLoader`: the Stream Load client (sinkapp.streamload.client.StreamLoadClient);
- :class:`DeadLetters`: the dead-letter topic (sinkapp.kafka.dlq.DeadLetterQueue);
- :class:`SourceReader`: reads a range of a source partition again (sinkapp.kafka.refetch.SourceReader);
- the ledger is :class:`sinkapp.pipeline.ledger.Ledger`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sinkapp.pipeline.types import Part
from sinkapp.streamload.encoding import Body


class PartitionControl(Protocol):
    def accepts(self, part: Part) -> bool:
        """Assigned here and not being revoked: batches of it may be taken."""

    def owns(self, part: Part) -> bool:
        """Assigned here: batches of it may be loaded."""

    def taken(self, event: Any) -> None:
        """The rows of the event's records are encoded: the consumer may free the records (the event
        is acknowledged later; Kafka keeps the records for a re-read)."""

    def ack(self, event: Any) -> None:
        """Release a Faust event (it no longer blocks Faust's drain)."""

    def mark_loaded(self, part: Part, last_offset: int) -> None:
        """Every record of ``part`` up to ``last_offset`` is in StarRocks (or needs no load)."""

    def reseek(self, part: Part, offset: int | None) -> None:
        """Read ``part`` again from ``offset`` (None: from the committed offset)."""


class StreamLoader(Protocol):
    async def load(self, database: str, table: str, label: str, body: bytes | Body,
                   headers: Mapping[str, str]) -> Any: ...

    async def load_state(self, database: str, label: str) -> str: ...

    async def error_log(self, url: str) -> str: ...


class DeadLetters(Protocol):
    topic: str

    async def send(self, letters: list[Any], task_id: str) -> None: ...


class SourceReader(Protocol):
    async def read(self, part: Part, first: int, last: int) -> list[Any]: ...
