"""The services every benchmark runs against: the local broker, the count-only Stream Load
emulator in its own process and (for Avro) the Schema Registry emulator; and the wait for rows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from sinkapp_testkit import demo_data

from .procfs import cpu_s, tail

ROOT = Path(__file__).resolve().parents[2]
DB, TABLE = "test", "test123"


class RunFailed(Exception):
    def __init__(self, message: str, logs: list[Path] | None = None) -> None:
        super().__init__(message)
        self.logs = list(logs or [])


class Emulator:
    """The Stream Load emulator process (count-only) and its admin API."""

    def __init__(self, work: Path) -> None:
        self.err = open(work / "streamload-emulator.log", "wb")   # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sinkapp_testkit.streamload", "--fe-port", "0", "--be-port", "0",
             "--admin-port", "0", "--database", DB, "--ddl", str(demo_data.path("test123.sql")),
             "--count-only"], stdout=subprocess.PIPE, stderr=self.err, text=True, cwd=work)
        assert self.proc.stdout is not None
        self.fe = self.proc.stdout.readline().strip()
        if not self.fe.startswith("http"):
            raise RuntimeError(f"the Stream Load emulator did not start: {tail(work / 'streamload-emulator.log')}")

        self.tables = [TABLE]        # what count() sums (a scenario loading several tables sets them)

    def _call(self, path: str, method: str = "GET", table: str = TABLE, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.fe}/_emulator/{path}?db={DB}&table={table}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def count(self, table: str | None = None) -> int:
        """Rows in ``table``; without one, in every table of :attr:`tables`."""
        names = [table] if table is not None else self.tables
        return sum(int(self._call("count", table=t)["count"]) for t in names)

    def add_table(self, name: str) -> None:
        """A table shaped like test.test123 under another name (created once; truncated if it exists)."""
        ddl = demo_data.path("test123.sql").read_text().replace(f"TABLE {TABLE} ", f"TABLE {name} ", 1)
        self._call("tables", "POST", body={"db": DB, "ddl": ddl})

    def timeline(self, table: str = TABLE) -> list[list[float]]:
        """``[[time.time(), table count], ...]``, one point per committed load since the last truncate."""
        return list(self._call("timeline", table=table))

    def loads(self, table: str = TABLE) -> list[dict[str, Any]]:
        """Every request the emulator recorded for the table (LoadRecord dicts, wall-clock ``time``)."""
        return list(self._call("loads", table=table))

    def truncate(self, table: str = TABLE) -> None:
        self._call("truncate", "POST", table=table)

    def cpu_s(self) -> float:
        return cpu_s(self.proc.pid, with_children=False)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.err.close()


class Registry:
    """The Schema Registry emulator process (Avro runs)."""

    def __init__(self, work: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sinkapp_testkit.registry", "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if "listening on " not in line:
            self.stop()
            raise RuntimeError(f"the Schema Registry emulator did not start: {line}")
        self.url = line.rsplit(" ", 1)[1]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Services:
    """``with Services(work, registry=...) as s:`` the broker (``s.kafka``), ``s.emu``, ``s.registry``."""

    def __init__(self, work: Path, *, registry: bool = False) -> None:
        from sinkapp_testkit.kafka import LocalKafka
        self.work = work
        self.kafka = LocalKafka(home=work / "kafka")
        self.want_registry = registry
        self.emu: Emulator
        self.registry: Registry | None = None

    def __enter__(self) -> Services:
        self.kafka.start()
        try:
            self.emu = Emulator(self.work)
            if self.want_registry:
                self.registry = Registry(self.work)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.registry is not None:
            self.registry.stop()
        if hasattr(self, "emu"):
            self.emu.stop()
        self.kafka.stop()
        shutil.rmtree(self.work / "kafka", ignore_errors=True)   # GBs of topic data; consumer logs stay


class Consumer(Protocol):
    """A consumer under test run as processes: sinkapp workers or a Kafka Connect worker."""
    name: str
    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def start(self) -> None: ...
    def stop(self) -> None: ...


def check_alive(c: Consumer, what: str) -> None:
    for p in c.procs:
        if p.poll() is not None:
            raise RunFailed(f"{c.name}: a process exited with status {p.returncode} {what}", c.logs)


def wait_rows(emu: Emulator, c: Consumer, n: int, *, timeout: float, stall_timeout: float) -> None:
    """Until ``n`` rows are visible; RunFailed when a process dies, on timeout or on a stall."""
    deadline = time.monotonic() + timeout
    last_change, last_seen = time.monotonic(), -1
    while (seen := emu.count()) < n:
        now = time.monotonic()
        if seen != last_seen:
            last_change, last_seen = now, seen
        check_alive(c, f"at {seen:,}/{n:,} rows")
        if now > deadline:
            raise RunFailed(f"timeout: {seen:,}/{n:,} rows visible after {timeout:.0f} s", c.logs)
        if now - last_change > stall_timeout:
            raise RunFailed(f"stalled: {seen:,}/{n:,} rows visible, no new row for {stall_timeout:.0f} s", c.logs)
        time.sleep(0.1)


def print_logs(logs: list[Path]) -> None:
    for log in logs:
        print(f"---- {log} (tail)\n{tail(log)}", file=sys.stderr)
