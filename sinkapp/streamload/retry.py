"""Retry policy for one batch: same label every time, exponential backoff with jitter.

Who calls: the route sink's flush. ``load_with_retry`` returns the first success, re-raises a
:class:`~sinkapp.errors.LoadRejected` at once, and gives up on retriable errors after
``max_retries`` retries (``-1`` = never) or as soon as ``should_abort()`` turns true (a
rebalance or shutdown wants the events back; the batch is left un-acked for the next owner).
A label reported RUNNING is polled, not counted as a failed attempt beyond the deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sinkapp.errors import LoadRetriable
from sinkapp.streamload.client import LoadResult, StreamLoadClient

log = logging.getLogger(__name__)


class LoadAborted(LoadRetriable):
    """Retrying stopped because the worker is rebalancing or stopping; the batch stays un-acked."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3            # sink.maxretries; -1 = unlimited
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int) -> float:
        d = min(self.max_delay_s, self.base_delay_s * (2 ** min(attempt, 16)))
        return d * (0.5 + random.random() / 2)


async def load_with_retry(client: StreamLoadClient, database: str, table: str, label: str, body: bytes,
                          headers: Mapping[str, str], policy: RetryPolicy,
                          should_abort: Callable[[], bool] = lambda: False,
                          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                          on_retry: Callable[[int, LoadRetriable], None] | None = None) -> LoadResult:
    attempt = 0
    while True:
        try:
            return await client.load(database, table, label, body, headers)
        except LoadRetriable as exc:
            attempt += 1
            if policy.max_retries >= 0 and attempt > policy.max_retries:
                raise LoadRetriable(f"gave up after {attempt} attempts (sink.maxretries="
                                    f"{policy.max_retries}): {exc}", label=label,
                                    status=exc.status, response=exc.response) from None
            if on_retry is not None:
                on_retry(attempt, exc)
            log.warning("load retry label=%s attempt=%d reason=%s", label, attempt, exc)
            delay = policy.delay(attempt - 1)
            waited = 0.0
            while waited < delay:
                if should_abort():
                    raise LoadAborted(f"load of {label} abandoned: worker is rebalancing or stopping",
                                      label=label, status="aborted") from None
                step = min(0.1, delay - waited)
                await sleep(step)
                waited += step
            if should_abort():
                raise LoadAborted(f"load of {label} abandoned: worker is rebalancing or stopping",
                                  label=label, status="aborted") from None
