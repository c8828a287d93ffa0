"""Fakes of the Faust and aiokafka objects the sink reads: records, a fetched batch, an event."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Msg:
    """A single-record Faust message (``.topic``, ``.partition``, ``.offset``, ``.value``)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class Record:
    """An aiokafka ``ConsumerRecord`` as the sink reads it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: tuple = ()
    timestamp: int | None = None


@dataclass
class Batch:
    """A :class:`sinkapp.consumer.BatchMessage`: one fetched batch of one partition."""

    topic: str
    partition: int
    records: list[Record]
    prev_last: int | None = None
    read_from: int | None = None          # the position it was read from (default: its first offset)
    offset: int = -1                      # the last record's (set from records)
    first_offset: int = -1
    fetch_from: int | None = None

    def __post_init__(self) -> None:
        self.offset, self.first_offset = self.records[-1].offset, self.records[0].offset
        self.fetch_from = self.first_offset if self.read_from is None else self.read_from


@dataclass
class Event:
    message: Any
    acked: bool = False
    extra: dict = field(default_factory=dict)
