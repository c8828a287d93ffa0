"""Schema change latency: how long the first record of a new schema version takes to be visible.

    .venv/bin/python benchmarks/schema_change.py [--rounds 3] [--rate 20] [--schema-change-s 5] [--intervalms 1000]

Starts the local Kafka broker, the Schema Registry emulator and the Stream Load emulator with its
MySQL front (ADD COLUMN jobs of ``--schema-change-s`` seconds on tables without
fast_schema_evolution). Per case and round: a fresh Avro topic (the orders schema, v1), a fresh
``sinkapp worker`` with ``auto.create=true``, ``auto.evolve=true``, a steady trickle of v1 records
(``--rate`` rows/s) until the worker is caught up, then the measured record, then more of the same
version for ``--tail-s``. The cases, interleaved in every round:

- baseline: the measured record is one more v1 record (no schema change);
- fast: the first v2 record (v1 + optional ``note`` string and ``discount`` decimal(10,2)), the
  table created with ``fast_schema_evolution=true`` (the emulator finishes ADD COLUMN at once);
- job: the first v2 record, ``fast_schema_evolution=false`` (a ``--schema-change-s`` job).

Latency: from the producer's acknowledgement of the measured record to the emulator's commit of the
load that made its row visible with its values (``note``/``discount`` not NULL for v2): the row is
polled every 10 ms and the commit time read from the emulator's load timeline (wall clock). The
same is printed for the v1 record just before it. For v2 also, in seconds after the ack: the ALTER's
arrival, the job's end and the worker's first SHOW ALTER TABLE COLUMN that saw it FINISHED. Each
case then checks that every produced row is stored exactly once with its values. Prints per-round
figures, medians and the ratio to the baseline; exit status 1 when a case lost or doubled a row.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
from aiokafka import AIOKafkaProducer
from schema_registry.client import SchemaRegistryClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinkapp_testkit.kafka import LocalKafka  # noqa: E402
from sinkapp_testkit.registry import RegistryThread, confluent_encode  # noqa: E402
from sinkapp_testkit.streamload import EmulatorThread  # noqa: E402
from sinkapp_testkit.workdir import add_work_options, run_in_work_dir  # noqa: E402

from tests.workers import Worker, datagen_order, fixture_path  # noqa: E402

V1 = json.loads((fixture_path("orders.avsc")).read_text())
V2 = {**V1, "fields": [*V1["fields"],
                       {"name": "note", "type": ["null", "string"], "default": None},
                       {"name": "discount", "type": ["null", {"type": "bytes", "logicalType": "decimal",
                                                              "precision": 10, "scale": 2}], "default": None}]}
KEYS = ("alter", "job_done", "seen_done")     # DDL times after the ack, see ddl_times
CASES = {"baseline": (1, "false"), "fast": (2, "true"), "job": (2, "false")}   # measured version, fast_schema_evolution


def v2_order(i: int) -> dict[str, Any]:
    return {**datagen_order(i), "note": f"n{i}", "discount": Decimal(i % 100) / 4}


@dataclass
class Run:
    """One case's producing state, shared by the trickle and the watcher."""
    encoders: dict[int, Any]                  # version -> record -> bytes
    measured_version: int
    switch: bool = False                      # set: the next record is the measured one
    stop: bool = False
    marker: int | None = None
    version: int = 1
    versions: dict[int, int] = field(default_factory=dict)   # orderid -> schema version
    acked: dict[int, float] = field(default_factory=dict)    # orderid -> ack wall clock


def encoders(registry: RegistryThread, subject: str) -> dict[int, Any]:
    client = SchemaRegistryClient(registry.url)
    out = {}
    for v, schema, make in ((1, V1, datagen_order), (2, V2, v2_order)):
        sid, parsed = client.register(subject, json.dumps(schema)), fastavro.parse_schema(schema)

        def enc(i: int, sid: int = sid, parsed: Any = parsed, make: Any = make) -> bytes:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, parsed, make(i))
            return confluent_encode(sid, buf.getvalue())
        out[v] = enc
    return out


async def trickle(prod: AIOKafkaProducer, topic: str, run: Run, rate: float, partitions: int) -> None:
    start, i = time.monotonic(), 0
    while not run.stop:
        if run.switch and run.marker is None:
            run.marker, run.version = i, run.measured_version
        await (await prod.send(topic, run.encoders[run.version](i), partition=i % partitions))
        run.acked[i], run.versions[i] = time.time(), run.version
        i += 1
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))


def count(emu: EmulatorThread, table: str) -> int:
    try:
        return int(emu.count("test", table))
    except Exception:  # noqa: BLE001 - the table is not created yet
        return 0


async def wait_caught_up(emu: EmulatorThread, table: str, run: Run, warmup_s: float, w: Worker) -> None:
    """Until ``warmup_s`` passed and every record acked over 3 s ago is stored."""
    start = time.monotonic()
    while True:
        if not w.alive():
            raise RuntimeError("the worker exited:\n" + w.log()[-3000:])
        old = sum(1 for t in list(run.acked.values()) if t < time.time() - 3.0)
        if time.monotonic() - start >= warmup_s and old and count(emu, table) >= old:
            return
        if time.monotonic() - start > 120:
            raise RuntimeError(f"not caught up after 120 s: {count(emu, table)} of {old} rows\n" + w.log()[-3000:])
        await asyncio.sleep(0.2)


def shown(row: dict[str, Any] | None, version: int) -> bool:
    return row is not None and (version == 1 or (row.get("note") is not None and row.get("discount") is not None))


async def watch(emu: EmulatorThread, table: str, ids: dict[int, int], timeout_s: float = 90) -> dict[int, float]:
    """Commit time of the load that made each of ``ids`` (orderid -> version) visible with its values."""
    last_miss = dict.fromkeys(ids, time.time())
    found: dict[int, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(found) < len(ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"rows {sorted(set(ids) - set(found))} not visible with their values in {timeout_s}s")
        before = time.time()
        by_id = {r["orderid"]: r for r in emu.rows("test", table)} if count(emu, table) else {}
        for i, v in ids.items():
            if i in found:
                continue
            if shown(by_id.get(i), v):
                points = emu.timeline("test", table, since=last_miss[i])
                found[i] = points[0][0] if points else time.time()
            else:
                last_miss[i] = before
        await asyncio.sleep(0.01)
    return found


async def measure(emu: EmulatorThread, kafka: LocalKafka, topic: str, run: Run, args: argparse.Namespace,
                  w: Worker) -> dict[str, float]:
    prod = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=0)
    await prod.start()
    task = asyncio.create_task(trickle(prod, topic, run, args.rate, args.partitions))
    try:
        await wait_caught_up(emu, topic, run, args.warmup_s, w)
        run.switch = True
        while run.marker is None or run.marker not in run.acked:
            await asyncio.sleep(0.005)
        m = run.marker
        seen = await watch(emu, topic, {m - 1: 1, m: run.measured_version})
        await asyncio.sleep(args.tail_s)
    finally:
        run.stop = True
        await task
        await prod.stop()
    t0 = run.acked[m]
    out = {"latency": seen[m] - t0, "prev_v1": seen[m - 1] - run.acked[m - 1]}
    out.update(ddl_times(emu, topic, t0))
    return out


def ddl_times(emu: EmulatorThread, table: str, t0: float) -> dict[str, float]:
    """When the ALTER arrived, the job finished, and the worker's SHOW ALTER first saw it finished."""
    mine = [s for s in emu.statements() if s.error is None and table in s.sql]
    alters = [s.time for s in mine if s.sql.lstrip().upper().startswith("ALTER")]
    jobs = [j.finish_at for j in emu.sql.jobs.jobs if j.table == table]
    out = {}
    if alters:
        out["alter"] = alters[0] - t0
    if jobs:
        out["job_done"] = jobs[0] - t0
        shows = [s.time for s in mine if s.sql.lstrip().upper().startswith("SHOW ALTER") and s.time >= jobs[0]]
        if shows:
            out["seen_done"] = shows[0] - t0
    return out


def exactly_once(rows: list[dict[str, Any]], versions: dict[int, int]) -> str:
    seen: dict[int, int] = {}
    wrong = []
    for r in rows:
        i = r["orderid"]
        seen[i] = seen.get(i, 0) + 1
        want = (f"n{i}", Decimal(i % 100) / 4) if versions.get(i) == 2 else (None, None)
        got = (r.get("note"), None if r.get("discount") is None else Decimal(str(r["discount"])))
        if got != want:
            wrong.append(i)
    missing = sorted(set(versions) - set(seen))
    twice = sorted(i for i, n in seen.items() if n > 1)
    extra = sorted(set(seen) - set(versions))
    if not (missing or twice or extra or wrong):
        return f"ok: {len(rows)} rows, each once, values right"
    return f"FAIL: missing={missing[:20]} twice={twice[:20]} unknown={extra[:20]} wrong values={wrong[:20]}"


def run_case(case: str, env: dict[str, Any], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    kafka, emu, registry = env["kafka"], env["emu"], env["registry"]
    measured_version, fast = CASES[case]
    topic = f"sc_{case}_{uuid.uuid4().hex[:8]}"       # also the table's name
    kafka.create_topic(topic, partitions=args.partitions)
    run = Run(encoders(registry, f"{topic}-value"), measured_version)
    cfg = {"topics": topic, "starrocks.http.url": emu.fe_url, "starrocks.username": "root",
           "starrocks.password": "pw", "starrocks.database.name": "test",
           "bootstrap.servers": kafka.bootstrap_servers, "group.id": f"sc-{uuid.uuid4().hex[:8]}",
           "bufferflush.intervalms": str(args.intervalms), "sinkapp.label.prefix": f"sc{uuid.uuid4().hex[:6]}",
           "value.converter": "io.confluent.connect.avro.AvroConverter",
           "value.converter.schema.registry.url": registry.url,
           "auto.create": "true", "auto.evolve": "true", "starrocks.jdbc.url": emu.jdbc_url,
           "sinkapp.table.create.properties.replication_num": "1",
           "sinkapp.table.create.properties.fast_schema_evolution": fast}
    w = Worker(cfg, work, topic).start()
    try:
        deadline = time.monotonic() + 120
        while "Worker ready" not in w.log():
            if not w.alive() or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start:\n" + w.log()[-3000:])
            time.sleep(0.1)
        out = asyncio.run(measure(emu, kafka, topic, run, args, w))
        deadline = time.monotonic() + 60
        while count(emu, topic) < len(run.versions) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        w.stop()
    out["check"] = exactly_once(emu.rows("test", topic), run.versions)
    out["rows"] = len(run.versions)
    kafka.delete_topic(topic)
    return out


def fmt(out: dict[str, Any]) -> str:
    parts = [f"latency {out['latency']:.2f}s", f"v1 before it {out['prev_v1']:.2f}s"]
    parts += [f"{k} +{out[k]:.2f}s" for k in KEYS if k in out]
    return ", ".join(parts) + f"; {out['check']}"


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    base = statistics.median(o["latency"] for o in results["baseline"])
    print("\nmedians (first record of the case's version: produced, acked -> row visible):")
    for case, outs in results.items():
        med = statistics.median(o["latency"] for o in outs)
        prev = statistics.median(o["prev_v1"] for o in outs)
        extra = "".join(f", {k} +{statistics.median(o[k] for o in outs):.2f}s"
                        for k in KEYS if all(k in o for o in outs))
        ok = sum(o["check"].startswith("ok") for o in outs)
        print(f"  {case:8s} {med:6.2f}s  x{med / base:5.2f} vs baseline   (v1 before it {prev:.2f}s{extra}); "
              f"exactly once in {ok}/{len(outs)} rounds")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=20.0, help="records/s of the trickle")
    ap.add_argument("--schema-change-s", type=float, default=5.0, help="the emulator's ADD COLUMN job time")
    ap.add_argument("--intervalms", type=int, default=1000, help="bufferflush.intervalms")
    ap.add_argument("--warmup-s", type=float, default=6.0, help="v1 trickle at least this long before the measure")
    ap.add_argument("--tail-s", type=float, default=3.0, help="keep producing this long after the row is visible")
    ap.add_argument("--partitions", type=int, default=3)
    add_work_options(ap)
    args = ap.parse_args(argv)
    return run_in_work_dir("sinkapp-schema-change-", args, lambda work: run(args, work))


def run(args: argparse.Namespace, work: Path) -> int:
    print(f"rate={args.rate:g}/s partitions={args.partitions} intervalms={args.intervalms} "
          f"schema_change_s={args.schema_change_s:g} rounds={args.rounds} (work dir {work})")
    kafka = LocalKafka(home=work / "kafka")
    kafka.start()
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CASES}
    try:
        with RegistryThread() as registry, EmulatorThread(
                user="root", password="pw", databases=["test"], mysql_port=0,
                schema_change_s=args.schema_change_s) as emu:
            env = {"kafka": kafka, "emu": emu, "registry": registry}
            for r in range(1, args.rounds + 1):
                for case in CASES:
                    out = run_case(case, env, args, work)
                    results[case].append(out)
                    print(f"round {r} {case:8s} {fmt(out)}", flush=True)
        report(results)
    finally:
        kafka.stop()
    return 0 if all(o["check"].startswith("ok") for outs in results.values() for o in outs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
