"""The broker JVM seen from outside: its state file, pids, ports, signals and log tails.

Who calls what:

* :class:`~sinkapp_testkit.kafka.broker.LocalKafka` picks ports with :func:`free_port`, probes
  them with :func:`tcp_open`, launches the JVM with :func:`die_with_parent` as ``preexec_fn``,
  records it with :func:`write_state` once it serves, and stops it with :func:`terminate`.
* :func:`read_state` answers "is a broker running from this home?" for ``LocalKafka.start``
  (:class:`BrokerAlreadyRunning`), ``LocalKafka.stop`` (a broker started by another process)
  and the CLI's ``status``/``stop``; :func:`iter_states` finds every broker below a directory
  for ``stop --under`` (``.ci/run``'s clean-up after a crashed pytest).
* :func:`tail_text`/:func:`tail_file`/:func:`log_excerpt` shorten Maven, StorageTool and
  server.log output for the :class:`~sinkapp.errors.InfraError` messages raised by jars.py,
  config.py and broker.py.

The state file is ``<home>/run/broker.json``; it exists only while the broker runs, and a stale
one (pid dead or reused by another program) is removed the first time it is read.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from sinkapp.errors import InfraError

LOG_TAIL_LINES = 30


# --------------------------------------------------------------------------------------------
# Log tails, ports, pids
# --------------------------------------------------------------------------------------------

def tail_text(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def tail_file(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a (possibly huge) log file, or a note that it is missing."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 256 * 1024))
            return tail_text(fh.read().decode("utf-8", "replace"), lines)
    except OSError:
        return f"(no log at {path})"


def log_excerpt(log_path: Path, offset: int) -> str:
    """For error messages: the log path, the first ERROR after ``offset`` (the start being
    reported on), if any, and the last ``LOG_TAIL_LINES`` lines of the log."""
    first: list[str] = []
    with contextlib.suppress(OSError), log_path.open("rb") as fh:
        fh.seek(offset)
        for raw in fh:
            line = raw.decode("utf-8", "replace").rstrip()
            if first or " ERROR " in line or line.startswith(("Exception", "Error")):
                first.append(line)
                if len(first) == 3:
                    break
    first_text = "\n--- first error ---\n" + "\n".join(first) if first else ""
    return (f"; log {log_path}{first_text}\n--- last {LOG_TAIL_LINES} lines ---\n"
            f"{tail_file(log_path)}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_open(port: int) -> bool:
    """True when 127.0.0.1:``port`` accepts a TCP connection within half a second."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def is_our_broker(pid: int, server_properties: Path) -> bool:
    """The pid is alive and is ``kafka.Kafka`` run on this home's server.properties."""
    if not pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the state file
    return b"kafka.Kafka" in argv and str(server_properties).encode() in argv


def die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM the broker when the starting thread exits."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_child(proc: subprocess.Popen[bytes] | None, timeout_s: float, sig: int = signal.SIGTERM) -> None:
    """A child process of ours: ``sig`` (its graceful stop), SIGKILL if it has not exited after ``timeout_s``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def terminate(pid: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if proc is None and not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(timeout=10)
    else:
        end = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < end:
            time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# State file
# --------------------------------------------------------------------------------------------

@dataclass
class BrokerState:
    """Contents of ``<home>/run/broker.json`` while a broker runs."""

    pid: int
    port: int
    controller_port: int
    sasl_port: int | None
    bootstrap_servers: str
    sasl_bootstrap_servers: str | None
    home: str
    log: str
    kafka_version: str
    started_at: float


class BrokerAlreadyRunning(InfraError):
    """A broker from the same home is already running; ``state`` says which."""

    def __init__(self, state: BrokerState) -> None:
        super().__init__(
            f"a Kafka broker is already running from {state.home}: pid {state.pid}, "
            f"bootstrap {state.bootstrap_servers}; stop it first with "
            f"`python -m sinkapp_testkit.kafka stop --home {state.home}`")
        self.state = state


class PortTaken(InfraError):
    """The broker exited at start because a port it was given is taken (the JVM's "Address already in
    use", read from its log where the start fails)."""


def write_state(path: Path, state: BrokerState) -> None:
    """Write ``state`` to ``path`` atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    tmp.replace(path)


def read_state(home: Path) -> BrokerState | None:
    """The state of the broker running from ``home``, or None (stale files are removed)."""
    home = home.resolve()
    path = home / "run" / "broker.json"
    try:
        state = BrokerState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not is_our_broker(state.pid, home / "config" / "server.properties"):
        path.unlink(missing_ok=True)
        return None
    return state


def iter_states(root: Path) -> Iterator[BrokerState]:
    """Every live broker whose home is under ``root`` (used by .ci/run's clean-up)."""
    for path in root.rglob("run/broker.json"):
        state = read_state(path.parent.parent)
        if state is not None:
            yield state
