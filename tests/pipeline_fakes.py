"""Fakes for the sink core's ports (sinkapp.pipeline.ports) and a pipeline builder for unit tests.

- :class:`FakeClient`: the Stream Load client contract: scripted outcomes, every attempt recorded,
  labels it loaded answer ``Label Already Exists`` and ``get_load_state`` VISIBLE, like StarRocks;
- :class:`FakeControl`: the consumer: ownership, acks, watermarks, re-seeks, as lists;
- :class:`FakeKafka`: the records of each partition, for the source reader and for making events;
- :class:`FakeDlq`: the dead-letter topic, able to fail a number of times.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from sinkapp.config import ConverterSettings, ErrorSettings
from sinkapp.config.routes import Route
from sinkapp.converters import build_converter
from sinkapp.pipeline.core import Pipeline, PipelineConfig
from sinkapp.pipeline.encode import Chunker
from sinkapp.pipeline.ledger import MemoryLedger
from sinkapp.pipeline.types import Part
from sinkapp.streamload.client import LoadResult
from sinkapp.streamload.encoding import JsonEncoder, build_encoder, load_headers
from sinkapp.streamload.retry import RetryPolicy
from tests.fakes import Batch, Event, Record

JSON = "org.apache.kafka.connect.json.JsonConverter"


@dataclass
class FakeClient:
    outcomes: list[Exception | None] = field(default_factory=list)
    attempts: list[tuple[str, str, Any]] = field(default_factory=list)     # (table, label, rows)
    bodies: list[bytes] = field(default_factory=list)
    loaded: dict[str, int] = field(default_factory=dict)                   # label → rows
    hang: asyncio.Event | None = None
    csv: bool = False
    states: dict[str, str] = field(default_factory=dict)                   # forced get_load_state answers
    headers: list[dict[str, str]] = field(default_factory=list)            # of each attempt

    def rows_of(self, body: bytes) -> Any:
        return body.decode().splitlines() if self.csv else orjson.loads(body)

    async def load(self, database: str, table: str, label: str, body: Any, headers: Any) -> LoadResult:
        raw = bytes(body)
        self.bodies.append(raw)
        rows = self.rows_of(raw)
        self.attempts.append((table, label, rows))
        self.headers.append(dict(headers))
        if self.hang is not None:
            await self.hang.wait()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        if label in self.loaded:
            return LoadResult(label, "Label Already Exists", 0, 0, 0, 0)
        self.loaded[label] = len(rows)
        return LoadResult(label, "Success", len(rows), 0, len(raw), 1)

    async def load_state(self, database: str, label: str) -> str:
        return self.states.get(label, "VISIBLE" if label in self.loaded else "UNKNOWN")

    async def error_log(self, url: str) -> str:
        return "Error: (fake)"

    def labels(self) -> list[str]:
        return [a[1] for a in self.attempts]

    def stored(self) -> list[Any]:
        """Rows of every successful load (what StarRocks would hold)."""
        seen, out = set(), []
        for _, label, rows in self.attempts:
            if label in self.loaded and label not in seen:
                seen.add(label)
                out.extend(rows)
        return out


@dataclass
class FakeControl:
    not_accepted: set[Part] = field(default_factory=set)
    not_owned: set[Part] = field(default_factory=set)
    acked: list[tuple[int, int]] = field(default_factory=list)          # (partition, last offset)
    loaded: list[tuple[str, int, int]] = field(default_factory=list)    # (topic, partition, watermark)
    seeks: list[tuple[int, int | None]] = field(default_factory=list)

    def accepts(self, part: Part) -> bool:
        return part not in self.not_accepted and part not in self.not_owned

    def owns(self, part: Part) -> bool:
        return part not in self.not_owned

    def taken(self, event: Any) -> None:
        event.message.records = []          # as the consumer does: the records are freed once encoded

    def ack(self, event: Any) -> None:
        assert not event.acked, "acked twice"
        event.acked = True
        self.acked.append((event.message.partition, event.message.offset))

    def mark_loaded(self, part: Part, last_offset: int) -> None:
        self.loaded.append((part.topic, part.partition, last_offset))

    def reseek(self, part: Part, offset: int | None) -> None:
        self.seeks.append((part.partition, offset))

    def marks(self, topic: str = "orders") -> list[tuple[int, int]]:
        """The last watermark told for each partition of ``topic`` (the committed offset is it + 1)."""
        last: dict[int, int] = {}
        for t, p, off in self.loaded:
            if t == topic:
                assert off > last.get(p, -2), f"watermark of {t}[{p}] went back: {last[p]} -> {off}"
                last[p] = off
        return sorted(last.items())


@dataclass
class FakeKafka:
    records: dict[tuple[str, int], dict[int, Record]] = field(default_factory=dict)

    def put(self, rec: Record) -> Record:
        self.records.setdefault((rec.topic, rec.partition), {})[rec.offset] = rec
        return rec

    async def read(self, part: tuple[str, int], first: int, last: int) -> list[Record]:
        got = self.records.get((part[0], part[1]), {})
        return [got[o] for o in sorted(got) if first <= o <= last]


@dataclass
class FakeDlq:
    topic: str = "dlq"
    sent: list[Any] = field(default_factory=list)
    fail: int = 0

    async def send(self, letters: list[Any], task_id: str) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("broker down")
        self.sent.extend(letters)


@dataclass
class Harness:
    pipe: Pipeline
    client: FakeClient
    control: FakeControl
    ledger: MemoryLedger
    kafka: FakeKafka
    dlq: FakeDlq | None

    def batch(self, partition: int, offsets: range | list[int], value: bytes | None = b'{"v": 1}',
              prev: int | None = None, values: dict[int, bytes | None] | None = None, topic: str = "orders") -> Event:
        values = values or {}
        recs = [self.kafka.put(Record(topic, partition, o, values.get(o, value))) for o in offsets]
        return Event(Batch(topic, partition, recs, prev))

    async def take(self, *events: Event, route: int = 0) -> None:
        await self.pipe.take(route, list(events))
        await self.pipe.wait_halts()

    async def flush(self) -> None:
        await self.pipe.flush_all()
        await self.pipe.wait_halts()

    @property
    def stats(self) -> Any:
        return self.pipe.routes[0].stats


def harness(*, topics: tuple[str, ...] = ("orders",), table: str = "t", schemas: bool = False,
            headers: dict[str, str] | None = None, converter: str = JSON, errors: ErrorSettings | None = None,
            dlq: bool = False, client: FakeClient | None = None, ledger: MemoryLedger | None = None,
            chain: Any = None, clock: Any = None, tables: dict[str, str] | None = None, formats: Any = None,
            **cfg: Any) -> Harness:
    errors = errors or ErrorSettings()
    opts: dict[str, Any] = dict(label_prefix="sa", max_bytes=10**9, max_rows=3, interval_ms=60_000, database="test",
                                tolerant=errors.tolerant, log_enable=errors.log_enable,
                                log_messages=errors.log_messages)
    opts.update(cfg)
    client = client or FakeClient()
    control, kafka = FakeControl(), FakeKafka()
    ledger = ledger if ledger is not None else MemoryLedger()
    fdlq = FakeDlq() if dlq else None
    kw: dict[str, Any] = {"clock": clock} if clock is not None else {}
    pipe = Pipeline(PipelineConfig(**opts), client=client, ledger=ledger, control=control,
                    policy=RetryPolicy(max_retries=2, base_delay_s=0.001), dlq=fdlq, reader=kafka, **kw)
    props = headers or {}
    for topic in topics:
        route = Route(topic, "test", (tables or {}).get(topic, table), props, ConverterSettings(converter, schemas), None)
        conv = build_converter(route.value_converter)
        enc = build_encoder(props) if props else JsonEncoder()
        pipe.add_route(route, conv, Chunker(conv, enc, tolerant=errors.tolerant, chain=chain), enc, load_headers(props),
                       formats)
    return Harness(pipe, client, control, ledger, kafka, fdlq)
