"""The bulk benchmark's baselines: the raw aiokafka ceiling and the bare Faust agent."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .harness import RunFailed
from .procfs import vmhwm_kb
from .results import RAW, Result, steady_rate

if TYPE_CHECKING:
    from .bulk import Bench

BENCHMARKS = Path(__file__).resolve().parents[1]


def raw_child(bootstrap: str, topic: str, group: str, n: int) -> None:
    """Child process: consume n records with a plain getmany loop; print RAW_DONE {json}."""
    from aiokafka import AIOKafkaConsumer

    async def run() -> dict[str, Any]:
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
        c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
        await c.start()
        seen, marks = 0, {}
        try:
            while seen < n:
                got = await c.getmany(timeout_ms=1000, max_records=50_000)
                seen += sum(len(v) for v in got.values())
                now = time.time()
                for key, threshold in (("t10", 0.1 * n), ("t90", 0.9 * n)):
                    if key not in marks and seen >= threshold:
                        marks[key] = [now, seen]
            t_n, r1 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
        finally:
            await c.stop()
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        return {"t0": t0, "tN": [t_n, seen], **marks, "cpu_s": cpu, "vmhwm_kb": vmhwm_kb(os.getpid())}

    print("RAW_DONE " + json.dumps(asyncio.run(run())), flush=True)


def _child_result(out: str, tag: str) -> dict[str, Any]:
    for line in out.splitlines():
        if tag + " {" in line:             # Faust logs what its agents print, with a prefix
            return dict(json.loads(line.split(tag + " ", 1)[1]))
    raise RunFailed(f"no {tag} line in the output:\n{out[-3000:]}")


def run_raw(b: Bench, rnd: int) -> Result:
    n = b.records["json"]
    res = Result(RAW, rnd, n, timing="consumer construction → N-th record consumed (child process)")
    try:
        out = subprocess.run([sys.executable, str(BENCHMARKS / "throughput.py"), "--raw-child", b.bootstrap,
                              b.topics["json"], f"bench-raw-{uuid.uuid4().hex[:6]}", str(n)],
                             capture_output=True, text=True, timeout=b.args.timeout, cwd=b.work)
        d = _child_result(out.stdout + out.stderr, "RAW_DONE")
    except (RunFailed, subprocess.TimeoutExpired) as exc:
        res.ok, res.error = False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(str(exc)[-3000:], file=sys.stderr)
        return res
    res.e2e_s = d["tN"][0] - d["t0"]
    res.steady_rows_s = steady_rate([d["t10"], d["t90"]], n)
    res.cpu_s, res.rss_kb = d["cpu_s"], d["vmhwm_kb"]
    return res


def run_bare_faust(b: Bench, rnd: int) -> Result:
    n = min(b.args.bare_faust_records, b.records["json"])
    res = Result("bare faust noack_take+ack", rnd, n, timing="Popen → N-th event acked")
    log = b.work / f"bare-faust-{rnd}.log"
    t0 = time.time()
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, str(BENCHMARKS / "bare_faust.py"), b.bootstrap,
                                 b.topics["json"], f"bench-faust-{uuid.uuid4().hex[:6]}", str(n)],
                                stdout=fh, stderr=subprocess.STDOUT, cwd=b.work)
        try:
            proc.wait(b.args.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        d = _child_result(log.read_text(errors="replace"), "BARE_FAUST_DONE")
    except RunFailed as exc:
        res.ok, res.error = False, f"bare faust failed (log {log})"
        print(str(exc), file=sys.stderr)
        return res
    res.e2e_s = d["tN"][0] - t0
    res.steady_rows_s = steady_rate([d["t10"], d["t90"]], n)
    res.cpu_s, res.rss_kb = d["cpu_s"], d["vmhwm_kb"]
    return res
