"""A real single-node Apache Kafka broker (KRaft, broker+controller in one JVM) on loopback.

Who calls what:

* ``tests/conftest.py`` starts one :class:`LocalKafka` for the whole pytest session
  (``kafka`` fixture) and creates throw-away topics with :meth:`LocalKafka.create_topic`.
* Developers, the demo and the benchmarks use the command line::

      python -m sinkapp.testing.kafka fetch|start|stop|status     (or scripts/kafka ...)

* ``.ci/run`` calls ``fetch`` so the jars are in place before pytest starts the broker.

The jars come from Maven Central through ``sinkapp/testing/kafka-pom.xml`` (``mvn
dependency:copy-dependencies``) into ``$SINKAPP_KAFKA_HOME/libs``, by default ``<repo>/.kafka/libs``.
They are a cache shared by every broker; each broker's own files live in its *home*::

    <home>/config/server.properties, log4j2.properties
    <home>/data/                 KRaft metadata log and topic partitions (kept across restarts)
    <home>/logs/server.log       everything the JVM prints
    <home>/run/broker.json       pid, ports and bootstrap address while the broker runs

Every failure to provide the broker is raised as :class:`sinkapp.errors.InfraError` with a
message that says what to do.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sinkapp.errors import InfraError

POM = Path(__file__).with_name("kafka-pom.xml")
REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 30
DEFAULT_SASL_USERS = {"alice": "alice-secret"}
_JAVA_HINT = "install a Java 17+ JDK, e.g. apt-get install openjdk-17-jre-headless"
_T = TypeVar("_T")


# --------------------------------------------------------------------------------------------
# Locations and the jar cache
# --------------------------------------------------------------------------------------------

def kafka_version() -> str:
    """The Kafka version pinned in kafka-pom.xml (its ``kafka.version`` property)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise InfraError(f"{POM} has no <kafka.version> property")
    return (node.text or "").strip()


def kafka_home() -> Path:
    """``$SINKAPP_KAFKA_HOME``, else ``.kafka/`` at the repository root (git-ignored)."""
    env = os.environ.get("SINKAPP_KAFKA_HOME")
    if env:
        return Path(env).expanduser().resolve()
    root = REPO_ROOT if (REPO_ROOT / "pyproject.toml").exists() else Path.cwd()
    return root / ".kafka"


def libs_dir() -> Path:
    """Where the broker jars are cached: ``kafka_home()/libs``."""
    return kafka_home() / "libs"


def _marker(libs: Path) -> Path:
    return libs / ".sinkapp-kafka-version"


def jars_present(libs: Path | None = None) -> bool:
    """True when ``libs`` holds a complete fetch of the pinned version."""
    libs = libs or libs_dir()
    marker = _marker(libs)
    return marker.exists() and marker.read_text().strip() == kafka_version()


def fetch(libs: Path | None = None, *, force: bool = False) -> Path:
    """Download the broker jars with Maven unless they are already there; return the directory.

    Jars land in a temporary sibling directory first and replace ``libs`` only when Maven
    succeeded, so an interrupted fetch never leaves a half-filled cache behind.
    """
    libs = libs or libs_dir()
    if jars_present(libs) and not force:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("Maven (mvn) not found on PATH: it is needed to fetch the Kafka jars; "
                         "install it, e.g. apt-get install maven")
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = libs.with_name(f"{libs.name}.fetch-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(POM),
           "dependency:copy-dependencies", f"-DoutputDirectory={staging}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        tail = _tail_text(re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr), LOG_TAIL_LINES)
        raise InfraError(f"Maven could not fetch Kafka {kafka_version()} (exit {proc.returncode}): "
                         f"{' '.join(cmd)}\n--- last lines of mvn output ---\n{tail}")
    _marker(staging).write_text(kafka_version() + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    try:
        staging.rename(libs)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not jars_present(libs):  # a concurrent fetch that finished first is fine
            raise
    return libs


def find_java() -> str:
    """Path of a Java 17+ ``java`` ($JAVA_HOME first, then PATH) or InfraError."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if java is None:
        raise InfraError(f"java not found (neither $JAVA_HOME/bin/java nor on PATH): {_JAVA_HINT}")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0_..." style
        major = int(match.group(2))
    if major < 17:
        raise InfraError(f"{java} is Java {major or '?'}, Kafka {kafka_version()} needs 17+: {_JAVA_HINT}")
    return java


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _tail_file(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 256 * 1024))
            return _tail_text(fh.read().decode("utf-8", "replace"), lines)
    except OSError:
        return f"(no log at {path})"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tcp_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _pid_alive(pid: int) -> bool:
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


def _is_our_broker(pid: int, server_properties: Path) -> bool:
    """The pid is alive and is ``kafka.Kafka`` run on this home's server.properties."""
    if not _pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the state file
    return b"kafka.Kafka" in argv and str(server_properties).encode() in argv


def _run_sync(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from sync code, even when an event loop is running."""
    async def runner() -> _T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(runner())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(runner())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="LocalKafka-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM the broker when the starting thread exits."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


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
            f"`python -m sinkapp.testing.kafka stop --home {state.home}`")
        self.state = state


def read_state(home: Path) -> BrokerState | None:
    """The state of the broker running from ``home``, or None (stale files are removed)."""
    home = home.resolve()
    path = home / "run" / "broker.json"
    try:
        state = BrokerState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not _is_our_broker(state.pid, home / "config" / "server.properties"):
        path.unlink(missing_ok=True)
        return None
    return state


def _terminate(pid: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if proc is None and not _pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait(timeout=10)
    else:
        end = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < end:
            time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# The broker
# --------------------------------------------------------------------------------------------

_LOG4J2 = """\
# Written by sinkapp.testing.kafka: everything goes to stdout, which is <home>/logs/server.log.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


class TopicAdmin:
    """Topic helpers shared by :class:`LocalKafka` and :class:`ExistingKafka`."""

    @property
    def bootstrap_servers(self) -> str:
        raise NotImplementedError

    async def acreate_topic(self, name: str, partitions: int = 1, config: dict[str, str] | None = None,
                            timeout_s: float = 30) -> None:
        """Create a topic and wait until every partition has a leader. Raises InfraError."""
        await acreate_topic(self.bootstrap_servers, name, partitions, config, timeout_s)

    async def adelete_topic(self, name: str, timeout_s: float = 30) -> None:
        """Delete a topic (missing is fine) and wait until metadata no longer lists it."""
        await adelete_topic(self.bootstrap_servers, name, timeout_s)

    def create_topic(self, name: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
        """Sync :meth:`acreate_topic`; works inside a running event loop too."""
        _run_sync(lambda: self.acreate_topic(name, partitions, config))

    def delete_topic(self, name: str) -> None:
        """Sync :meth:`adelete_topic`."""
        _run_sync(lambda: self.adelete_topic(name))


class LocalKafka(TopicAdmin):
    """One KRaft broker+controller JVM on 127.0.0.1, with an optional SASL_PLAINTEXT listener.

    ``port``/``sasl_port`` 0 pick free ports at the first :meth:`start`; :meth:`restart` keeps
    ports and data. ``sasl_port=None`` means no SASL listener; ``sasl_users`` (default
    ``{"alice": "alice-secret"}``) are the PLAIN users it accepts. Jars come from ``libs``
    (default :func:`libs_dir`), fetched on the first start if missing.
    """

    def __init__(self, home: Path | None = None, port: int = 0, sasl_port: int | None = None,
                 sasl_users: dict[str, str] | None = None, *, libs: Path | None = None) -> None:
        self.home = (home or kafka_home()).resolve()
        self.libs = (libs or libs_dir()).resolve()
        self.port = port
        self.sasl_port = sasl_port
        self.sasl_users = dict(sasl_users or DEFAULT_SASL_USERS) if sasl_port is not None else {}
        for name in self.sasl_users:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise InfraError(f"SASL user name {name!r}: use letters, digits, '_', '.', '-' only")
        self.controller_port = 0
        # Ports are ours to choose (and re-choose once if taken) until the first start succeeds.
        self._auto_ports = port == 0 and not sasl_port
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._atexit_registered = False

    # -- paths ------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.home / "config" / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_path(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def state_path(self) -> Path:
        return self.home / "run" / "broker.json"

    # -- addresses --------------------------------------------------------------------------
    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT`` of the PLAINTEXT listener (known once started)."""
        if not self.port:
            raise InfraError("LocalKafka has no port yet: call start() first")
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT`` of the SASL_PLAINTEXT (PLAIN) listener."""
        if not self.sasl_port:
            raise InfraError("this LocalKafka has no SASL listener (pass sasl_port=0 or a port)")
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout_s: float = 90, *, detach: bool = False) -> LocalKafka:
        """Fetch jars if needed, format storage once, start the JVM and wait until it serves.

        Ready means: the PLAINTEXT port accepts TCP and an aiokafka metadata request lists the
        broker (and the SASL port accepts TCP when enabled). With ``detach=False`` the broker
        is stopped at interpreter exit and, when started from the main thread, by the kernel
        if this process dies; ``detach=True`` (the CLI) leaves it running on its own.
        """
        running = read_state(self.home)
        if running is not None:
            raise BrokerAlreadyRunning(running)
        java = find_java()
        fetch(self.libs)
        for sub in ("config", "data", "logs", "run"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self._choose_ports()
        try:
            self._launch(java, timeout_s, detach)
        except InfraError as exc:
            # A free port picked a moment ago may be taken since: pick new ones once.
            if not (self._auto_ports and "Address already in use" in str(exc)):
                raise
            self.port, self.controller_port = 0, 0
            self.sasl_port = 0 if self.sasl_port is not None else None
            self._choose_ports()
            self._launch(java, timeout_s, detach)
        self._auto_ports = False  # restart() keeps these ports
        return self

    def _choose_ports(self) -> None:
        taken: set[int] = set()

        def pick(current: int) -> int:
            port = current or _free_port()
            while port in taken:
                port = _free_port()
            taken.add(port)
            return port

        self.port = pick(self.port)
        self.controller_port = pick(self.controller_port)
        if self.sasl_port is not None:
            self.sasl_port = pick(self.sasl_port)

    def _java_cmd(self, java: str, main: str, *args: str) -> list[str]:
        log4j = self.home / "config" / "log4j2.properties"
        return [java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
                "-cp", f"{self.libs}/*", main, *args]

    def _launch(self, java: str, timeout_s: float, detach: bool) -> None:
        self._write_config()
        self._format_storage(java)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== sinkapp.testing.kafka: starting Kafka {kafka_version()} at "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
            log.flush()
            self._log_offset = log.tell()
            use_pdeathsig = not detach and threading.current_thread() is threading.main_thread()
            self.proc = subprocess.Popen(
                self._java_cmd(java, "kafka.Kafka", str(self.config_path)),
                cwd=self.home, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent if use_pdeathsig else None)
        if not detach and not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self._kill_quietly()
            raise
        self._write_state()

    def _write_config(self) -> None:
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}", f"CONTROLLER://127.0.0.1:{self.controller_port}"]
        advertised = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        extra: list[str] = []
        if self.sasl_port is not None:
            listeners.append(f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}")
            advertised.append(f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}")
            protocols.append("SASL_PLAINTEXT:SASL_PLAINTEXT")
            users = " ".join(f'user_{name}="{_jaas_escape(pw)}"' for name, pw in self.sasl_users.items())
            extra += [
                "sasl.enabled.mechanisms=PLAIN",
                "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                + _props_escape(f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};"),
            ]
        props = [
            "# Written by sinkapp.testing.kafka at every start; edits are overwritten.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners={','.join(listeners)}",
            f"advertised.listeners={','.join(advertised)}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"listener.security.protocol.map={','.join(protocols)}",
            f"log.dirs={self.data_dir}",
            "auto.create.topics.enable=false",
            "num.partitions=1",
            "default.replication.factor=1",
            "offsets.topic.replication.factor=1",
            # Fewer internal partitions than the default 50: the first group starts faster.
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=10",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "num.network.threads=2",
            "num.io.threads=4",
            *extra,
        ]
        self.config_path.write_text("\n".join(props) + "\n")
        (self.home / "config" / "log4j2.properties").write_text(_LOG4J2)

    def _format_storage(self, java: str) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = _new_cluster_id()
        cmd = self._java_cmd(java, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                             "-t", cluster_id, "-c", str(self.config_path))
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=self.home)
        with self.log_path.open("a") as log:
            log.write(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise InfraError(f"formatting Kafka storage in {self.data_dir} failed (exit {proc.returncode})"
                             f"\n--- last lines ---\n{_tail_text(proc.stdout + proc.stderr, LOG_TAIL_LINES)}")

    def cluster_id(self) -> str | None:
        """The cluster id written into ``data/meta.properties`` when storage was formatted."""
        with contextlib.suppress(OSError):
            for line in (self.data_dir / "meta.properties").read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "cluster.id":
                    return value.strip()
        return None

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None
        expected = self.cluster_id()
        deadline = time.monotonic() + timeout_s
        last_error = "the port never accepted a connection"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise InfraError(f"the Kafka broker exited with code {code} while starting"
                                 + self._log_excerpt())
            ports_open = _tcp_open(self.port) and (self.sasl_port is None or _tcp_open(self.sasl_port))
            if ports_open:
                try:
                    cluster_id = _run_sync(lambda: _metadata_cluster_id(self.bootstrap_servers))
                    if cluster_id is not None and cluster_id == expected:
                        return
                    last_error = ("the metadata response listed no broker yet" if cluster_id is None else
                                  f"port {self.port} answers for another cluster ({cluster_id}, ours {expected})")
                except Exception as exc:
                    last_error = f"metadata request failed: {exc!r}"
            time.sleep(0.2)
        raise InfraError(f"the Kafka broker did not come up within {timeout_s:g}s ({last_error})"
                         + self._log_excerpt())

    def _log_excerpt(self) -> str:
        """Log path, the first ERROR of this start (if any) and the last 30 lines, for errors."""
        first: list[str] = []
        with contextlib.suppress(OSError), self.log_path.open("rb") as fh:
            fh.seek(self._log_offset)
            for raw in fh:
                line = raw.decode("utf-8", "replace").rstrip()
                if first or " ERROR " in line or line.startswith(("Exception", "Error")):
                    first.append(line)
                    if len(first) == 3:
                        break
        first_text = "\n--- first error ---\n" + "\n".join(first) if first else ""
        return (f"; log {self.log_path}{first_text}\n--- last {LOG_TAIL_LINES} lines ---\n"
                f"{_tail_file(self.log_path)}")

    def _write_state(self) -> None:
        assert self.proc is not None
        state = BrokerState(
            pid=self.proc.pid, port=self.port, controller_port=self.controller_port,
            sasl_port=self.sasl_port, bootstrap_servers=self.bootstrap_servers,
            sasl_bootstrap_servers=self.sasl_bootstrap_servers if self.sasl_port else None,
            home=str(self.home), log=str(self.log_path), kafka_version=kafka_version(),
            started_at=time.time())
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
        tmp.replace(self.state_path)

    def _kill_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _terminate(self.proc.pid, 5, self.proc)

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the broker (ours, or the one the state file names): SIGTERM, wait, SIGKILL."""
        if self.proc is not None:
            if self.proc.poll() is None:
                _terminate(self.proc.pid, timeout_s, self.proc)
            self.proc = None
        else:
            state = read_state(self.home)
            if state is not None:
                _terminate(state.pid, timeout_s)
                # Started elsewhere (e.g. the CLI): adopt its ports so restart() keeps them.
                if not self.port:
                    self.port, self.controller_port = state.port, state.controller_port
                    self.sasl_port = state.sasl_port
                    self._auto_ports = False
        self.state_path.unlink(missing_ok=True)

    def restart(self, timeout_s: float = 90) -> LocalKafka:
        """Stop and start again on the same ports with the same data (for broker-restart tests)."""
        self.stop()
        return self.start(timeout_s)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- topics -----------------------------------------------------------------------------
    def admin_config(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients that reach this broker's PLAINTEXT listener."""
        return {"bootstrap_servers": self.bootstrap_servers}



class ExistingKafka(TopicAdmin):
    """A broker someone else runs (``SINKAPP_TEST_BOOTSTRAP``), with LocalKafka's topic helpers.

    It has no SASL listener and cannot be stopped or restarted from here.
    """

    sasl_port: int | None = None

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap = bootstrap_servers

    @property
    def bootstrap_servers(self) -> str:
        return self._bootstrap

    def wait_ready(self, timeout_s: float = 30) -> ExistingKafka:
        """Wait until a metadata request lists a broker, else InfraError."""
        deadline = time.monotonic() + timeout_s
        error = ""
        while time.monotonic() < deadline:
            try:
                if _run_sync(lambda: _metadata_cluster_id(self.bootstrap_servers)):
                    return self
            except Exception as exc:
                error = repr(exc)
            time.sleep(0.5)
        raise InfraError(f"no Kafka broker answers at {self.bootstrap_servers} within {timeout_s:g}s {error}")



def _jaas_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _props_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _new_cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


# --------------------------------------------------------------------------------------------
# aiokafka admin helpers (usable against any broker, e.g. SINKAPP_TEST_BOOTSTRAP)
# --------------------------------------------------------------------------------------------

async def _metadata_cluster_id(bootstrap: str) -> str | None:
    """The cluster id a metadata response reports, or None while it lists no broker."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return str(cluster.get("cluster_id")) if cluster.get("brokers") else None
    finally:
        await admin.close()


async def acreate_topic(bootstrap: str, name: str, partitions: int = 1,
                        config: dict[str, str] | None = None, timeout_s: float = 30) -> None:
    """Create ``name`` and wait until all its partitions have a leader."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import for_code

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resp = await admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=dict(config or {}))],
            timeout_ms=int(timeout_s * 1000))
        for topic, code, message in resp.topic_errors:
            if code:
                raise InfraError(f"could not create topic {topic!r}: {for_code(code).__name__}: {message}")
        deadline = time.monotonic() + timeout_s
        while True:
            (meta,) = await admin.describe_topics([name])
            parts = meta["partitions"]
            if not meta["error_code"] and len(parts) == partitions and all(p["leader"] >= 0 for p in parts):
                return
            if time.monotonic() > deadline:
                raise InfraError(f"topic {name!r} has no leader for every partition after {timeout_s:g}s")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def adelete_topic(bootstrap: str, name: str, timeout_s: float = 30) -> None:
    """Delete ``name`` (a missing topic is fine) and wait until metadata drops it."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import for_code

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resp = await admin.delete_topics([name], timeout_ms=int(timeout_s * 1000))
        for topic, code in resp.topic_error_codes:
            if code and code != 3:  # 3 = UNKNOWN_TOPIC_OR_PARTITION
                raise InfraError(f"could not delete topic {topic!r}: {for_code(code).__name__}")
        deadline = time.monotonic() + timeout_s
        while name in await admin.list_topics():
            if time.monotonic() > deadline:
                raise InfraError(f"topic {name!r} still listed {timeout_s:g}s after deletion")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def _parse_user(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    return name, password


def _describe(state: BrokerState) -> str:
    lines = [f"Kafka {state.kafka_version} broker running",
             f"  bootstrap  {state.bootstrap_servers}"]
    if state.sasl_bootstrap_servers:
        lines.append(f"  sasl       {state.sasl_bootstrap_servers} (SASL_PLAINTEXT, PLAIN)")
    lines += [f"  pid        {state.pid}", f"  home       {state.home}", f"  log        {state.log}"]
    return "\n".join(lines)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sinkapp.testing.kafka",
        description="Fetch, start, stop a local single-node Apache Kafka broker (KRaft) on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command", required=True)
    home_help = "broker home (default: $SINKAPP_KAFKA_HOME or <repo>/.kafka)"
    p_fetch = sub.add_parser("fetch", help="download the broker jars with Maven (nothing is started)")
    p_fetch.add_argument("--force", action="store_true", help="download again even if present")
    p_start = sub.add_parser("start", help="start a broker in the background and print its address")
    p_start.add_argument("--home", type=Path, help=home_help)
    p_start.add_argument("--port", type=int, default=0, help="PLAINTEXT port (default: a free one)")
    p_start.add_argument("--sasl-port", type=int, default=None,
                         help="also open a SASL_PLAINTEXT/PLAIN listener (0 = a free port)")
    p_start.add_argument("--sasl-user", type=_parse_user, action="append", metavar="NAME:PASSWORD",
                         help="PLAIN user for the SASL listener (repeatable; default alice:alice-secret)")
    p_start.add_argument("--timeout", type=float, default=90, help="seconds to wait for the broker")
    p_start.add_argument("--foreground", action="store_true", help="stay attached until Ctrl-C, then stop")
    p_stop = sub.add_parser("stop", help="stop the running broker")
    p_stop.add_argument("--home", type=Path, help=home_help)
    p_stop.add_argument("--under", type=Path, metavar="DIR",
                        help="stop every broker whose home is below DIR (clean-up after test runs)")
    sub.add_parser("status", help="show the running broker").add_argument("--home", type=Path, help=home_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (``python -m sinkapp.testing.kafka``, ``scripts/kafka``). Returns the exit code."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "fetch":
            started = time.monotonic()
            libs = fetch(force=args.force)
            jars = len(list(libs.glob("*.jar")))
            print(f"Kafka {kafka_version()} jars in {libs} ({jars} jars, {time.monotonic() - started:.1f}s)")
            return 0
        home = (args.home or kafka_home()).resolve()
        if args.command == "status":
            state = read_state(home)
            if state is None:
                print(f"no Kafka broker running from {home}")
                return 1
            print(_describe(state))
            return 0
        if args.command == "stop" and args.under is not None:
            for state in _iter_states(args.under.resolve()):
                LocalKafka(Path(state.home)).stop()
                print(f"stopped Kafka broker pid {state.pid} ({state.bootstrap_servers}) in {state.home}")
            return 0
        if args.command == "stop":
            state = read_state(home)
            if state is None:
                print(f"no Kafka broker running from {home}")
                return 0
            LocalKafka(home).stop()
            print(f"stopped Kafka broker pid {state.pid} ({state.bootstrap_servers})")
            return 0
        return _start(args, home)
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _start(args: argparse.Namespace, home: Path) -> int:
    users = dict(args.sasl_user) if args.sasl_user else None
    broker = LocalKafka(home, port=args.port, sasl_port=args.sasl_port, sasl_users=users)
    started = time.monotonic()
    broker.start(args.timeout, detach=not args.foreground)
    state = read_state(home)
    assert state is not None
    print(_describe(state) + f"\n  started in {time.monotonic() - started:.1f}s", flush=True)
    if not args.foreground:
        return 0
    print("running in the foreground; Ctrl-C stops it", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.is_set() and broker.pid is not None:
            stop.wait(0.5)
    finally:
        broker.stop()
    print("stopped")
    return 0


def _iter_states(root: Path) -> Iterator[BrokerState]:
    """Every live broker whose home is under ``root`` (used by .ci/run's clean-up)."""
    for path in root.rglob("run/broker.json"):
        state = read_state(path.parent.parent)
        if state is not None:
            yield state


if __name__ == "__main__":
    raise SystemExit(main())
