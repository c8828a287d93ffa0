"""The sink core's partition control on the batch consumer (:class:`PartitionControl`).

Who calls: the pipeline (acks, watermarks, ownership checks, re-seeks after a gap). The consumer
is looked up on every call: Faust creates it when the worker starts, after the app is built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from faust.types import TP

from sinkapp.faustio.consumer import BatchConsumer
from sinkapp.pipeline.types import Part


class ConsumerControl:
    def __init__(self, consumer: Callable[[], BatchConsumer]) -> None:
        self._consumer = consumer
        self._seeks: set[asyncio.Future[Any]] = set()

    def accepts(self, part: Part) -> bool:
        return self._consumer().owns(TP(part.topic, part.partition))

    def owns(self, part: Part) -> bool:
        return TP(part.topic, part.partition) in self._consumer().assignment()

    def taken(self, event: Any) -> None:
        event.message.records = []           # a BatchMessage's records: the sink holds their rows now

    def ack(self, event: Any) -> None:
        event.ack()

    def mark_loaded(self, part: Part, last_offset: int) -> None:
        self._consumer().mark_loaded(TP(part.topic, part.partition), last_offset)

    def reseek(self, part: Part, offset: int | None) -> None:
        c = self._consumer()
        fut = asyncio.ensure_future(c.seek(TP(part.topic, part.partition), offset) if offset is not None
                                    else c.perform_seek())
        self._seeks.add(fut)
        fut.add_done_callback(self._seeks.discard)
