""":class:`LocalKafka`: one real single-node Kafka broker's process lifecycle, from start to stop.

Who calls what:

* ``tests/conftest.py`` starts one LocalKafka (with a SASL listener) for the whole pytest
  session and stops it at the end; broker-restart and error-path tests, ``sinkapp demo`` and
  the benchmarks start LocalKafkas of their own in their work directories.
* The CLI (cli.py) starts one with ``detach=True`` (``start``) so it outlives the command, and
  stops one started by another process through ``LocalKafka(home).stop()``, which finds it by
  the state file.

``start()`` = :func:`~.jars.find_java` + :func:`~.jars.fetch` + :func:`~.config.write_config`
+ :func:`~.config.format_storage` (first start only) + the ``kafka.Kafka`` JVM + wait until an
aiokafka metadata request (:func:`~.admin.metadata_cluster_id`) lists this home's cluster, then
:func:`~.process.write_state`. A broker's home holds::

    <home>/config/server.properties, log4j2.properties
    <home>/data/                 KRaft metadata log and topic partitions (kept across restarts)
    <home>/logs/server.log       everything the JVM prints
    <home>/run/broker.json       pid, ports and bootstrap address while the broker runs
"""

from __future__ import annotations

import atexit
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from sinkapp.errors import InfraError

from .admin import TopicAdmin, metadata_cluster_id, run_sync
from .config import (
    DEFAULT_SASL_USERS,
    check_sasl_user_names,
    format_storage,
    java_cmd,
    read_cluster_id,
    write_config,
)
from .jars import fetch, find_java, kafka_home, kafka_version, libs_dir
from .process import (
    BrokerAlreadyRunning,
    BrokerState,
    PortTaken,
    die_with_parent,
    free_port,
    log_excerpt,
    read_state,
    tcp_open,
    terminate,
    write_state,
)


class LocalKafka(TopicAdmin):
    """One KRaft broker+controller JVM on 127.0.0.1, with an optional SASL_PLAINTEXT listener.

    ``port``/``sasl_port`` 0 pick free ports at the first :meth:`start`; :meth:`restart` keeps
    ports and data. ``sasl_port=None`` means no SASL listener; ``sasl_users`` (default
    ``{"alice": "alice-secret"}``) are the PLAIN users it accepts. Jars come from ``libs``
    (default :func:`libs_dir`), fetched on the first start if missing.

    ``authorizer=True`` turns ACLs on (KRaft's StandardAuthorizer): SASL users may do only what
    ACLs grant them (:meth:`~.admin.TopicAdmin.create_acls`), except ``super_users`` (default
    ``User:admin``); PLAINTEXT clients are the broker's own principal ``User:ANONYMOUS``, a super
    user, so the topic and ACL helpers (which use the PLAINTEXT listener) keep working.
    """

    def __init__(self, home: Path | None = None, port: int = 0, sasl_port: int | None = None,
                 sasl_users: dict[str, str] | None = None, *, libs: Path | None = None,
                 ssl_certs: Any = None, authorizer: bool = False,
                 super_users: tuple[str, ...] = ("User:admin",)) -> None:
        self.super_users = super_users if authorizer else None
        self.home = (home or kafka_home()).resolve()
        # ssl_certs (sinkapp_testkit.tls.Certs) with a SASL listener: also a SASL_SSL listener
        self.ssl_certs = ssl_certs
        self.sasl_ssl_port: int | None = 0 if (ssl_certs is not None and sasl_port is not None) else None
        self.libs = (libs or libs_dir()).resolve()
        self.port = port
        self.sasl_port = sasl_port
        self.sasl_users = dict(sasl_users or DEFAULT_SASL_USERS) if sasl_port is not None else {}
        check_sasl_user_names(self.sasl_users)
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
    def sasl_ssl_bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT`` of the SASL_SSL (PLAIN over TLS) listener; trust ``ssl_certs.ca``."""
        if not self.sasl_ssl_port:
            raise InfraError("this LocalKafka has no SASL_SSL listener (pass sasl_port and ssl_certs)")
        return f"127.0.0.1:{self.sasl_ssl_port}"

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
        except PortTaken:
            # A free port picked a moment ago may be taken since: pick new ones once.
            if not self._auto_ports:
                raise
            self.port, self.controller_port = 0, 0
            self.sasl_port = 0 if self.sasl_port is not None else None
            self.sasl_ssl_port = 0 if self.sasl_ssl_port is not None else None
            self._choose_ports()
            self._launch(java, timeout_s, detach)
        self._auto_ports = False  # restart() keeps these ports
        return self

    def _choose_ports(self) -> None:
        taken: set[int] = set()

        def pick(current: int) -> int:
            port = current or free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            return port

        self.port = pick(self.port)
        self.controller_port = pick(self.controller_port)
        if self.sasl_port is not None:
            self.sasl_port = pick(self.sasl_port)
        if self.sasl_ssl_port is not None:
            self.sasl_ssl_port = pick(self.sasl_ssl_port)

    def _launch(self, java: str, timeout_s: float, detach: bool) -> None:
        pem = None
        if self.sasl_ssl_port is not None:
            pem = self.home / "config" / "server-keystore.pem"
            pem.write_text(self.ssl_certs.key.read_text() + self.ssl_certs.cert.read_text())
        write_config(self.config_path, port=self.port, controller_port=self.controller_port,
                     sasl_port=self.sasl_port, sasl_users=self.sasl_users, data_dir=self.data_dir,
                     sasl_ssl_port=self.sasl_ssl_port, ssl_pem=pem, super_users=self.super_users)
        format_storage(java, self.libs, config_path=self.config_path, data_dir=self.data_dir,
                       log_path=self.log_path, cwd=self.home)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== sinkapp_testkit.kafka: starting Kafka {kafka_version()} at "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
            log.flush()
            self._log_offset = log.tell()
            use_pdeathsig = not detach and threading.current_thread() is threading.main_thread()
            self.proc = subprocess.Popen(
                java_cmd(java, self.libs, self.config_path, "kafka.Kafka", str(self.config_path)),
                cwd=self.home, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent if use_pdeathsig else None)
        if not detach and not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self._kill_quietly()
            raise
        write_state(self.state_path, BrokerState(
            pid=self.proc.pid, port=self.port, controller_port=self.controller_port,
            sasl_port=self.sasl_port, bootstrap_servers=self.bootstrap_servers,
            sasl_bootstrap_servers=self.sasl_bootstrap_servers if self.sasl_port else None,
            home=str(self.home), log=str(self.log_path), kafka_version=kafka_version(),
            started_at=time.time()))

    def cluster_id(self) -> str | None:
        """The cluster id written into ``data/meta.properties`` when storage was formatted."""
        return read_cluster_id(self.data_dir)

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None
        expected = self.cluster_id()
        deadline = time.monotonic() + timeout_s
        last_error = "the port never accepted a connection"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise self._start_failed(f"the Kafka broker exited with code {code} while starting")
            ports_open = (tcp_open(self.port) and (self.sasl_port is None or tcp_open(self.sasl_port))
                          and (self.sasl_ssl_port is None or tcp_open(self.sasl_ssl_port)))
            if ports_open:
                try:
                    cluster_id = run_sync(lambda: metadata_cluster_id(self.bootstrap_servers))
                    if cluster_id is not None and cluster_id == expected:
                        return
                    last_error = ("the metadata response listed no broker yet" if cluster_id is None else
                                  f"port {self.port} answers for another cluster ({cluster_id}, ours {expected})")
                except Exception as exc:
                    last_error = f"metadata request failed: {exc!r}"
            time.sleep(0.2)
        raise self._start_failed(f"the Kafka broker did not come up within {timeout_s:g}s ({last_error})")

    def _start_failed(self, what: str) -> InfraError:
        """``what`` with the log excerpt; PortTaken when the log says a port was taken."""
        excerpt = self._log_excerpt()
        return (PortTaken if "Address already in use" in excerpt else InfraError)(what + excerpt)

    def _log_excerpt(self) -> str:
        """Log path, the first ERROR of this start (if any) and the last 30 lines, for errors."""
        return log_excerpt(self.log_path, self._log_offset)

    def _kill_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            terminate(self.proc.pid, 5, self.proc)

    def stop(self, timeout_s: float = 30) -> None:
        """Stop the broker (ours, or the one the state file names): SIGTERM, wait, SIGKILL."""
        if self.proc is not None:
            if self.proc.poll() is None:
                terminate(self.proc.pid, timeout_s, self.proc)
            self.proc = None
        else:
            state = read_state(self.home)
            if state is not None:
                terminate(state.pid, timeout_s)
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
