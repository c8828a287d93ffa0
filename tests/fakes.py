"""Fakes of the two Faust objects the sink reads: a message and an event around it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class Event:
    message: Msg
    acked: bool = False
