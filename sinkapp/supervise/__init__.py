"""``sinkapp worker --processes N``: N worker processes in one consumer group under one parent.

Who calls: :func:`sinkapp.cli.main` for ``worker`` when N > 1 (with N = 1 the worker runs in the
command's own process, as before, and none of this is used).

The parent validates the configuration (an error exits 2 before any child starts), serves the one
web port (:mod:`.pages`), starts child ``k`` as ``sinkapp worker`` with ``--datadir <datadir>/p<k>``
and a loopback web port of its own, holds each child's first group join until all are ready to
join (:mod:`.barrier`), prefixes each line a child writes with ``p<k> | ``, restarts a
child that dies with back-off (:mod:`.policy`), and forwards SIGTERM / SIGINT so every child drains
and commits as one worker does (:mod:`.parent`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from sinkapp.errors import ConfigError, UsageError
from sinkapp.supervise.barrier import StartBarrier
from sinkapp.supervise.child import Launch
from sinkapp.supervise.parent import Supervisor

MAX_PROCESSES = 256
log = logging.getLogger(__name__)


def host_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's cpuset counts)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def processes_count(value: str | int) -> int:
    """``--processes``: a number 1..256, or ``auto`` for the host's cores."""
    if str(value).strip().lower() == "auto":
        return host_cores()
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_PROCESSES:
        raise UsageError(f"--processes {value!r}: give a number of worker processes from 1 to {MAX_PROCESSES}, "
                         "or auto (one per core of this host)")
    return n


def worker_launch(config_path: str, datadir: str, loglevel: str, extra: list[str],
                  barrier: str | None = None) -> Launch:
    """Child ``k``: ``python -m sinkapp.cli worker`` with its own data directory and web port (and
    the start barrier's address, :mod:`.barrier`)."""
    def launch(index: int, web_port: int | None) -> tuple[list[str], dict[str, str]]:
        own = Path(datadir) / f"p{index}"
        own.mkdir(parents=True, exist_ok=True)       # Faust makes only the last level
        argv = [sys.executable, "-m", "sinkapp.cli", "worker", "--config", config_path,
                "--datadir", str(own), "-l", loglevel]
        if barrier is not None:
            argv += ["--start-barrier", f"p{index}@{barrier}"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("SINKAPP_SINKAPP_WEB_PORT", None)
        if web_port is None:
            argv.append("--without-web")
        else:
            argv += ["--web-port", str(web_port), "--web-bind", "127.0.0.1"]
            env["SINKAPP_WEB_PORT"] = str(web_port)
        return argv + extra, env
    return launch


def _log_to_stderr(loglevel: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("parent | [%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"))
    root = logging.getLogger("sinkapp.supervise")
    root.addHandler(handler)
    root.setLevel(loglevel.upper() if loglevel.upper() in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO")
    root.propagate = False


def run_processes(config_path: str | None, n: int, *, datadir: str | None = None, loglevel: str = "info",
                  web_port: int | None = None, web_bind: str | None = None, without_web: bool = False,
                  extra: list[str] | None = None) -> int:
    """Run ``n`` worker processes until SIGTERM / SIGINT; the parent's exit status (:mod:`.parent`)."""
    from sinkapp.config import load_settings

    settings = load_settings(config_path)            # a configuration error exits 2 here, before any child
    assert config_path is not None and settings.kafka is not None
    _log_to_stderr(loglevel)
    port = web_port if web_port is not None else int(os.environ.get("SINKAPP_WEB_PORT", settings.web_port))
    bind = web_bind if web_bind is not None else settings.web_bind
    base = datadir or f"{settings.kafka.group_id}-data"
    barrier = StartBarrier(n)
    launch = worker_launch(os.path.abspath(config_path), base, loglevel, list(extra or []), barrier.address)
    sup = Supervisor(n, launch, with_web=not without_web,
                     stop_timeout_s=max(60.0, 3 * settings.drain_timeout_ms / 1000.0) + 60.0,
                     out=sys.stderr.buffer, barrier=barrier)
    log.info("starting %d worker processes in group %s (data directories %s/p0..p%d%s)", n,
             settings.kafka.group_id, base, n - 1, "" if without_web else f"; pages on {bind}:{port}")
    return asyncio.run(_serve(sup, settings.name, bind, port, without_web))


async def _serve(sup: Supervisor, name: str, bind: str, port: int, without_web: bool) -> int:
    pages = None
    if not without_web:
        from sinkapp.supervise.pages import Pages

        pages = Pages(sup, bind, port, name)
        try:
            await pages.start()                      # a port in use fails here, before any child starts
        except OSError as exc:
            await pages.close()
            raise ConfigError(f"sinkapp.web.port: cannot serve the pages on {bind}:{port}: {exc.strerror or exc}; "
                              "choose another port (--web-port)") from None
    try:
        return await sup.run()
    finally:
        if pages is not None:
            await pages.close()


__all__ = ["processes_count", "run_processes", "host_cores"]
