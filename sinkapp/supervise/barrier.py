"""The start barrier of ``sinkapp worker --processes N``: the children started together join the
consumer group together.

Why: a broker with ``group.initial.rebalance.delay.ms=0`` (Kafka's shipped server.properties, most
test and development brokers) gives a new group's first member every partition at once. A second
child joining a moment later starts a rebalance that the first one only learns of from its next
heartbeat (``heartbeat.interval.ms``, 3 s by default), and then it loads what it holds before giving
partitions up. Measured with 3 M rows on 12 partitions: the first 3 s ran on one child, the steady
rate was 1.37× one process's; with the children joining within milliseconds of each other, the
second join lands while the first is still completing its own, the broker answers the leader's
SyncGroup with REBALANCE_IN_PROGRESS, and both hold partitions 0.1 s later (benchmarks/throughput.py,
README "Benchmarks").

How: the parent listens on a loopback port (:class:`StartBarrier`, address known before any child
starts: ``--start-barrier HOST:PORT`` on the child's command line). Each child, just before its first
subscription (:class:`sinkapp.faustio.startgate.StartGate`), connects, says ``ready p<k>`` and waits
for ``go``. The parent says ``go`` to all of them when every child started has arrived, when a child
ends before arriving (it will be restarted; the others do not wait for it), when the parent is
stopping, or ``timeout_s`` after the barrier opened. After that, a child (a restarted one) gets
``go`` at once. A child that cannot reach the barrier joins without it (the child side's rule).

Who calls: :class:`sinkapp.supervise.parent.Supervisor` (``open``, ``release`` when a child ends or
the parent stops, ``close``); :func:`sinkapp.supervise.run_processes` makes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from sinkapp.faustio.startgate import GO, READY

log = logging.getLogger(__name__)


class StartBarrier:
    """Holds each child's first join until all ``n`` children are ready to join (or it is released)."""

    def __init__(self, n: int, timeout_s: float = 60.0, bind: str = "127.0.0.1") -> None:
        self.n, self.timeout_s = n, timeout_s
        self._sock = socket.socket()
        self._sock.bind((bind, 0))
        self._sock.listen(max(8, n))
        self._sock.setblocking(False)
        host, port = self._sock.getsockname()[:2]
        self.address = f"{host}:{port}"
        self.arrived: set[str] = set()          # children (p<k>) that said ready before the release
        self.released: str | None = None         # why it let them go, once it did
        self._waiting: list[asyncio.StreamWriter] = []
        self._server: asyncio.base_events.Server | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._arrive, sock=self._sock)
        self._timer = asyncio.get_running_loop().call_later(
            self.timeout_s, self.release, f"not every worker process was ready to join within {self.timeout_s:.0f}s")

    def release(self, why: str) -> None:
        """Let every waiting child (and every later one) go; the first reason is kept."""
        if self.released is not None:
            return
        self.released = why
        if self._timer is not None:
            self._timer.cancel()
        log.info("start barrier: %s; %d worker process(es) join the group now", why, len(self._waiting))
        waiting, self._waiting = self._waiting, []
        for w in waiting:
            self._go(w)

    async def close(self) -> None:
        self.release("the parent is stopping")
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        else:
            self._sock.close()

    def _go(self, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            w.write(GO)
            w.close()

    async def _arrive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10.0)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            return
        words = line.split()
        if len(words) != 2 or words[0] != READY:     # not a child of ours: say nothing
            writer.close()
            return
        if self.released is not None:
            self._go(writer)
            return
        self.arrived.add(words[1].decode(errors="replace"))
        self._waiting.append(writer)
        if len(self.arrived) >= self.n:
            self.release(f"all {self.n} worker processes are ready to join the group")
