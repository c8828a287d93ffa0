"""The agent's take loop: Faust's ``Stream.noack_take`` without a timer while nothing is buffered.

Who calls: each route's agent (:func:`sinkapp.worker.app._add_agent`): ``async for events in
noack_batches(stream, max_, within_s)``.

Why: stock ``noack_take(max_, within)`` wakes every ``within`` seconds whether or not anything
arrived (``wait_for_stopped(buffer_full, timeout=within)``, a few tasks and timers each time).
With 500 routes and ``within`` 0.1 s that is 5,000 wake-ups a second of an idle worker: measured
(benchmarks/startup_routes.py, py-spy), about half the main thread, which starved the consumer
thread of the GIL while it fetched the first records. Here an empty buffer is waited on without a
timeout; once a batch is in, the loop waits up to ``within_s`` for ``max_`` of them, as stock.
Everything else is stock's, line for line: events are buffered by a stream processor, acks stay
off (the committer acks), a full buffer blocks the processor until it was handed over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from mode.utils.aiter import aiter
from mode.utils.futures import notify


async def noack_batches(stream: Any, max_: int, within_s: float) -> AsyncGenerator[list[Any], None]:
    """Lists of up to ``max_`` events of ``stream``, none acked, each handed over within
    ``within_s`` of its first event."""
    buffer: list[Any] = []
    arrived, full, consumed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    consuming: asyncio.Future[Any] | None = None
    acks_before = stream.enable_acks

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:                 # the buffer is being handed over
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take buffer found current_event is None")
            buffer.append(event)
            arrived.set()
            if len(buffer) >= max_:
                full.set()
                consumed.clear()
                await stream.wait(consumed)           # never more than max_ at a time
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(arrived)    # no timer while nothing is buffered
            if not full.is_set():
                await stream.wait_for_stopped(full, timeout=within_s)
            if buffer:
                consuming = stream.loop.create_future()
                try:
                    yield list(buffer)
                finally:
                    buffer.clear()
                    arrived.clear()
                    notify(consuming)
                    full.clear()
                    consumed.set()
    finally:
        stream.enable_acks = acks_before
        stream._processors.remove(add_to_buffer)
