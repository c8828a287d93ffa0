"""The dead-letter topic's producer (the letters themselves: :mod:`sinkapp.pipeline.letters`).

Who calls: the loader, through the :class:`~sinkapp.pipeline.ports.DeadLetters` port, with
``errors.tolerance=all``; ``send`` returns only when Kafka confirmed every dead letter.
"""

from __future__ import annotations

from typing import Any

from sinkapp.pipeline.letters import DeadLetter


class DeadLetterQueue:
    """Produces dead letters to one topic with ``acks=all`` and idempotence; ``send`` is confirmed."""

    def __init__(self, topic: str, bootstrap: str, security: dict[str, Any], *, connector: str,
                 context_headers: bool, max_request_size: int = 16 * 1024 * 1024) -> None:
        self.topic = topic
        self.connector = connector
        self.context_headers = context_headers
        self._bootstrap, self._security = bootstrap, security
        self._max_request_size = max_request_size
        self._producer: Any = None

    async def _client(self) -> Any:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                              enable_idempotence=True,
                                              max_request_size=self._max_request_size, **self._security)
            await self._producer.start()
        return self._producer

    async def send(self, letters: list[DeadLetter], task_id: str) -> None:
        """Write every letter and wait until Kafka confirmed all of them (raises on failure)."""
        producer = await self._client()
        futs = []
        for d in letters:
            headers = list(d.headers)
            if self.context_headers:
                headers += d.context_headers(self.connector, task_id)
            futs.append(await producer.send(self.topic, d.value, key=d.key, headers=headers))
        for f in futs:
            await f

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
