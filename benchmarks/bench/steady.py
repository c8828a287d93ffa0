"""Steady-rate runs: R rows/s into P partitions while a consumer loads them; loads per table.

Each scenario gets fresh topics, an empty table and a fresh consumer. The producer starts with the
consumer; the warm-up starts once the consumer has caught up (rows visible within ``rate ×
(intervalms + 1 s)`` of the rows produced: its start-up backlog is loaded), the measured window
after the warm-up. Then the
producer stops, every produced row must become visible (exactly once: the count must match), and
the consumer stops. Figures come from the emulator's per-load records (:mod:`.loads`).
"""

from __future__ import annotations

import argparse
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .consumers import Flush, JavaConnector, SinkappWorkers, java_config, java_name, sinkapp_config
from .data import SteadyProducer
from .harness import DB, TABLE, Consumer, RunFailed, Services, check_alive, print_logs, wait_rows
from .loads import committed_loads, window_stats
from .procfs import cpu_s, vmhwm_kb


@dataclass(frozen=True)
class Scenario:
    key: str
    kind: str            # sinkapp | java
    workers: int = 1     # sinkapp worker processes in one group
    processes: int = 1   # sinkapp worker --processes N (each worker a parent of N children)
    topics: int = 1      # topics mapped to the one table (each with P partitions, R / topics rows/s)
    own_tables: bool = False      # each topic into its own table (test123_0, test123_1, ...) instead
    partitions: int = 0           # partitions per topic (0: --partitions)
    topic_rate: float = 0         # rows/s per topic (0: --rate / topics)
    sets: tuple[str, ...] = ()    # sinkapp settings of the scenario

    def label(self, java_tasks: int) -> str:
        who = java_name(java_tasks) if self.kind == "java" else "sinkapp"
        if self.workers > 1:
            who += f" ×{self.workers} workers"
        if self.processes > 1:
            who += f" --processes {self.processes}"
        if self.topics > 1:
            who += f", {self.topics} topics → {self.topics if self.own_tables else 1} table" + \
                ("s" if self.own_tables else "")
        return who + "".join(f", {kv.partition('=')[2]}" for kv in self.sets)

    def tables(self) -> list[str]:
        return [f"{TABLE}_{i}" for i in range(self.topics)] if self.own_tables else [TABLE]


#: two workers, four topics of three partitions into four tables, 800 rows/s each: the table-affine
#: assignment (each table on one worker) beside Kafka's round robin (each table on both)
_4T = Scenario("sinkapp-2w-4t", "sinkapp", workers=2, topics=4, own_tables=True, partitions=3, topic_rate=800,
               sets=("sinkapp.assignment=affine",))
SCENARIOS = {s.key: s for s in (
    Scenario("sinkapp", "sinkapp"), Scenario("java", "java"), Scenario("sinkapp-2w", "sinkapp", workers=2),
    Scenario("sinkapp-2t", "sinkapp", topics=2), Scenario("java-2t", "java", topics=2),
    _4T, replace(_4T, key="sinkapp-2w-4t-spread", sets=("sinkapp.assignment=spread",)),
    replace(_4T, key="sinkapp-p2-4t", workers=1, processes=2))}


@dataclass
class SteadyResult:
    consumer: str
    scenario: str
    round: int
    ok: bool = True
    error: str = ""
    produced: int = 0
    stats: dict[str, Any] = field(default_factory=dict)     # loads.window_stats for test.test123 (or all tables)
    table_stats: list[dict[str, Any]] = field(default_factory=list)   # per table, when several
    cpu_s: float = 0.0                                       # in the window
    rss_kb: int = 0
    startup_s: float = 0.0            # consumer start → caught up with the producer (warm-up starts)
    start_s: float = 0.0              # consumer start, seconds relative to the window's opening
    window_s: float = 0.0
    timeline: list[list[float]] = field(default_factory=list)      # [s since window opened, rows visible]
    load_points: list[list[float]] = field(default_factory=list)   # [s since window opened, rows in load]
    logs: list[str] = field(default_factory=list)

    @property
    def cpu_us_row(self) -> float:
        rows = self.stats.get("rows") or 0
        return self.cpu_s / rows * 1e6 if rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpu_us_row": self.cpu_us_row}


def make_consumer(s: Scenario, args: argparse.Namespace, svc: Services, topics: list[str], run_dir: Path,
                  name: str) -> Consumer:
    flush = Flush(args.intervalms, args.maxbytes, args.flush_rows)
    if s.kind == "java":
        conn = f"starrocks-steady-{uuid.uuid4().hex[:6]}"
        cfg = java_config(conn, topics, svc.emu.fe, flush, args.java_tasks)
        return JavaConnector(name, run_dir, args.java_plugin, svc.kafka.bootstrap_servers, cfg)
    cfg = sinkapp_config("json", topics, svc.emu.fe, svc.kafka.bootstrap_servers,
                         f"steady-{uuid.uuid4().hex[:6]}", flush, [*s.sets, *args.set])
    if s.own_tables:
        cfg["starrocks.topic2table.map"] = ",".join(f"{t}:{tb}" for t, tb in zip(topics, s.tables(), strict=True))
    return SinkappWorkers(name, run_dir, cfg, s.workers, processes=s.processes)


def _sleep_until(t: float, c: Consumer, what: str) -> None:
    while (left := t - time.time()) > 0:
        check_alive(c, what)
        time.sleep(min(0.2, left))


def _caught_up(svc: Services, c: Consumer, prod: SteadyProducer, lag_rows: float, timeout: float) -> float:
    """When rows are visible and first come within ``lag_rows`` of the rows produced (start-up
    backlog loaded): the warm-up starts there."""
    deadline = time.monotonic() + timeout
    while (seen := svc.emu.count()) == 0 or seen < prod.produced - lag_rows:
        check_alive(c, "before catching up with the producer")
        if time.monotonic() > deadline:
            raise RunFailed(f"{svc.emu.count():,} of {prod.produced:,} rows visible {timeout:.0f} s after the "
                            f"start: not caught up with the producer", c.logs)
        time.sleep(0.1)
    return time.time()


def _drive(args: argparse.Namespace, svc: Services, c: Consumer, topics: list[str], s: Scenario,
           res: SteadyResult) -> tuple[float, float, float]:
    """Start consumer and producer, run warm-up and window, drain; returns (t0, ws, we)."""
    rate = s.topic_rate * s.topics if s.topic_rate else args.rate
    prod = SteadyProducer(svc.kafka.bootstrap_servers, topics, s.partitions or args.partitions, rate)
    t0 = time.time()
    c.start()
    prod.start()
    try:
        lag_rows = rate * (args.intervalms / 1000 + 1.0)
        res.startup_s = _caught_up(svc, c, prod, lag_rows, args.start_timeout) - t0
        ws = t0 + res.startup_s + args.warmup
        _sleep_until(ws, c, "in the warm-up")
        cpu0 = sum(cpu_s(p.pid) for p in c.procs)
        we = ws + args.duration
        _sleep_until(we, c, "in the measured window")
        res.cpu_s = sum(cpu_s(p.pid) for p in c.procs) - cpu0
    finally:
        res.produced = prod.stop()
    wait_rows(svc.emu, c, res.produced, timeout=args.drain_timeout, stall_timeout=args.drain_timeout)
    res.rss_kb = sum(vmhwm_kb(p.pid) for p in c.procs)
    return t0, ws, we


def run_scenario(args: argparse.Namespace, svc: Services, s: Scenario, rnd: int) -> SteadyResult:
    name = s.label(args.java_tasks)
    res = SteadyResult(name, s.key, rnd, window_s=args.duration)
    tag = uuid.uuid4().hex[:6]
    topics = [f"steady-{s.key}-{rnd}-{tag}" + (f"-{i}" if s.topics > 1 else "") for i in range(s.topics)]
    for t in topics:
        svc.kafka.create_topic(t, partitions=s.partitions or args.partitions)
    svc.emu.tables = s.tables()
    for table in s.tables():
        if s.own_tables:
            svc.emu.add_table(table)
        svc.emu.truncate(table)               # empty, and its timeline starts afresh
    c = make_consumer(s, args, svc, topics, svc.work / f"steady-r{rnd}-{s.key}-{tag}", name)
    res.logs = [str(p) for p in c.logs]
    try:
        t0, ws, we = _drive(args, svc, c, topics, s, res)
    except (RunFailed, RuntimeError) as exc:
        c.stop()
        res.ok, res.error = False, str(exc)
        print_logs(getattr(exc, "logs", c.logs))
        return res
    finally:
        c.stop()
    res.logs = [str(p) for p in c.logs]
    timelines = {t: svc.emu.timeline(t) for t in s.tables()}
    loads = [ld for t in s.tables() for ld in committed_loads(svc.emu.loads(t)) if ld["time"] >= t0]
    res.table_stats = [window_stats(loads, timelines[t], ws, we, f"{DB}.{t}") for t in s.tables()]
    res.stats = res.table_stats[0] if len(res.table_stats) == 1 else combined(res.table_stats)
    timeline = merged(timelines)
    loads.sort(key=lambda ld: ld["time"])
    res.start_s = t0 - ws
    res.timeline = [[round(t - ws, 3), n] for t, n in timeline]
    res.load_points = [[round(ld["time"] - ws, 3), ld["rows"]] for ld in loads]
    final = svc.emu.count()
    if final != res.produced:
        res.ok, res.error = False, f"{final:,} rows in the table, {res.produced:,} produced"
    return res


def combined(per_table: list[dict[str, Any]]) -> dict[str, Any]:
    """Several tables' window stats as one row: loads/s is the busiest table's (what the issue bounds),
    rows and loads are the sums."""
    loads, rows = sum(t["loads"] for t in per_table), sum(t["rows"] for t in per_table)
    return {"table": f"{len(per_table)} tables", "window_s": per_table[0]["window_s"], "loads": loads, "rows": rows,
            "loads_per_s": max(t["loads_per_s"] for t in per_table),
            "rows_per_load": rows / loads if loads else 0.0,
            "min_rows_per_load": min(t["min_rows_per_load"] for t in per_table),
            "max_rows_per_load": max(t["max_rows_per_load"] for t in per_table),
            "timeline_commits": sum(t["timeline_commits"] for t in per_table)}


def merged(timelines: dict[str, list[list[float]]]) -> list[list[float]]:
    """Per-table ``[time, rows]`` timelines as one of rows in all tables."""
    last = dict.fromkeys(timelines, 0.0)
    out = []
    for t, table, n in sorted((pt[0], table, pt[1]) for table, pts in timelines.items() for pt in pts):
        last[table] = n
        out.append([t, sum(last.values())])
    return out
