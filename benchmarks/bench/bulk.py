"""Bulk runs: N records already in the topic, one consumer from process start to the N-th row visible."""

from __future__ import annotations

import argparse
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .consumers import Flush, JavaConnector, SinkappWorkers, java_config, java_name, sinkapp_config
from .harness import Consumer, Emulator, RunFailed, print_logs, wait_rows
from .procfs import cpu_s, vmhwm_kb
from .results import Result, steady_rate


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    bootstrap: str
    emu: Emulator
    registry_url: str | None
    topics: dict[str, str]
    records: dict[str, int]

    @property
    def flush(self) -> Flush:
        return Flush(1000, self.args.maxbytes, self.args.flush_rows)


def measure(b: Bench, c: Consumer, res: Result) -> Result:
    """Start ``c`` on an empty table, wait for ``res.n`` rows, stop it; fill ``res`` (end to end,
    steady rate, CPU and peak RSS of its processes read just before the stop, loads, timeline)."""
    n = res.n
    b.emu.truncate()
    emu_cpu0 = b.emu.cpu_s()
    t0 = time.time()
    try:
        c.start()
        wait_rows(b.emu, c, n, timeout=b.args.timeout, stall_timeout=b.args.stall_timeout)
        res.cpu_s = sum(cpu_s(p.pid) for p in c.procs)
        res.rss_kb = sum(vmhwm_kb(p.pid) for p in c.procs)
        res.emu_cpu_s = b.emu.cpu_s() - emu_cpu0
        points = b.emu.timeline()
    except RunFailed as exc:
        c.stop()          # before printing the logs, so they hold the shutdown too
        res.ok, res.error = False, str(exc)
        print_logs(exc.logs)
        return res
    finally:
        c.stop()
    t_n = next(p[0] for p in points if p[1] >= n)
    res.e2e_s = t_n - t0
    res.steady_rows_s = steady_rate(points, n)
    res.extra = {"logs": [str(p) for p in c.logs], "loads": len(points),
                 "timeline": [[round(t - t0, 3), c] for t, c in points]}     # seconds since Popen, rows
    final = b.emu.count()
    if final != n:
        res.ok, res.error = False, f"{final:,} rows in the table after the consumer stopped, expected {n:,}"
        print_logs(c.logs)
    return res


def run_sinkapp(b: Bench, fmt: str, rnd: int, workers: int = 1, processes: int = 1) -> Result:
    name = f"sinkapp {fmt}" + (f" ×{workers} workers" if workers > 1 else "") + (
        f" --processes {processes}" if processes > 1 else "")
    group = f"bench-{fmt}-{uuid.uuid4().hex[:6]}"
    cfg = sinkapp_config(fmt, [b.topics[fmt]], b.emu.fe, b.bootstrap, group, b.flush, b.args.set)
    env = {"SINKAPP_SCHEMA_REGISTRY_URL": b.registry_url} if b.registry_url else {}
    c = SinkappWorkers(name, b.work / f"r{rnd}-{fmt}-x{workers}-p{processes}-{group}", cfg, workers, env,
                       processes)
    return measure(b, c, Result(name, rnd, b.records[fmt],
                                timing="Popen of the worker(s) → emulator commit of the N-th row"))


def run_java(b: Bench, rnd: int) -> Result:
    tasks = b.args.java_tasks
    name = java_name(tasks) + " json"
    conn = f"starrocks-bench-{uuid.uuid4().hex[:6]}"
    cfg = java_config(conn, [b.topics["json"]], b.emu.fe, b.flush, tasks)
    c = JavaConnector(name, b.work / f"r{rnd}-java-{conn}", b.args.java_plugin, b.bootstrap, cfg)
    return measure(b, c, Result(name, rnd, b.records["json"],
                                timing="Popen of the Connect JVM → emulator commit of the N-th row"))
