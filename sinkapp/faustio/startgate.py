"""A child worker's side of the ``--processes`` start barrier: wait, before the first subscription
(the consumer's first JoinGroup), until the parent says the worker processes started together all
are ready, so that they join the group together (why: :mod:`sinkapp.supervise.barrier`).

Who calls: :class:`sinkapp.faustio.consumer.BatchConsumerThread`, once, before its first
``subscribe``, when the worker was started with ``--start-barrier HOST:PORT`` (the parent of
``sinkapp worker --processes N`` passes it; a worker started any other way has no gate). ``wait``
returns what happened, for the log; it never raises: a barrier that cannot be reached or does not
answer within ``timeout_s`` only costs the shared first assignment, never the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

#: the barrier's line protocol: the child says ``ready <name>``, the parent answers ``go``
READY, GO = b"ready", b"go\n"


class StartGate:
    def __init__(self, address: str, name: str, timeout_s: float = 90.0) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port, self.name, self.timeout_s = host, int(port), name, timeout_s

    async def wait(self) -> str:
        t0 = time.monotonic()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 5.0)
            writer.write(READY + b" " + self.name.encode() + b"\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.readline(), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            return (f"the start barrier at {self.host}:{self.port} did not let this process go "
                    f"({type(exc).__name__}: {exc or 'no answer'}); joining the group without it")
        finally:
            if writer is not None:
                writer.close()
        if answer != GO:
            return (f"the start barrier at {self.host}:{self.port} closed without a go; "
                    "joining the group without it")
        return f"start barrier passed after {time.monotonic() - t0:.2f}s: joining the group with the other worker processes"


async def pass_start_gate(app: Any) -> None:
    """Wait at ``app.start_gate`` once, if it has one (the first subscription's caller)."""
    gate, app.start_gate = getattr(app, "start_gate", None), None
    if gate is not None:
        log.info("%s", await gate.wait())
