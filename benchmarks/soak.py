"""Randomized soak: many faults in a row, then count every row by key.

    .venv/bin/python benchmarks/soak.py --minutes 10 [--workers 3] [--partitions 6] [--seed N]
    .venv/bin/python benchmarks/soak.py --minutes 10 --processes 2 [--workers 1]

Starts the local Kafka broker and a Stream Load emulator, produces JSON rows with unique ids
continuously into one topic, runs ``--workers`` sinkapp worker processes in one group, and
every few seconds injects one random fault:

- kill -9 of a worker (restarted a few seconds later), SIGTERM of a worker (restarted);
- with ``--processes N`` each worker is ``sinkapp worker --processes N`` (``--workers`` defaults to 1):
  kill -9 of one of its child processes (the parent restarts it), SIGTERM of the parent (every child
  drains; restarted), kill -9 of the parent (its children get SIGTERM from the kernel and drain;
  restarted once they are gone);
- emulator faults: HTTP 500s, a load hanging past the client timeout then committing,
  connection reset mid-body, Publish Timeout, Label Already Exists RUNNING then FINISHED,
  one BE down for a while, every FE down for a while.

At the end it stops producing, waits until every row is loaded and the group has committed to
the end, and prints produced, stored, lost and duplicated rows (a duplicate-key table, so a
second load of a record would be visible) and the faults injected. Exit status 0 only when
lost == duplicated == 0.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkapp_testkit.kafka import LocalKafka  # noqa: E402
from sinkapp_testkit.streamload import EmulatorThread  # noqa: E402
from sinkapp_testkit.workdir import add_work_options, run_in_work_dir  # noqa: E402

from tests.workers import offsets_sync, produce_sync  # noqa: E402

DDL = "CREATE TABLE soak (id BIGINT, part INT, payload STRING) DUPLICATE KEY(id);"


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (Linux /proc)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


class Workers:
    def __init__(self, cfg: dict[str, str], work: Path, n: int, processes: int = 1) -> None:
        self.cfg_path = work / "connector.json"
        self.cfg_path.write_text(json.dumps(cfg))
        self.work, self.procs, self.logs = work, {}, {}  # type: ignore[var-annotated]
        self.processes = processes
        self.orphans: dict[int, list[int]] = {}    # a killed parent's children, still draining
        self.restarts = 0
        for i in range(n):
            self.start(i)

    def start(self, i: int) -> None:
        log = open(self.work / f"worker{i}.log", "ab")  # noqa: SIM115 (closed on stop)
        self.logs[i] = log
        many = ["--processes", str(self.processes)] if self.processes > 1 else []
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "sinkapp.cli", "worker", "--config", str(self.cfg_path), "--without-web",
             "--datadir", str(self.work / f"data{i}"), *many], stdout=log, stderr=subprocess.STDOUT, cwd=self.work)

    def kill_parent(self, i: int) -> None:
        self.orphans[i] = children_of(self.procs[i].pid)
        self.procs[i].kill()

    def kill_child(self, i: int, rng: random.Random) -> bool:
        kids = children_of(self.procs[i].pid)
        if not kids:
            return False
        os.kill(rng.choice(kids), signal.SIGKILL)
        return True

    def stop(self, i: int, sig: int) -> None:
        p = self.procs[i]
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.logs[i].close()

    def restart_dead(self) -> None:
        for i, p in self.procs.items():
            if any(Path(f"/proc/{c}").exists() for c in self.orphans.get(i, [])):
                continue                            # its data directories are still in use
            if p.poll() is not None:
                self.logs[i].close()
                self.start(i)
                self.restarts += 1

    def stop_all(self) -> None:
        for i in self.procs:
            self.stop(i, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=None,
                    help="worker commands in the group (default 3; 1 with --processes)")
    ap.add_argument("--processes", type=int, default=1, help="sinkapp worker --processes N for each worker (default 1)")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--rate", type=int, default=1000, help="rows produced per second")
    ap.add_argument("--seed", type=int, default=None)
    add_work_options(ap)
    args = ap.parse_args(argv)
    if args.workers is None:
        args.workers = 1 if args.processes > 1 else 3
    return run_in_work_dir("sinkapp-soak-", args, lambda work: run(args, work))


def run(args: argparse.Namespace, work: Path) -> int:
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"soak: seed={seed} work={work} workers={args.workers} processes={args.processes}", flush=True)
    kafka = LocalKafka(home=work / "kafka")
    kafka.start()
    topic, group = "soak", f"soak-{uuid.uuid4().hex[:6]}"
    kafka.create_topic(topic, partitions=args.partitions)
    faults: collections.Counter[str] = collections.Counter()
    with EmulatorThread(user="root", password="pw", ddl={"test": DDL}, n_fe=2, n_be=2) as emu:
        cfg = {"topics": topic, "starrocks.http.url": ",".join(emu.fe_urls), "starrocks.username": "root",
               "starrocks.password": "pw", "starrocks.database.name": "test",
               "bootstrap.servers": kafka.bootstrap_servers, "group.id": group,
               "bufferflush.intervalms": "1000", "sink.maxretries": "-1", "session.timeout.ms": "6000",
               "heartbeat.interval.ms": "1000", "sinkapp.drain.timeout.ms": "8000",
               "sinkapp.load.timeout.ms": "3000", "tasks.max": "2"}
        produced = {"n": 0}
        stop = threading.Event()

        def producer() -> None:
            while not stop.is_set():
                batch = max(1, args.rate // 5)
                start = produced["n"]
                produce_sync(kafka.bootstrap_servers, topic,
                             [orjson.dumps({"id": i, "part": i % 7, "payload": f"p{i}"})
                              for i in range(start, start + batch)], partitions=args.partitions)
                produced["n"] += batch
                time.sleep(0.2)

        workers = Workers(cfg, work, args.workers, args.processes)
        t = threading.Thread(target=producer, daemon=True)
        t.start()
        t_end = time.monotonic() + args.minutes * 60
        kinds = ["kill9", "sigterm", "http500", "hang", "reset", "publish_timeout", "label_running",
                 "be_down", "fes_down"] + (["kill9_child", "kill9_child"] if args.processes > 1 else [])
        try:
            while time.monotonic() < t_end:
                time.sleep(rng.uniform(3, 8))
                workers.restart_dead()
                kind = rng.choice(kinds)
                faults[kind] += 1
                i = rng.randrange(args.workers)
                if kind == "kill9" and args.processes > 1:
                    workers.kill_parent(i)
                elif kind == "kill9":
                    workers.procs[i].kill()
                elif kind == "kill9_child" and not workers.kill_child(i, rng):
                    faults[kind] -= 1                       # not started yet (its parent restarting)
                elif kind == "sigterm":
                    workers.stop(i, signal.SIGTERM)
                elif kind == "http500":
                    emu.faults.fail_next(rng.randint(1, 5), http_status=500)
                elif kind == "hang":
                    emu.faults.hang_next(1, seconds=5.0, then=rng.choice(["commit", "abort"]))
                elif kind == "reset":
                    emu.faults.reset_next(rng.randint(1, 3))
                elif kind == "publish_timeout":
                    emu.faults.publish_timeout_next(rng.randint(1, 3), visible_after_s=1.0)
                elif kind == "label_running":
                    emu.faults.label_running(None, seconds=2.0)
                elif kind == "be_down":
                    emu.faults.be_down(0)
                    time.sleep(rng.uniform(1, 4))
                    emu.faults.be_up(0)
                elif kind == "fes_down":
                    emu.faults.fe_down(0)
                    emu.faults.fe_down(1)
                    time.sleep(rng.uniform(1, 5))
                    emu.faults.fe_up(0)
                    emu.faults.fe_up(1)
                print(f"soak: t={args.minutes * 60 - (t_end - time.monotonic()):.0f}s fault={kind} "
                      f"produced={produced['n']} stored={emu.count('test', 'soak')}", flush=True)
        finally:
            stop.set()
            t.join()
        emu.faults.clear()
        workers.restart_dead()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            committed, ends = offsets_sync(kafka.bootstrap_servers, group, topic)
            if emu.count("test", "soak") >= produced["n"] and committed == ends:
                break
            workers.restart_dead()
            time.sleep(1.0)
        time.sleep(3.0)
        workers.stop_all()
        counts = collections.Counter(r["id"] for r in emu.rows("test", "soak"))
        lost = sum(1 for i in range(produced["n"]) if counts[i] == 0)
        dup = sum(c - 1 for c in counts.values() if c > 1)
        committed, ends = offsets_sync(kafka.bootstrap_servers, group, topic)
    kafka.stop()
    child_restarts = sum((work / f"worker{i}.log").read_text(errors="replace").count("restarting it in")
                         for i in range(args.workers))
    print(f"\nsoak: minutes={args.minutes} seed={seed} workers={args.workers} processes={args.processes} "
          f"produced={produced['n']} stored={sum(counts.values())} lost={lost} duplicated={dup} "
          f"committed_at_end={committed == ends} worker_restarts={workers.restarts} "
          f"child_restarts_by_parents={child_restarts}")
    print("soak: faults " + " ".join(f"{k}={v}" for k, v in sorted(faults.items())))
    return 0 if lost == 0 and dup == 0 and committed == ends else 1


if __name__ == "__main__":
    raise SystemExit(main())
