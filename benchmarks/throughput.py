"""Throughput benchmark: sinkapp end to end beside two baselines measured in the same run.

    .venv/bin/python benchmarks/throughput.py [--records 300000] [--runs 3] [--partitions 3]

Starts the local Kafka broker and a Stream Load emulator in benchmark mode (rows validated and
counted, not stored) in its own process, produces ``--records`` Datagen-like JSON orders
(~160 bytes) to one topic, then measures, ``--runs`` times each, with a fresh consumer group:

- aiokafka: a plain ``getmany`` consumer reading every record (the consume ceiling);
- bare Faust: an agent doing nothing but ``noack_take`` + ``ack`` (the framework floor);
- sinkapp: ``sinkapp worker`` with the product's connector-json.json routing (jsonpaths into
  test123) from worker ready until the emulator has counted every row.

Prints rows/s, MB/s and the worker's peak RSS per run, the medians, and sinkapp's ratio to
each baseline. The machine is shared and noisy: read the medians and ratios, not one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkapp.demo import datagen_order  # noqa: E402
from sinkapp.testing.kafka import LocalKafka  # noqa: E402


async def produce(bootstrap: str, topic: str, n: int, partitions: int) -> int:
    import random
    rng = random.Random(7)
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, max_batch_size=512 * 1024)
    await prod.start()
    total = 0
    try:
        batch = []
        for i in range(n):
            v = orjson.dumps(datagen_order(i, rng))
            total += len(v)
            batch.append(await prod.send(topic, v, partition=i % partitions))
            if len(batch) >= 20000:
                await asyncio.gather(*batch)
                batch = []
        await asyncio.gather(*batch)
    finally:
        await prod.stop()
    return total


async def aiokafka_run(bootstrap: str, topic: str, n: int) -> float:
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
                         auto_offset_reset="earliest", enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    await c.start()
    seen, t0 = 0, 0.0
    try:
        while seen < n:
            got = await c.getmany(timeout_ms=1000, max_records=50000)
            if got and not t0:
                t0 = time.perf_counter()
            seen += sum(len(v) for v in got.values())
        return time.perf_counter() - t0
    finally:
        await c.stop()


def bare_faust_run(bootstrap: str, topic: str, n: int, work: Path) -> float:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bare_faust.py"), bootstrap, topic,
                          f"bench-faust-{uuid.uuid4().hex[:6]}", str(n)], capture_output=True, text=True,
                         timeout=600, cwd=work)
    import re
    m = re.search(r"BARE_FAUST_DONE ([0-9.]+)", out.stdout + out.stderr)   # faust routes print to its log
    if m:
        return float(m.group(1))
    raise RuntimeError(f"bare faust run failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")


def count(admin_url: str) -> int:
    import urllib.request
    with urllib.request.urlopen(f"{admin_url}/_emulator/count?db=test&table=test123", timeout=10) as r:
        return int(json.loads(r.read())["count"])


def sinkapp_run(bootstrap: str, topic: str, n: int, emu_fe: str, admin_url: str, work: Path) -> tuple[float, int]:
    base = count(admin_url)
    cfg = json.loads((ROOT / "config" / "connector-json.json").read_text())
    cfg.update({"topics": topic, "starrocks.topic2table.map": f"{topic}:test123",
                "starrocks.http.url": emu_fe, "starrocks.username": "root", "starrocks.password": "",
                "bootstrap.servers": bootstrap, "group.id": f"bench-sink-{uuid.uuid4().hex[:6]}",
                "bufferflush.intervalms": "1000", "sinkapp.flush.max.rows": "100000"})
    d = work / cfg["group.id"]
    d.mkdir()
    (d / "c.json").write_text(json.dumps(cfg))
    log = open(d / "worker.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "sinkapp.cli", "worker", "--config", str(d / "c.json"),
                             "--without-web", "-l", "info", "--datadir", str(d / "data")],
                            stdout=log, stderr=subprocess.STDOUT, cwd=d)
    try:
        deadline = time.monotonic() + 120
        while b"Worker ready" not in (d / "worker.log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((d / "worker.log").read_text()[-3000:])
            time.sleep(0.05)
        t0 = time.perf_counter()
        while count(admin_url) - base < n:
            if proc.poll() is not None:
                raise RuntimeError((d / "worker.log").read_text()[-3000:])
            time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        rss_kb = 0
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss_kb = int(line.split()[1])
        return elapsed, rss_kb
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sinkapp-bench-"))
    kafka = LocalKafka(home=work / "kafka")
    kafka.start()
    emu = subprocess.Popen([sys.executable, "-m", "sinkapp.testing.streamload", "--fe-port", "0", "--be-port", "0",
                            "--admin-port", "0", "--database", "test", "--ddl",
                            str(ROOT / "sinkapp" / "demo_data" / "test123.sql"), "--no-store"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert emu.stdout is not None
        fe = emu.stdout.readline().strip()
        if not fe.startswith("http"):
            raise RuntimeError("the Stream Load emulator did not start")
        admin = fe                      # the emulator's admin API is served on every FE too
        topic = "bench-orders"
        kafka.create_topic(topic, partitions=args.partitions)
        nbytes = asyncio.run(produce(kafka.bootstrap_servers, topic, args.records, args.partitions))
        mb = nbytes / 1e6
        print(f"records={args.records} payload={mb:.1f} MB partitions={args.partitions} runs={args.runs}")
        results: dict[str, list[float]] = {"aiokafka getmany": [], "bare faust noack_take+ack": [], "sinkapp": []}
        rss: list[int] = []
        for run in range(args.runs):
            t = asyncio.run(aiokafka_run(kafka.bootstrap_servers, topic, args.records))
            results["aiokafka getmany"].append(t)
            t = bare_faust_run(kafka.bootstrap_servers, topic, args.records, work)
            results["bare faust noack_take+ack"].append(t)
            t, r = sinkapp_run(kafka.bootstrap_servers, topic, args.records, fe, admin, work)
            results["sinkapp"].append(t)
            rss.append(r)
            print(f"run {run + 1}: " + "  ".join(f"{k}={args.records / v[-1]:,.0f} rows/s" for k, v in results.items())
                  + f"  sinkapp peak RSS={r / 1024:.0f} MiB", flush=True)
        print("\nmedians:")
        med = {k: statistics.median(v) for k, v in results.items()}
        for k, v in med.items():
            print(f"  {k:28s} {args.records / v:>10,.0f} rows/s {mb / v:>7.1f} MB/s")
        print(f"  sinkapp peak RSS (median)     {statistics.median(rss) / 1024:.0f} MiB")
        s = args.records / med["sinkapp"]
        print(f"\nsinkapp / bare faust = {s / (args.records / med['bare faust noack_take+ack']):.2f}x   "
              f"sinkapp / aiokafka = {s / (args.records / med['aiokafka getmany']):.3f}x")
        return 0
    finally:
        emu.terminate()
        kafka.stop()


if __name__ == "__main__":
    raise SystemExit(main())
