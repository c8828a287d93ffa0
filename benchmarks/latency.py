"""Event-to-visible latency at low load: how long after a record is produced its row is in StarRocks.

    .venv/bin/python benchmarks/latency.py [--records 30] [--every-s 0.7] [--intervalms 1000]

Starts the local Kafka broker, the Stream Load emulator (count-only) and one ``sinkapp worker``
(config/connector-json.json, ``bufferflush.intervalms`` as given), then produces one Datagen order
at a time, every ``--every-s`` seconds, and measures for each the time from the producer's
acknowledgement to the emulator's commit of the load that made it visible (the emulator's load
timeline, wall clock). Prints every latency, the median, p90 and max beside the configured bound
``bufferflush.intervalms + 1 s``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkapp_testkit import demo_data  # noqa: E402
from sinkapp_testkit.demo import datagen_order  # noqa: E402
from sinkapp_testkit.kafka import LocalKafka  # noqa: E402
from sinkapp_testkit.workdir import add_work_options, run_in_work_dir  # noqa: E402


def timeline(admin: str) -> list[list[float]]:
    with urllib.request.urlopen(f"{admin}/_emulator/timeline?db=test&table=test123", timeout=10) as r:
        return list(json.loads(r.read()))


async def produce_slowly(bootstrap: str, topic: str, n: int, every_s: float) -> list[float]:
    import random
    rng = random.Random(3)
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await prod.start()
    acked = []
    try:
        for i in range(n):
            await (await prod.send(topic, orjson.dumps(datagen_order(i, rng)), partition=i % 3))
            acked.append(time.time())
            await asyncio.sleep(every_s)
    finally:
        await prod.stop()
    return acked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=30)
    ap.add_argument("--every-s", type=float, default=0.7)
    ap.add_argument("--intervalms", type=int, default=1000)
    add_work_options(ap)
    args = ap.parse_args(argv)
    return run_in_work_dir("sinkapp-latency-", args, lambda work: run(args, work))


def run(args: argparse.Namespace, work: Path) -> int:
    kafka = LocalKafka(home=work / "kafka")
    kafka.start()
    emu = subprocess.Popen([sys.executable, "-m", "sinkapp_testkit.streamload", "--fe-port", "0", "--be-port", "0",
                            "--admin-port", "0", "--database", "test", "--ddl",
                            str(demo_data.path("test123.sql")), "--count-only"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proc = None
    try:
        assert emu.stdout is not None
        line = emu.stdout.readline().split()
        fe = next(w for w in line if w.startswith("http"))
        topic = f"latency-{uuid.uuid4().hex[:6]}"
        kafka.create_topic(topic, partitions=3)
        cfg = json.loads((ROOT / "config" / "connector-json.json").read_text())
        cfg.update({"topics": topic, "starrocks.topic2table.map": f"{topic}:test123", "starrocks.http.url": fe,
                    "starrocks.username": "root", "starrocks.password": "", "bootstrap.servers": kafka.bootstrap_servers,
                    "group.id": f"lat-{uuid.uuid4().hex[:6]}", "bufferflush.intervalms": str(args.intervalms),
                    "sinkapp.label.prefix": f"lat{uuid.uuid4().hex[:6]}"})
        (work / "c.json").write_text(json.dumps(cfg))
        log = open(work / "worker.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "sinkapp.cli", "worker", "--config", str(work / "c.json"),
                                 "--without-web", "-l", "info", "--datadir", str(work / "data")],
                                stdout=log, stderr=subprocess.STDOUT, cwd=work)
        deadline = time.monotonic() + 120
        while b"Worker ready" not in (work / "worker.log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((work / "worker.log").read_text()[-3000:])
            time.sleep(0.1)
        time.sleep(3.0)                                   # partitions assigned, ledger read
        acked = asyncio.run(produce_slowly(kafka.bootstrap_servers, topic, args.records, args.every_s))
        deadline = time.monotonic() + 60
        while (timeline(fe) or [[0, 0]])[-1][1] < args.records and time.monotonic() < deadline:
            time.sleep(0.2)
        points = timeline(fe)
        lat = []
        for i, t in enumerate(acked):
            visible = next((ts for ts, rows in points if rows >= i + 1), None)
            if visible is None:
                raise RuntimeError(f"record {i} never became visible")
            lat.append(visible - t)
        bound = args.intervalms / 1000 + 1.0
        print("latency s: " + " ".join(f"{x:.2f}" for x in lat))
        q = statistics.quantiles(lat, n=10)
        print(f"records={args.records} every={args.every_s}s intervalms={args.intervalms}: "
              f"median={statistics.median(lat):.2f}s p90={q[-1]:.2f}s max={max(lat):.2f}s "
              f"(bound intervalms + 1 s = {bound:.2f}s)")
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(60)
        emu.terminate()
        kafka.stop()


if __name__ == "__main__":
    raise SystemExit(main())
