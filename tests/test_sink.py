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
from tests.fakes import Event, Msg


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


# -- exactly-once: the ledger -------------------------------------------------------------------
from sinkapp.ledger import Mark, MemoryLedger  # noqa: E402


async def test_pending_batch_is_confirmed_in_ledger_before_the_load() -> None:
    ledger = MemoryLedger()
    seen_at_load: list[Mark] = []

    class Checking(FakeClient):
        async def load(self, *a: Any, **kw: Any) -> LoadResult:
            seen_at_load.append(ledger.get(0))
            return await super().load(*a, **kw)

    client, acked = Checking(), []
    sink = make_sink(client, acked, ledger=ledger)
    sink.add(events(0, range(0, 3)))
    await sink.flush_all()
    assert seen_at_load == [Mark(-1, (0, 2))]
    assert ledger.writes[0] == (0, Mark(-1, (0, 2)), True)       # confirmed before the HTTP request
    assert ledger.get(0) == Mark(2, None)


async def test_new_owner_rebuilds_exactly_the_pending_batch_and_skips_loaded() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=9, pending=(10, 14))     # the previous owner died mid-load
    client, acked = FakeClient(), []
    sink = make_sink(client, acked, ledger=ledger, max_rows=1000)
    sink.add(events(0, range(5, 21)))                       # redelivered from the committed offset 5
    assert acked == [(0, o) for o in range(5, 10)]          # at or below loaded: acked, not loaded
    await sink.flush_all()
    labels = [a[0] for a in client.attempts]
    assert labels == ["sa-t-orders-0-10-14", "sa-t-orders-0-15-20"]
    assert len(client.attempts[0][1]) == 5
    assert acked == [(0, o) for o in range(5, 21)]
    assert sink.stats.skipped_loaded == 5 and sink.stats.replayed_batches == 1


async def test_replay_batch_is_not_cut_by_triggers_or_drain() -> None:
    ledger = MemoryLedger()
    ledger.marks[1] = Mark(loaded=-1, pending=(0, 9))
    client, acked = FakeClient(), []
    sink = make_sink(client, acked, ledger=ledger, max_rows=3)
    sink.add(events(1, range(0, 6)))                        # only part of the pending batch so far
    await sink.flush_due()
    await sink.flush_all()
    assert client.attempts == [] and acked == []
    sink.add(events(1, range(6, 12)))
    await sink.flush_all()
    assert [a[0] for a in client.attempts][0] == "sa-t-orders-1-0-9"


async def test_stale_pending_is_dropped_when_records_start_after_it() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=-1, pending=(0, 4))       # loaded, committed, ledger update lost
    client, acked = FakeClient(), []
    sink = make_sink(client, acked, ledger=ledger)
    sink.add(events(0, range(5, 8)))
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-5-7"]


async def test_redelivered_copy_of_a_held_record_is_acked_with_it() -> None:
    client, acked = FakeClient(), []
    sink = make_sink(client, acked, max_rows=1000)
    held = events(0, range(10, 15))
    sink.add(held)
    again = events(0, range(12, 15))            # Faust re-seeked: second copies of 12..14
    sink.add(again)
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-10-14"]
    assert all(e.acked for e in held + again)
    assert sink.stats.redelivered == 3


async def test_rewind_before_held_records_follows_the_new_stream_in_order() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=4, pending=None)
    client, acked = FakeClient(), []
    sink = make_sink(client, acked, ledger=ledger, max_rows=1000)
    stale = events(0, range(8, 10))              # old copies taken before a rebalance
    sink.add(stale)
    sink.add(events(0, range(5, 10)))            # the new stream from the committed offset 5
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-5-9"]
    assert sorted(o for _, o in acked) == list(range(5, 10))


async def test_batch_of_a_partition_moved_away_is_dropped_unacked() -> None:
    owned = {0: True}
    client, acked = FakeClient(), []
    sink = make_sink(client, acked, owns=lambda p: owned[p])
    sink.add(events(0, range(0, 2)))
    owned[0] = False                             # a rebalance gave partition 0 to another worker
    await sink.flush_all()
    assert client.attempts == [] and acked == []
