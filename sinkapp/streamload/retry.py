"""Retrying one batch: same label every time, exponential backoff with jitter.

Who calls: the loader (:mod:`sinkapp.pipeline.loader`) for every Stream Load of a batch.
``load_with_retry`` returns the first success and re-raises a
:class:`~sinkapp.errors.LoadRejected` at once. Retriable errors are retried under the same label
up to ``max_retries`` (``-1`` = never give up); :class:`~sinkapp.errors.LoadPressure` (too many
versions, too many transactions, the HTTP concurrency limit) never counts against that bound and
is never given up on: the load waits, ``on_pressure`` lets the table's next batch grow, and the
same batch is sent again. :class:`~sinkapp.errors.LabelRunning` (an earlier attempt under the same
label, a crashed worker's for instance, is still in StarRocks) does not count against the bound
either: it is waited out, for as long as StarRocks may take to finish or abort that load
(``label_running_max_s``), then given up with a message that says so. ``should_abort()`` turning true (a rebalance or shutdown wants the events
back) raises :class:`~sinkapp.errors.LoadAborted` during any wait: the batch stays un-acked.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sinkapp.config.keys import default, default_s
from sinkapp.errors import LabelRunning, LoadAborted, LoadPressure, LoadRetriable
from sinkapp.streamload.client import LoadResult
from sinkapp.streamload.encoding import Body

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = default("sink.maxretries")                   # -1 = unlimited
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    pressure_max_delay_s: float = default_s("sinkapp.load.backoff.max.ms")   # the longest wait under load pressure
    #: how long a label may stay RUNNING before the load is given up: StarRocks finishes or aborts a
    #: load within its own timeout (600 s by default, the client's sinkapp.load.timeout.ms too), plus a minute
    label_running_max_s: float = default_s("sinkapp.load.timeout.ms") + 60.0

    def delay(self, attempt: int) -> float:
        d = min(self.max_delay_s, self.base_delay_s * (2 ** min(attempt, 16)))
        return d * (0.5 + random.random() / 2)

    def pressure_delay(self, times: int) -> float:
        """Wait before re-sending a batch StarRocks refused for load pressure the ``times``-th time
        in a row: 1 s, 2 s, 4 s, ... up to ``pressure_max_delay_s``, with jitter."""
        d = min(self.pressure_max_delay_s, 1.0 * (2 ** min(times - 1, 16)))
        return d * (0.75 + random.random() / 4)


async def _wait(delay: float, label: str, should_abort: Callable[[], bool],
                sleep: Callable[[float], Awaitable[None]]) -> None:
    waited = 0.0
    while True:
        if should_abort():
            raise LoadAborted(f"load of {label} abandoned: worker is rebalancing or stopping", label=label)
        if waited >= delay:
            return
        step = min(0.1, delay - waited)
        await sleep(step)
        waited += step


async def load_with_retry(client: Any, database: str, table: str, label: str,
                          body: bytes | Body, headers: Mapping[str, str], policy: RetryPolicy,
                          should_abort: Callable[[], bool] = lambda: False,
                          sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                          on_retry: Callable[[int, LoadRetriable], None] | None = None,
                          on_pressure: Callable[[LoadPressure], None] | None = None) -> LoadResult:
    attempt = pressed = polls = 0
    running_since: float | None = None
    while True:
        try:
            return await client.load(database, table, label, body, headers)
        except LabelRunning as exc:
            now = time.monotonic()
            running_since = now if running_since is None else running_since
            if now - running_since > policy.label_running_max_s:
                raise LabelRunning(f"label {label} has been RUNNING in StarRocks for {now - running_since:.0f} s, "
                                   f"longer than a load may take; see SHOW LOAD / get_load_state for it: {exc}",
                                   label=label, status=exc.status, response=exc.response) from None
            if on_retry is not None:
                on_retry(attempt + 1, exc)
            log.warning("load waits label=%s: %s", label, exc)
            await _wait(policy.delay(polls), label, should_abort, sleep)
            polls += 1
        except LoadPressure as exc:
            pressed += 1
            if on_pressure is not None:
                on_pressure(exc)
            delay = policy.pressure_delay(pressed)
            log.warning("load backoff label=%s reason=%s times=%d wait_s=%.1f: %s", label, exc.reason,
                        pressed, delay, str(exc)[:300])
            await _wait(delay, label, should_abort, sleep)
        except LoadRetriable as exc:
            attempt += 1
            if policy.max_retries >= 0 and attempt > policy.max_retries:
                raise type(exc)(f"gave up after {attempt} attempts (sink.maxretries={policy.max_retries}): "
                                f"{exc}", label=label, status=exc.status, response=exc.response) from None
            if on_retry is not None:
                on_retry(attempt, exc)
            log.warning("load retry label=%s attempt=%d reason=%s", label, attempt, exc)
            await _wait(policy.delay(attempt - 1), label, should_abort, sleep)
