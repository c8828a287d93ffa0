"""The parent of ``sinkapp worker --processes N``: starts N child workers, restarts those that die
(:mod:`.policy` decides), forwards SIGTERM / SIGINT and waits until every child has drained.

Who calls: :func:`sinkapp.supervise.run_processes` (``asyncio.run(Supervisor(...).run())``); its
return value is the parent's exit status: 0 when every child stopped cleanly after the parent was
asked to stop, the status :class:`~.policy.GiveUp` names when a child was given up (2: a
configuration error; 1: a crash loop), 1 when a child did not stop cleanly (it died while the others
drained, or the stop took over ``stop_timeout_s`` and the parent killed it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass
from typing import IO

from sinkapp.supervise.barrier import StartBarrier
from sinkapp.supervise.child import Child, Launch
from sinkapp.supervise.merge import ChildView
from sinkapp.supervise.policy import GiveUp, RestartPolicy, Stopped, decide, describe_exit

log = logging.getLogger(__name__)


@dataclass
class Slot:
    """A child index's supervision record, kept across its restarts."""
    child: Child
    state: str = "starting"                 # starting | running | restarting | stopping | stopped | failed
    restarts: int = 0
    deaths_in_a_row: int = 0
    last_exit: str | None = None
    clean: bool = True


class Supervisor:
    def __init__(self, n: int, launch: Launch, *, with_web: bool = True, policy: RestartPolicy | None = None,
                 stop_timeout_s: float = 120.0, out: IO[bytes] | None = None,
                 barrier: StartBarrier | None = None) -> None:
        self.barrier = barrier                  # the children's start barrier (their launch names its address)
        self.slots = [Slot(Child(i, launch, with_web, out)) for i in range(n)]
        self.policy = policy or RestartPolicy()
        self.stop_timeout_s = stop_timeout_s
        self.stopping = False
        self.gave_up: str | None = None
        self._give_up_code = 0
        self._wake: asyncio.Event | None = None
        self._killer: asyncio.TimerHandle | None = None

    def views(self) -> list[ChildView]:
        """Each child's supervision state (the pages add what its own pages answer)."""
        return [ChildView(s.child.name, s.child.pid if s.child.alive() else None, s.state, s.restarts,
                          s.last_exit, s.child.web_port if s.child.alive() else None) for s in self.slots]

    def request_stop(self, sig: int = signal.SIGTERM, reason: str | None = None) -> None:
        """Forward ``sig`` to every running child; no child is started again. Safe to call twice
        (a second Ctrl-C forwards a second SIGINT)."""
        if reason is not None and self.gave_up is None:
            self.gave_up = reason
        if not self.stopping:
            log.info("stopping %d worker processes (%s): each loads what it buffered and commits",
                     len(self.slots), reason or signal.Signals(sig).name)
            self._killer = asyncio.get_running_loop().call_later(self.stop_timeout_s, self._kill_all)
        self.stopping = True
        if self.barrier is not None:
            self.barrier.release("the parent is stopping")
        if self._wake is not None:
            self._wake.set()
        for s in self.slots:
            if s.child.alive():
                s.state = "stopping"
                s.child.signal(sig)

    def _kill_all(self) -> None:
        for s in self.slots:
            if s.child.alive():
                log.error("%s (pid %s) has not stopped %.0fs after the stop: killing it", s.child.name,
                          s.child.pid, self.stop_timeout_s)
                s.child.signal(signal.SIGKILL)

    async def run(self) -> int:
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        try:
            if self.barrier is not None:
                await self.barrier.open()
            await asyncio.gather(*(self._watch(s) for s in self.slots))
        finally:
            if self.barrier is not None:
                await self.barrier.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if self._killer is not None:
                self._killer.cancel()
        if self.gave_up is not None:
            return self._give_up_code
        return 0 if all(s.clean for s in self.slots) else 1

    async def _watch(self, slot: Slot) -> None:
        """Run one child index until the parent stops: start, wait, decide, back off, again."""
        child = slot.child
        while not self.stopping:
            slot.state = "starting"
            await child.start()
            slot.state = "running"
            log.info("%s started (pid %s%s)", child.name, child.pid,
                     f", web port {child.web_port}" if child.web_port else "")
            if self.stopping:                    # asked to stop while it was being started
                slot.state = "stopping"
                child.signal(signal.SIGTERM)
            rc = await child.wait()
            slot.last_exit = describe_exit(rc)
            if self.barrier is not None and child.name not in self.barrier.arrived:
                self.barrier.release(f"{child.name} ended before it was ready to join")
            d = decide(self.policy, rc, time.monotonic() - child.started_at, slot.deaths_in_a_row, self.stopping)
            if isinstance(d, Stopped):
                slot.state, slot.clean = "stopped", d.clean
                (log.info if d.clean else log.error)("%s (pid %s) stopped: %s", child.name, child.pid, slot.last_exit)
                return
            if isinstance(d, GiveUp):
                slot.state, slot.clean = "failed", False
                log.error("%s (pid %s) %s; stopping the other worker processes", child.name, child.pid, d.reason)
                self._give_up_code = self._give_up_code or d.exit_code
                self.request_stop(reason=f"{child.name} {d.reason}")
                return
            slot.state, slot.deaths_in_a_row = "restarting", d.deaths_in_a_row
            log.warning("%s (pid %s) ended (%s) after %.1fs; restarting it in %.1fs (%d in a row)", child.name,
                        child.pid, slot.last_exit, time.monotonic() - child.started_at, d.delay_s, d.deaths_in_a_row)
            assert self._wake is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), d.delay_s)
            if not self.stopping:
                slot.restarts += 1
        if slot.state == "restarting":           # stopped during its back-off: it never drained
            slot.state, slot.clean = "stopped", False
