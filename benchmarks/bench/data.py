"""What the benchmarks produce: Datagen orders as JSON, CSV or Avro, in bulk or at a steady rate."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from sinkapp_testkit import demo_data
from sinkapp_testkit.demo import datagen_order

ROOT = Path(__file__).resolve().parents[2]
AVSC = demo_data.path("orders.avsc")


class _QuietNewLeader(logging.Filter):
    """Drop aiokafka's retried NotLeaderForPartitionError warnings: a topic created a moment ago
    answers them for its first produce requests (the producer retries; real failures still raise)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "NotLeaderForPartitionError" not in record.getMessage()


logging.getLogger("aiokafka.producer.sender").addFilter(_QuietNewLeader())


def json_values(n: int, start: int = 0) -> Iterator[bytes]:
    import orjson
    rng = random.Random(7 + start)
    for i in range(start, start + n):
        yield orjson.dumps(datagen_order(i, rng))


def csv_values(n: int) -> Iterator[bytes]:
    rng = random.Random(7)
    for i in range(n):
        o = datagen_order(i, rng)
        a = o["address"]
        yield (f'{o["ordertime"]},{o["orderid"]},{o["itemid"]},{o["orderunits"]},'
               f'{a["city"]},{a["state"]},{a["zipcode"]}').encode()


def avro_values(n: int, schema_id: int) -> Iterator[bytes]:
    import fastavro
    from sinkapp_testkit.registry import confluent_encode
    parsed = fastavro.parse_schema(json.loads(AVSC.read_text()))
    rng = random.Random(7)
    for i in range(n):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, datagen_order(i, rng))
        yield confluent_encode(schema_id, buf.getvalue())


def register_avro(registry_url: str, subject: str) -> int:
    req = urllib.request.Request(f"{registry_url}/subjects/{subject}/versions", method="POST",
                                 data=json.dumps({"schema": AVSC.read_text()}).encode(),
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(json.loads(r.read())["id"])


async def produce(bootstrap: str, topic: str, values: Iterator[bytes], partitions: int) -> tuple[int, int]:
    """Round-robin over partitions in producer batches; returns (records, value bytes)."""
    from aiokafka import AIOKafkaProducer
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20,
                            max_request_size=8 << 20)
    await prod.start()
    count = nbytes = 0
    try:
        batches = [prod.create_batch() for _ in range(partitions)]
        futs = []
        for v in values:
            p = count % partitions
            while batches[p].append(key=None, value=v, timestamp=None) is None:
                futs.append(await prod.send_batch(batches[p], topic, partition=p))
                batches[p] = prod.create_batch()
            count += 1
            nbytes += len(v)
            if len(futs) > 64:
                await asyncio.gather(*futs)
                futs = []
        for p, b in enumerate(batches):
            if b.record_count():
                futs.append(await prod.send_batch(b, topic, partition=p))
        await asyncio.gather(*futs)
    finally:
        await prod.stop()
    return count, nbytes


class SteadyProducer:
    """A thread producing JSON Datagen orders at ``rate`` rows/s until :meth:`stop`.

    Row ``i`` goes to topic ``i % len(topics)``, partition ``(i // len(topics)) % partitions``, so
    every topic and partition receives the same share; rows are sent in ticks of ``tick_s`` on an
    absolute schedule (no drift when a tick runs late). :attr:`produced` counts acknowledged rows.
    """

    def __init__(self, bootstrap: str, topics: list[str], partitions: int, rate: float,
                 tick_s: float = 0.05) -> None:
        self.bootstrap, self.topics, self.partitions = bootstrap, topics, partitions
        self.rate, self.tick_s = rate, tick_s
        self.produced = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="steady-producer", daemon=True)

    def start(self) -> SteadyProducer:
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(60)
        if self.error is not None:
            raise RuntimeError(f"the steady producer failed: {self.error!r}") from self.error
        return self.produced

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    async def _run(self) -> None:
        from aiokafka import AIOKafkaProducer
        prod = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await prod.start()
        values = json_values(1 << 40)
        t0, sent, nt = time.monotonic(), 0, len(self.topics)
        try:
            while not self._stop.is_set():
                due = int((time.monotonic() - t0) * self.rate)
                futs = []
                for i in range(sent, due):
                    futs.append(await prod.send(self.topics[i % nt], next(values),
                                                partition=(i // nt) % self.partitions))
                sent = max(sent, due)
                await asyncio.gather(*futs)
                self.produced = sent
                await asyncio.sleep(max(0.0, t0 + (sent / self.rate) + self.tick_s - time.monotonic()))
        finally:
            await prod.stop()
