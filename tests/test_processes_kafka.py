"""``sinkapp worker --processes 2`` on the real broker: one parent, two child workers in one group,
loading into the Stream Load emulator; read through the parent's one web port.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_worker_kafka import DDL_T, connector, tname
from tests.workers import Worker, metric, offsets_sync, produce_sync, wait_committed, wait_until

pytestmark = pytest.mark.kafka


class Processes(Worker):
    """The parent ``sinkapp worker --processes N`` as a subprocess, its pages on ``self.port``."""

    def __init__(self, config: dict[str, str], workdir: Path, n: int = 2) -> None:
        super().__init__({"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000", **config}, workdir,
                         name="parent", web=True)
        self.n = n

    def start(self) -> Processes:
        log = self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in _reap)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sinkapp.cli", "worker", "--config", str(self.config_path), "--processes",
             str(self.n), "-l", self.loglevel, "--datadir", str(self.dir / "data")],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.dir)
        return self

    def processes(self) -> list[dict[str, Any]]:
        code, body = self.get("/status")
        return list(json.loads(body)["processes"]) if code == 200 else []

    def child(self, name: str) -> dict[str, Any]:
        return next(p for p in self.processes() if p["process"] == name)

    def child_buffered(self, name: str) -> int:
        st = self.child(name)["status"]
        return sum(r["buffered_rows"] for r in st["routes"]) if st else 0

    def buffered(self) -> int:
        """Rows buffered over every child (-1 while a child's status did not answer)."""
        procs = self.processes()
        if not procs or any(p["status"] is None for p in procs):
            return -1
        return sum(r["buffered_rows"] for p in procs for r in p["status"]["routes"])


def _rows(n: int, start: int = 0) -> list[bytes]:
    return [orjson.dumps({"id": i, "name": f"n{i}", "amount": i * 1.5}) for i in range(start, start + n)]


def _exactly_once(emulator: Any, table: str, n: int) -> None:
    counts = collections.Counter(r["id"] for r in emulator.rows("test", table))
    lost = [i for i in range(n) if counts[i] == 0]
    twice = {i: c for i, c in counts.items() if c > 1}
    assert not lost and not twice and len(counts) == n, (len(lost), lost[:10], list(twice.items())[:10])


def test_two_processes_each_hold_partitions_merge_pages_and_sigterm_drains_both(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=6, name=tname("procs"))
    emulator.add_table("test", DDL_T.format(name=topic))
    cfg = connector(kafka, emulator, topics=topic, **{"bufferflush.intervalms": "3600000"})
    w = Processes(cfg, tmp_path).start()
    seen_not_ready: list[str] = []
    try:
        def ready() -> bool:
            code, body = w.get("/health/ready")
            if code == 503:
                seen_not_ready.extend(json.loads(body)["reasons"])
            return code == 200 or not w.alive()
        wait_until(ready, 90, "both processes ready")
        assert w.alive(), w.log()[-3000:]
        assert any(r.startswith(("p0", "p1")) for r in seen_not_ready), seen_not_ready
        # each child ready means each holds an assignment; after the group settles each holds some of the 6
        wait_until(lambda: all(p["status"] and p["status"]["partitions_assigned"] for p in w.processes()), 60,
                   "both processes holding partitions")
        assert sorted(w.status()["partitions_assigned"]) == sorted(f"{topic}[{p}]" for p in range(6))
        n = 3000
        produce_sync(kafka.bootstrap_servers, topic, _rows(n), partitions=6)
        wait_until(lambda: w.buffered() == n, 60, f"{n} rows buffered over both processes")
        wait_until(lambda: w.child_buffered("p0") > 0 and w.child_buffered("p1") > 0, 30, "both buffering")
        assert emulator.count("test", topic) == 0
        wait_until(lambda: 'sinkapp_process_up{process="p0"} 1' in w.get("/metrics")[1].decode()
                   and 'sinkapp_process_up{process="p1"} 1' in w.get("/metrics")[1].decode(), 30,
                   "both processes' metrics in the parent's page")
        text = w.get("/metrics")[1].decode()
        assert metric(text, "sinkapp_records_consumed_total") == n
        assert 0 < metric(text, "sinkapp_records_consumed_total", process="p0") < n
        assert 0 < metric(text, "sinkapp_records_consumed_total", process="p1") < n
        assert metric(text, "sinkapp_process_up") == 2
        assert text.count("# TYPE sinkapp_records_consumed_total counter") == 1
        pids = [p["pid"] for p in w.processes()]
    finally:
        rc = w.stop()
    assert rc == 0, w.log()[-4000:]
    assert emulator.count("test", topic) == n
    _exactly_once(emulator, topic, n)
    committed, ends = offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)
    assert committed == ends and sum(ends.values()) == n
    log = w.log()
    assert "p0 | " in log and "p1 | " in log and "parent | " in log
    # the children joined the group together: both waited at the parent's start barrier until both were ready
    assert "start barrier: all 2 worker processes are ready to join the group" in log, log[-4000:]
    for child in ("p0", "p1"):
        assert f"{child} | " in log and any(line.startswith(f"{child} | ") and "start barrier passed" in line
                                            for line in log.splitlines()), log[-4000:]
    for pid in pids:                    # both children gone with the parent
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_kill9_of_one_process_restarts_it_and_every_row_loads_exactly_once(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=6, name=tname("prockill"))
    emulator.add_table("test", DDL_T.format(name=topic))
    cfg = connector(kafka, emulator, topics=topic, **{"bufferflush.intervalms": "3000"})
    w = Processes(cfg, tmp_path).start()
    n1, n2 = 6000, 4000
    try:
        w.wait_ready(90)
        wait_until(lambda: all(p["status"] and p["status"]["partitions_assigned"] for p in w.processes()), 60,
                   "both processes holding partitions")
        produce_sync(kafka.bootstrap_servers, topic, _rows(n1), partitions=6)
        wait_until(lambda: w.child_buffered("p1") > 0, 60, "p1 buffering rows")
        victim = w.child("p1")["pid"]
        os.kill(victim, signal.SIGKILL)                     # kill -9 with rows buffered, not loaded
        wait_until(lambda: w.get("/health/ready")[0] == 503, 30, "the parent not ready while p1 is down")
        wait_until(lambda: w.child("p1")["restarts"] == 1 and w.child("p1")["pid"] not in (None, victim), 60,
                   "p1 restarted")
        assert w.child("p1")["last_exit"] == "killed by SIGKILL" and w.child("p0")["restarts"] == 0
        w.wait_ready(120)
        produce_sync(kafka.bootstrap_servers, topic, _rows(n2, start=n1), partitions=6)
        wait_until(lambda: emulator.count("test", topic) >= n1 + n2 or not w.alive(), 120,
                   f"{n1 + n2} rows in the emulator")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w.log)
        text = w.get("/metrics")[1].decode()
        assert metric(text, "sinkapp_process_restarts_total", process="p1") == 1
    finally:
        rc = w.stop()
    assert rc == 0, w.log()[-4000:]
    _exactly_once(emulator, topic, n1 + n2)
    assert "restarting it in" in w.log()
