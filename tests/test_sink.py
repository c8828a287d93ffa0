"""RouteSink: acks only after a successful load, in offset order; failures hold offsets; drain bounds.

Uses a fake Stream Load client (a class with the client's ``load`` contract) and fake events
(the two attributes of a Faust Event the sink reads). Protocol-level behaviour of the real
client is covered against the emulator in test_streamload_client.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from sinkapp.config import ConverterSettings
from sinkapp.converters import build_converter
from sinkapp.encoding import JsonEncoder
from sinkapp.errors import LoadRejected, LoadRetriable
from sinkapp.routes import Route
from sinkapp.sink import RouteSink
from sinkapp.streamload.client import LoadResult
from sinkapp.streamload.retry import RetryPolicy


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class Event:
    message: Msg
    acked: bool = False


@dataclass
class FakeClient:
    """Stands in for StreamLoadClient: scripted outcomes, records every attempt."""

    outcomes: list[Exception | None] = field(default_factory=list)
    attempts: list[tuple[str, list[Any]]] = field(default_factory=list)
    hang: asyncio.Event | None = None

    async def load(self, database: str, table: str, label: str, body: bytes, headers: Any) -> LoadResult:
        self.attempts.append((label, orjson.loads(body)))
        if self.hang is not None:
            await self.hang.wait()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        n = len(orjson.loads(body))
        return LoadResult(label, "Success", n, 0, len(body), 1)


ROUTE = Route("orders", "test", "t", {}, ConverterSettings(
    "org.apache.kafka.connect.json.JsonConverter", False), None)


def make_sink(client: FakeClient, acked: list[tuple[int, int]], **kw: Any) -> RouteSink:
    def ack(ev: Event) -> None:
        assert not ev.acked, "acked twice"
        ev.acked = True
        acked.append((ev.message.partition, ev.message.offset))
    opts: dict[str, Any] = dict(label_prefix="sa", max_bytes=10**9, max_rows=3, max_age_ms=60_000,
                                policy=RetryPolicy(max_retries=2, base_delay_s=0.001))
    opts.update(kw)
    return RouteSink(ROUTE, client, build_converter(ROUTE.value_converter), JsonEncoder(),  # type: ignore[arg-type]
                     ack=ack, **opts)


def events(partition: int, offsets: range, value: bytes | None = b'{"v": 1}') -> list[Event]:
    return [Event(Msg("orders", partition, o, value)) for o in offsets]


async def test_acks_follow_successful_load_in_offset_order() -> None:
    client, acked = FakeClient(), []
    sink = make_sink(client, acked)
    sink.add(events(0, range(0, 2)) + events(1, range(10, 13)))
    await sink.flush_due()                      # partition 1 reached max_rows=3
    await sink.wait_inflight()
    assert acked == [(1, 10), (1, 11), (1, 12)]
    assert client.attempts[0][0] == "sa-t-orders-1-10-12"
    await sink.flush_all()
    assert acked[3:] == [(0, 0), (0, 1)]
    assert sink.stats.rows_loaded == 5


async def test_retriable_failure_retries_same_label_then_acks() -> None:
    client, acked = FakeClient(outcomes=[LoadRetriable("500"), LoadRetriable("reset")]), []
    sink = make_sink(client, acked)
    sink.add(events(0, range(5, 8)))
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-5-7"] * 3
    assert acked == [(0, 5), (0, 6), (0, 7)]
    assert sink.stats.load_retries == 2


async def test_rejected_load_stops_route_and_acks_nothing() -> None:
    client, acked = FakeClient(outcomes=[LoadRejected("too many filtered rows")]), []
    sink = make_sink(client, acked)
    batch = events(0, range(0, 3))
    sink.add(batch)
    await sink.flush_all()
    assert acked == [] and not any(e.acked for e in batch)
    assert sink.stats.failed and "too many filtered rows" in sink.stats.failed
    sink.add(events(0, range(3, 6)))             # later records are not loaded either
    await sink.flush_all()
    assert len(client.attempts) == 1 and acked == []


async def test_retries_exhausted_stops_route_without_ack() -> None:
    client, acked = FakeClient(outcomes=[LoadRetriable("down")] * 5), []
    sink = make_sink(client, acked)
    sink.add(events(0, range(0, 3)))
    await sink.flush_all()
    assert acked == [] and len(client.attempts) == 3
    assert "sink.maxretries=2" in (sink.stats.failed or "")


async def test_bad_record_stops_route_naming_topic_partition_offset() -> None:
    client, acked = FakeClient(), []
    sink = make_sink(client, acked)
    sink.add(events(2, range(0, 2)) + events(2, range(2, 3), value=b"not json"))
    assert "orders[2]@2" in (sink.stats.failed or "")
    await sink.flush_all()
    assert client.attempts == [] and acked == []


async def test_tombstones_are_counted_and_acked_in_order() -> None:
    client, acked = FakeClient(), []
    sink = make_sink(client, acked)
    sink.add(events(0, range(0, 1)) + events(0, range(1, 2), value=None) + events(0, range(2, 3)))
    await sink.flush_all()
    assert acked == [(0, 0), (0, 1), (0, 2)]
    assert sink.stats.tombstones == 1 and client.attempts[0][1] == [{"v": 1}, {"v": 1}]


async def test_age_trigger() -> None:
    now = [100.0]
    client, acked = FakeClient(), []
    sink = make_sink(client, acked, max_rows=1000, max_age_ms=5000, clock=lambda: now[0])
    sink.add(events(0, range(0, 2)))
    assert sink.due() == []
    now[0] += 5.0
    assert sink.due() == [0]


async def test_drain_releases_a_hung_load_without_ack() -> None:
    client, acked = FakeClient(hang=asyncio.Event()), []
    sink = make_sink(client, acked)
    sink.add(events(0, range(0, 3)) + events(0, range(3, 4)))
    await sink.flush_due()
    await sink.drain(0.05)
    assert acked == [] and sink.buffers == {} and sink.inflight == {}
