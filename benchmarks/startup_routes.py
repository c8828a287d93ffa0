"""Start-up with many routes: process start → first row stored, 5 routes against 500.

    .venv/bin/python benchmarks/startup_routes.py [--routes 5,500] [--partitions 3] [--rows 6] [--rounds 3]

Starts the local Kafka broker and the Stream Load emulator (count-only), creates for each route
count N a set of N topics of ``--partitions`` partitions (``sr<N>-<i>``) with ``--rows`` Datagen
orders each, then, for each round and each N in turn (interleaved), starts one ``sinkapp worker``
(config/connector-json.json, ``topics.regex`` over that set, ``starrocks.topic2table.map`` sending
every topic to test123, a fresh ``group.id``) and measures from ``Popen`` to the first row the
emulator stored, and to the last of the N × rows. It prints every run, then per N the medians over
the rounds, the ratio of the largest N's first-row time to the smallest's (issue target ≤ 2), and
the number of ledger topics on the broker per group (target 1 whatever N).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkapp_testkit.demo import datagen_order  # noqa: E402
from sinkapp_testkit.workdir import add_work_options, run_in_work_dir  # noqa: E402

from benchmarks.bench.harness import Services  # noqa: E402


async def make_topics(bootstrap: str, names: list[str], partitions: int, rows: int) -> None:
    """Create ``names`` (100 per request), wait for their leaders, produce ``rows`` orders to each."""
    import random

    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=120_000)
    await admin.start()
    try:
        for i in range(0, len(names), 100):
            await admin.create_topics([NewTopic(n, partitions, 1) for n in names[i:i + 100]], timeout_ms=120_000)
        deadline = time.monotonic() + 120
        while True:
            meta = await admin.describe_topics(names)
            if all(not m["error_code"] and len(m["partitions"]) == partitions
                   and all(p["leader"] >= 0 for p in m["partitions"]) for m in meta):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("topics without leaders after 120 s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    rng = random.Random(7)
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await prod.start()
    try:
        futs = [await prod.send(n, orjson.dumps(datagen_order(j, rng)), partition=j % partitions)
                for n in names for j in range(rows)]
        await asyncio.gather(*futs)
    finally:
        await prod.stop()


async def ledger_topics(bootstrap: str, group: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sum(1 for t in await admin.list_topics() if t.startswith(group) and "sinkapp-ledger" in t)
    finally:
        await admin.close()


def run_once(s: Services, work: Path, n: int, rows: int, rnd: int, profile_s: float = 0) -> dict[str, Any]:
    """One worker over the N-topic set: seconds to the first and to the last row, ledger topics."""
    import subprocess

    topics = [f"sr{n}-{i}" for i in range(n)]
    group = f"startup-{n}-{rnd}-{uuid.uuid4().hex[:6]}"
    cfg = json.loads((ROOT / "config" / "connector-json.json").read_text())
    cfg.pop("topics")
    cfg.update({"topics.regex": f"sr{n}-[0-9]+", "starrocks.topic2table.map": ",".join(f"{t}:test123" for t in topics),
                "starrocks.http.url": s.emu.fe, "starrocks.username": "root", "starrocks.password": "",
                "bootstrap.servers": s.kafka.bootstrap_servers, "group.id": group, "bufferflush.intervalms": "1000",
                "sinkapp.label.prefix": f"st{uuid.uuid4().hex[:6]}"})
    path = work / f"{group}.json"
    path.write_text(json.dumps(cfg))
    s.emu.truncate()
    log_path = work / f"{group}.log"
    with log_path.open("wb") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "sinkapp.cli", "worker", "--config", str(path),
                                 "--without-web", "-l", "info", "--datadir", str(work / group)],
                                stdout=log, stderr=subprocess.STDOUT, cwd=work)
        spy = None
        if profile_s:                          # py-spy (pip install py-spy) samples the worker's first seconds
            spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(proc.pid),
                                    "--duration", str(int(profile_s)), "--format", "speedscope", "--threads", "--idle",
                                    "--nonblocking", "-o", str(work / f"{group}.speedscope.json")], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        first = last = None
        try:
            while last is None:
                seen = s.emu.count()
                now = time.monotonic() - t0
                if seen and first is None:
                    first = now
                if seen >= n * rows:
                    last = now
                if proc.poll() is not None or now > 600:
                    raise RuntimeError(f"N={n}: {seen} rows after {now:.0f} s; worker exit {proc.poll()}: "
                                       + log_path.read_text(errors="replace")[-3000:])
                time.sleep(0.05)
        finally:
            if spy is not None:
                spy.wait(profile_s + 30)
            proc.terminate()
            proc.wait(120)
    return {"routes": n, "round": rnd, "first_row_s": first, "all_rows_s": last,
            "ledger_topics": asyncio.run(ledger_topics(s.kafka.bootstrap_servers, group)), "log": str(log_path)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--routes", default="5,500", help="route counts, comma-separated")
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--rows", type=int, default=6, help="rows per topic")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--profile-s", type=float, default=0,
                    help="record each worker's first seconds with py-spy (speedscope files in the work directory: "
                         "add --keep)")
    add_work_options(ap)
    args = ap.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)    # leader elections of fresh topics: retried
    return run_in_work_dir("sinkapp-startup-", args, lambda work: run(args, work))


def run(args: argparse.Namespace, work: Path) -> int:
    counts = [int(x) for x in args.routes.split(",")]
    runs = []
    with Services(work) as s:
        for n in counts:
            t = time.monotonic()
            asyncio.run(make_topics(s.kafka.bootstrap_servers, [f"sr{n}-{i}" for i in range(n)], args.partitions,
                                    args.rows))
            print(f"N={n}: {n} topics x {args.partitions} partitions, {args.rows} rows each, "
                  f"in {time.monotonic() - t:.1f} s", flush=True)
        for rnd in range(args.rounds):
            for n in counts:
                r = run_once(s, work, n, args.rows, rnd, args.profile_s)
                runs.append(r)
                print(f"round {rnd} N={n:4d}: first row {r['first_row_s']:6.2f} s, all {n * args.rows} rows "
                      f"{r['all_rows_s']:6.2f} s, ledger topics {r['ledger_topics']}", flush=True)
    med = {n: (statistics.median(r["first_row_s"] for r in runs if r["routes"] == n),
               statistics.median(r["all_rows_s"] for r in runs if r["routes"] == n)) for n in counts}
    print(f"\nmedians over {args.rounds} round(s), {args.partitions} partitions per topic:")
    for n, (first, last) in med.items():
        ledgers = sorted({r["ledger_topics"] for r in runs if r["routes"] == n})
        print(f"  {n:4d} routes: process start -> first row {first:6.2f} s, -> all rows {last:6.2f} s, "
              f"ledger topics per group {ledgers}")
    lo, hi = min(counts), max(counts)
    print(f"ratio first row {hi}/{lo} routes: {med[hi][0] / med[lo][0]:.2f} (target <= 2); "
          f"all rows: {med[hi][1] / med[lo][1]:.2f}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"runs": runs, "medians": med}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
