"""Test helpers: produce to the real broker, run sinkapp workers as subprocesses, read offsets.

Who calls: the integration tests. Everything here talks to real processes over loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from sinkapp_testkit import demo_data

from sinkapp.kafka.offsets import group_offsets

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"   # connector-json.json and StarRocks' SQL-tester cases


def fixture_path(name: str) -> Path:
    """A fixture file by name: ``tests/fixtures``, else the testkit's demo data (the Datagen ``orders``
    schema, the ``test123`` DDL and ``connector-avro.json``, which ``sinkapp demo`` ships: one copy)."""
    here = FIXTURES / name
    return here if here.exists() else demo_data.path(name)


def datagen_order(i: int) -> dict[str, Any]:
    """A record shaped like Confluent Datagen's ``orders`` (nested address)."""
    return {"ordertime": 1487715775521 + i * 1000, "orderid": i, "itemid": f"Item_{i % 997}",
            "orderunits": round(0.1 + (i % 97) * 0.1, 2),
            "address": {"city": f"City_{i % 89}", "state": f"State_{i % 53}", "zipcode": 10000 + i % 89999}}


async def produce(bootstrap: str, topic: str, values: Iterable[bytes | None],
                  keys: Iterable[bytes | None] | None = None, partitions: int | None = None) -> int:
    """Send values (round-robin over ``partitions`` when given) and wait for all acks."""
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024,
                            max_request_size=16 << 20,
                            enable_idempotence=True)   # a retried send must not duplicate a record
    await prod.start()
    n = 0
    try:
        futs = []
        key_iter = iter(keys) if keys is not None else None
        for v in values:
            k = next(key_iter) if key_iter is not None else None
            p = n % partitions if partitions else None
            futs.append(await prod.send(topic, v, key=k, partition=p))
            n += 1
        await asyncio.gather(*futs)
    finally:
        await prod.stop()
    return n


def produce_sync(bootstrap: str, topic: str, values: Iterable[bytes | None], **kw: Any) -> int:
    return asyncio.run(produce(bootstrap, topic, values, **kw))


async def offsets(bootstrap: str, group: str, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """(committed offsets of ``group``, end offsets) per partition of ``topic``."""
    return await group_offsets(bootstrap, group, topic)


def offsets_sync(bootstrap: str, group: str, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    return asyncio.run(offsets(bootstrap, group, topic))


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    """Poll ``pred`` until it is true; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str) -> tuple[int, bytes]:
    """(status, body) of ``GET http://127.0.0.1:port/path``; (0, b"") while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` in Prometheus text whose labels all match."""
    total = None
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    assert total is not None, f"{name}{labels} not in /metrics:\n{text[:3000]}"
    return total


def open_loads(emulator: Any, table: str, db: str = "test") -> list[str]:
    """Labels of loads the emulator still holds for ``table`` (a hung one, a PREPARED one)."""
    return list(emulator.open_labels(db, table))


class Worker:
    """``sinkapp worker --config FILE`` as a subprocess, its log in a file."""

    def __init__(self, config: dict[str, str], workdir: Path, name: str = "w0",
                 env: dict[str, str] | None = None, loglevel: str = "info", web: bool = False) -> None:
        self.loglevel, self.web = loglevel, web
        if web:    # its own port unless the config names one; read the state below through it
            config = {**config, "sinkapp.web.port": config.get("sinkapp.web.port") or str(free_port())}
        self.port = int(config["sinkapp.web.port"]) if web else None
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / "connector.json"
        self.config_path.write_text(json.dumps(config))
        self.log_path = self.dir / "worker.log"
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    def start(self) -> Worker:
        if self._log_file is not None:
            self._log_file.close()
        log = self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in _reap)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sinkapp.cli", "worker", "--config", str(self.config_path),
             *([] if self.web else ["--without-web"]), "-l", self.loglevel, "--datadir", str(self.dir / "data")],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.dir)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM (graceful: drain, commit), then SIGKILL if it does not exit."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reap()
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self._reap()

    def _reap(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- the worker's state, through its web pages (``web=True``) --------------------------------
    def get(self, path: str) -> tuple[int, bytes]:
        assert self.port is not None, "start the worker with web=True to read its state"
        return http_get(self.port, path)

    def status(self) -> dict[str, Any]:
        """``/status`` (Kafka Connect shaped: tasks with their state, partitions_assigned, counters)."""
        code, body = self.get("/status")
        assert code == 200, (code, body[:500], self.log()[-3000:])
        return dict(json.loads(body))

    def route(self, i: int = 0) -> dict[str, Any]:
        """The counters of route ``i`` (records_in, rows_loaded, dead_lettered, skipped_bad, ...)."""
        return dict(self.status()["routes"][i])

    def metric(self, name: str, **labels: str) -> float:
        code, body = self.get("/metrics")
        assert code == 200, (code, self.log()[-3000:])
        return metric(body.decode(), name, **labels)

    def ready(self) -> bool:
        """``/health/ready`` answers 200: the first assignment is held and no route is stopped."""
        return self.get("/health/ready")[0] == 200

    def tasks(self) -> list[str]:
        """The state of each route (RUNNING, DEGRADED, FAILED); [] while the pages do not answer."""
        code, body = self.get("/status")
        return [t["state"] for t in json.loads(body)["tasks"]] if code == 200 else []

    def assigned(self) -> list[str]:
        """``topic[partition]`` this worker holds; [] while the pages do not answer."""
        code, body = self.get("/status")
        return list(json.loads(body)["partitions_assigned"]) if code == 200 else []

    def wait_ready(self, timeout_s: float = 60) -> Worker:
        self._wait(lambda: self.ready() or not self.alive(), timeout_s, "the worker to be ready")
        assert self.alive(), self.log()[-3000:]
        return self

    def wait_failed(self, timeout_s: float = 60) -> None:
        """Until a route is FAILED (stopped at a record it cannot load) or the process ended."""
        self._wait(lambda: "FAILED" in self.tasks() or not self.alive(), timeout_s, "a route to stop")
        assert self.alive(), self.log()[-3000:]

    def wait_exit(self, timeout_s: float = 60) -> int:
        """Until the process ends by itself; its exit code."""
        self._wait(lambda: not self.alive(), timeout_s, "the worker to exit")
        return self.stop()

    def _wait(self, pred: Callable[[], bool], timeout_s: float, what: str) -> None:
        try:
            wait_until(pred, timeout_s, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; worker alive={self.alive()}; log tail:\n{self.log()[-4000:]}") from None


def wait_committed(bootstrap: str, group: str, topic: str, timeout_s: float,
                   worker_logs: Callable[[], str] = lambda: "") -> None:
    """Wait until the group's committed offsets equal the end offsets; say which lag if not."""
    state: dict[str, Any] = {}

    def done() -> bool:
        state["c"], state["e"] = offsets_sync(bootstrap, group, topic)
        return bool(state["e"]) and state["c"] == state["e"]

    try:
        wait_until(done, timeout_s, "committed offsets to reach the end offsets", interval_s=0.25)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: committed={state.get('c')} end={state.get('e')}\n"
                             f"{worker_logs()[-3000:]}") from None
