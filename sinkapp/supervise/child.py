"""One child worker process of ``sinkapp worker --processes N``: start it, relay its output with its
name in front, signal it, wait for it.

Who calls: :class:`sinkapp.supervise.parent.Supervisor`. The command line and environment of a
start come from a ``Launch`` callable (``sinkapp worker`` for real, a small script in tests).

Each child runs in a session of its own, so a terminal's Ctrl-C reaches the parent only and each
child receives exactly one forwarded signal; on Linux the kernel also sends it SIGTERM if the
parent dies (``PR_SET_PDEATHSIG``), so a parent killed with -9 leaves no worker behind in the
group: the children drain, commit and exit.
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import IO

PR_SET_PDEATHSIG = 1
LINE_LIMIT = 8 << 20             # a longer log line is relayed cut (a bad record's text with errors.log.include.messages)

#: (child index, its internal web port or None) → (argv, environment)
Launch = Callable[[int, "int | None"], tuple[list[str], dict[str, str]]]


def free_port(bind: str = "127.0.0.1") -> int:
    """A port nothing listens on now (a child binds it a moment later; a lost race is a crash that
    the restart, with a new port, recovers from)."""
    with socket.socket() as s:
        s.bind((bind, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:                 # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):            # not Linux: the parent's own stop covers the usual cases
        pass


class Child:
    """Process state of child ``index``; ``name`` is ``p<index>``, the prefix of its log lines, its
    ``process`` label and its data directory's name."""

    def __init__(self, index: int, launch: Launch, with_web: bool, out: IO[bytes] | None = None) -> None:
        self.index, self.name = index, f"p{index}"
        self._launch, self._with_web = launch, with_web
        self._out = out if out is not None else sys.stdout.buffer
        self.proc: asyncio.subprocess.Process | None = None
        self.web_port: int | None = None
        self.started_at = 0.0
        self._relay: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        self.web_port = free_port() if self._with_web else None
        argv, env = self._launch(self.index, self.web_port)
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True, preexec_fn=_die_with_parent,
            limit=LINE_LIMIT)
        self.started_at = time.monotonic()
        self._relay = asyncio.create_task(self._relay_lines(self.proc.stdout))

    async def _relay_lines(self, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        prefix = f"{self.name} | ".encode()
        while True:
            try:
                line = await stream.readline()
            except ValueError:                   # a line over LINE_LIMIT: its rest, or what follows
                line = await stream.read(1 << 16)
            if not line:
                return
            self._out.write(prefix + (line if line.endswith(b"\n") else line + b"\n"))
            self._out.flush()

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    async def wait(self) -> int:
        """Until the process ends and its output is relayed; its return code."""
        assert self.proc is not None
        rc = await self.proc.wait()
        if self._relay is not None:
            await self._relay
        return rc
