"""``sinkapp demo``: the product documentation's walkthrough on one machine, with no cluster.

Starts the local Apache Kafka broker, the Schema Registry emulator and the Stream Load
emulator (database ``test``, table ``test123``), produces Datagen-like Avro ``orders``
continuously in the Confluent wire format, runs a ``sinkapp worker`` with the walkthrough's
``connector-avro.json`` adapted to the local endpoints, prints progress, and ends with a
sample of the table and the totals (``loads=`` counts the loads that wrote rows, not the worker's
zero-row start-up check). Exit status 0 when loaded rows equal produced rows. The work directory
(broker data, worker config and log) is removed after a successful run unless ``--keep`` or
``--work DIR`` (:mod:`sinkapp_testkit.workdir`).

Who calls: ``sinkapp demo`` and tests/test_demo.py.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from sinkapp_testkit.workdir import add_work_options, run_in_work_dir

DB, TABLE, TOPIC = "test", "test123", "datagen_topic"
USER, PASSWORD = "root", "demo-pw"


def _data(name: str) -> str:
    return resources.files("sinkapp_testkit.demo_data").joinpath(name).read_text(encoding="utf-8")


def datagen_order(i: int, rng: random.Random) -> dict[str, Any]:
    """One record as Confluent Datagen's ``orders`` quickstart makes it (orders.avsc ranges)."""
    return {"ordertime": rng.randint(1487715775521, 1519273364600), "orderid": i,
            "itemid": f"Item_{rng.randint(1, 999)}", "orderunits": rng.uniform(0.1, 10.0),
            "address": {"city": f"City_{rng.randint(1, 99)}", "state": f"State_{rng.randint(1, 99)}",
                        "zipcode": rng.randint(10000, 99999)}}


class Producer:
    """Produces Avro orders at ``rate`` records/s in a background thread until stopped."""

    def __init__(self, bootstrap: str, registry_url: str, rate: int) -> None:
        self.bootstrap, self.registry_url, self.rate = bootstrap, registry_url, rate
        self.produced = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _run(self) -> None:
        import fastavro
        from aiokafka import AIOKafkaProducer
        from schema_registry.client import AsyncSchemaRegistryClient, schema

        from sinkapp_testkit.registry import confluent_encode

        try:
            client = AsyncSchemaRegistryClient(url=self.registry_url)
            text = _data("orders.avsc")
            schema_id = await client.register(f"{TOPIC}-value", schema.AvroSchema(text))
            parsed = fastavro.parse_schema(json.loads(text))
            prod = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=50)
            await prod.start()
            rng = random.Random(42)
            try:
                t0 = time.monotonic()
                while not self._stop.is_set():
                    due = int((time.monotonic() - t0) * self.rate) - self.produced
                    futs = []
                    for _ in range(max(0, min(due, 5000))):
                        buf = io.BytesIO()
                        fastavro.schemaless_writer(buf, parsed, datagen_order(self.produced, rng))
                        key = str(self.produced).encode()
                        futs.append(await prod.send(TOPIC, confluent_encode(schema_id, buf.getvalue()), key=key))
                        self.produced += 1
                    if futs:
                        await asyncio.gather(*futs)
                    await asyncio.sleep(0.05)
            finally:
                await prod.stop()
        except BaseException as exc:  # reported by the demo loop, never silently lost
            self.error = exc


def _committed_lag(bootstrap: str, group: str) -> int:
    from sinkapp.kafka.offsets import group_lag

    return asyncio.run(group_lag(bootstrap, group, TOPIC))


def data_loads(records: Iterable[Any]) -> int:
    """The loads that wrote rows: the worker's start-up check (a zero-row load that proves credentials
    and table) and refused or repeated attempts are not counted."""
    return sum(1 for r in records if r.status in ("Success", "Publish Timeout") and r.rows_loaded > 0)


def build_parser(prog: str = "sinkapp demo") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=(
        "The product documentation's walkthrough on one machine, with no cluster: a local Kafka broker, "
        "the Schema Registry and Stream Load emulators, Avro orders produced continuously and a sinkapp "
        "worker loading them into test.test123."))
    p.add_argument("--duration", type=float, default=60.0, help="seconds to produce (default 60)")
    p.add_argument("--rate", type=int, default=2000, help="orders produced per second (default 2000)")
    p.add_argument("--partitions", type=int, default=3, help="partitions of the orders topic (default 3)")
    add_work_options(p)
    return p


def main(argv: list[str] | None = None, prog: str = "python -m sinkapp_testkit.demo") -> int:
    """Entry point (``sinkapp demo`` passes ``prog="sinkapp demo"``, the name its help shows)."""
    args = build_parser(prog).parse_args(argv)
    return run_in_work_dir("sinkapp-demo-", args, lambda work: _demo(args, work),
                           say=lambda text: print(f"demo: {text}", flush=True))


def _demo(args: argparse.Namespace, work: Path) -> int:
    from sinkapp_testkit.kafka import LocalKafka
    from sinkapp_testkit.registry import RegistryThread
    from sinkapp_testkit.streamload import EmulatorThread

    print(f"demo: work dir {work}", flush=True)
    kafka = LocalKafka(home=work / "kafka")
    kafka.start()
    stop_requested = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
    try:
        kafka.create_topic(TOPIC, partitions=args.partitions)
        with RegistryThread() as registry, EmulatorThread(user=USER, password=PASSWORD,
                                                          ddl={DB: _data("test123.sql")}) as emu:
            return _run(args, kafka, registry, emu, work, stop_requested)
    finally:
        kafka.stop()


def _run(args: argparse.Namespace, kafka: Any, registry: Any, emu: Any, work: Path,
         stop_requested: threading.Event) -> int:
    cfg = json.loads(_data("connector-avro.json"))
    group = "sinkapp-demo"
    cfg.update({"starrocks.http.url": emu.fe_url, "starrocks.username": USER, "starrocks.password": PASSWORD,
                "bootstrap.servers": kafka.bootstrap_servers, "group.id": group,
                # the walkthrough's default flush interval is 5 minutes; the demo shows loads every 2 s
                "bufferflush.intervalms": "2000"})
    cfg_path = work / "connector-avro.json"
    cfg_path.write_text(json.dumps(cfg, indent=2))
    env = dict(os.environ, SINKAPP_SCHEMA_REGISTRY_URL=registry.url, PYTHONUNBUFFERED="1")
    print(f"demo: kafka {kafka.bootstrap_servers}  registry {registry.url}  starrocks FE {emu.fe_url}\n"
          f"demo: worker config {cfg_path} (connector-avro.json with local URL, credentials, bootstrap)",
          flush=True)
    log = open(work / "worker.log", "wb")  # noqa: SIM115 (closed once the worker exited)
    worker = subprocess.Popen([sys.executable, "-m", "sinkapp.cli", "worker", "--config", str(cfg_path),
                               "--without-web", "--datadir", str(work / "worker-data")],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    producer = Producer(kafka.bootstrap_servers, registry.url, args.rate)
    producer.start()
    t0 = time.monotonic()
    last = (t0, 0)
    try:
        while time.monotonic() - t0 < args.duration and not stop_requested.is_set():
            time.sleep(2.0)
            last = _progress(emu, producer, kafka, group, t0, last)
            if producer.error or worker.poll() is not None:
                break
        producer.stop()
        deadline = time.monotonic() + 60
        while emu.count(DB, TABLE) < producer.produced and time.monotonic() < deadline \
                and worker.poll() is None and not producer.error:
            time.sleep(1.0)
            last = _progress(emu, producer, kafka, group, t0, last)
    finally:
        producer.stop()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        log.close()
    if producer.error:
        print(f"demo: producer failed: {producer.error!r}", flush=True)
    loaded = emu.count(DB, TABLE)
    rows = emu.rows(DB, TABLE)[:5]
    print("\nsample of test.test123:")
    for r in rows:
        print("  " + json.dumps(r, default=str))
    loads = data_loads(emu.loads(DB, TABLE))
    ok = loaded == producer.produced and producer.produced > 0
    print(f"\ntotals: produced={producer.produced} loaded={loaded} loads={loads} "
          f"worker_exit={worker.returncode} -> {'OK' if ok else 'MISMATCH'}", flush=True)
    if not ok:
        print(f"demo: worker log: {work / 'worker.log'}")
    return 0 if ok else 1


def _progress(emu: Any, producer: Producer, kafka: Any, group: str, t0: float,
              last: tuple[float, int]) -> tuple[float, int]:
    now, loaded = time.monotonic(), emu.count(DB, TABLE)
    try:
        lag: int | str = _committed_lag(kafka.bootstrap_servers, group)
    except Exception:
        lag = "?"
    rate = (loaded - last[1]) / max(1e-6, now - last[0])
    print(f"[{now - t0:5.0f}s] produced={producer.produced} loaded={loaded} lag={lag} "
          f"loads={data_loads(emu.loads(DB, TABLE))} rows/s={rate:.0f}", flush=True)
    return now, loaded


if __name__ == "__main__":
    raise SystemExit(main())
