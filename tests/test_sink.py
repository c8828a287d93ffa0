"""RouteSink on fetched partition batches: acks and commit watermarks only after a successful
load, in offset order; failures hold offsets; drain bounds; the exactly-once replay.

Uses a fake Stream Load client (a class with the client's ``load`` contract) and fake batches
(the attributes of sinkapp.consumer.BatchMessage the sink reads). Protocol-level behaviour of
the real client is covered against the emulator in test_streamload_client.py; the consumer
that makes the batches, on the real broker, in test_worker_kafka.py.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from sinkapp.config import ConverterSettings
from sinkapp.converters import build_converter
from sinkapp.encoding import CsvEncoder, JsonEncoder
from sinkapp.errors import LoadRejected, LoadRetriable
from sinkapp.ledger import Mark, MemoryLedger
from sinkapp.routes import Route
from sinkapp.sink import RouteSink
from sinkapp.streamload.client import LoadResult
from sinkapp.streamload.retry import RetryPolicy
from tests.fakes import Batch, Event, Record

JSON = "org.apache.kafka.connect.json.JsonConverter"


@dataclass
class FakeClient:
    """Stands in for StreamLoadClient: scripted outcomes, records every attempt."""

    outcomes: list[Exception | None] = field(default_factory=list)
    attempts: list[tuple[str, Any]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    hang: asyncio.Event | None = None
    csv: bool = False

    async def load(self, database: str, table: str, label: str, body: bytes, headers: Any) -> LoadResult:
        self.bodies.append(body)
        rows = body.decode().splitlines() if self.csv else orjson.loads(body)
        self.attempts.append((label, rows))
        if self.hang is not None:
            await self.hang.wait()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return LoadResult(label, "Success", len(rows), 0, len(body), 1)


@dataclass
class Seen:
    """What the sink told its surroundings: acked batches, commit watermarks, re-seeks."""

    acked: list[tuple[int, int]] = field(default_factory=list)
    loaded: list[tuple[int, int]] = field(default_factory=list)
    gaps: list[tuple[int, int | None]] = field(default_factory=list)


def make_sink(client: FakeClient, seen: Seen, *, schemas: bool = False, encoder: Any = None,
              **kw: Any) -> RouteSink:
    route = Route("orders", "test", "t", {}, ConverterSettings(JSON, schemas), None)

    def ack(ev: Event) -> None:
        assert not ev.acked, "acked twice"
        ev.acked = True
        seen.acked.append((ev.message.partition, ev.message.offset))

    opts: dict[str, Any] = dict(label_prefix="sa", max_bytes=10**9, max_rows=3, max_age_ms=60_000,
                                policy=RetryPolicy(max_retries=2, base_delay_s=0.001))
    opts.update(kw)
    return RouteSink(route, client, build_converter(route.value_converter),  # type: ignore[arg-type]
                     encoder or JsonEncoder(), ack=ack,
                     on_loaded=lambda p, off: seen.loaded.append((p, off)),
                     on_gap=lambda p, off: seen.gaps.append((p, off)), **opts)


def batch(partition: int, offsets: range | list[int], value: bytes | None = b'{"v": 1}',
          prev: int | None = None, values: dict[int, bytes | None] | None = None) -> Event:
    values = values or {}
    recs = [Record("orders", partition, o, values.get(o, value)) for o in offsets]
    return Event(Batch("orders", partition, recs, prev))


async def test_acks_and_watermark_follow_successful_load_in_offset_order() -> None:
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen)
    sink.add([batch(0, range(0, 2)), batch(1, range(10, 13))])
    await sink.flush_due()                      # partition 1 reached max_rows=3
    await sink.wait_inflight()
    assert seen.acked == [(1, 12)] and seen.loaded == [(1, 12)]
    assert client.attempts[0][0] == "sa-t-orders-1-10-12"
    await sink.flush_all()
    assert seen.acked[1:] == [(0, 1)] and seen.loaded[1:] == [(0, 1)]
    assert sink.stats.rows_loaded == 5 and sink.stats.records_in == 5


async def test_one_body_holds_many_fetched_batches_encoded_once_each() -> None:
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, max_rows=1000)
    evs = [batch(0, range(i * 100, i * 100 + 100), prev=(i * 100 - 1 if i else None)) for i in range(5)]
    sink.add(evs)
    assert len(sink.buffers[0].chunks) == 5      # one chunk per fetched batch, not one per row
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-0-499"]
    assert len(client.attempts[0][1]) == 500
    assert all(e.acked for e in evs) and seen.loaded == [(0, 499)]


async def test_json_values_pass_through_exactly() -> None:
    """Big integers, long decimals and LARGEINT maxima reach StarRocks as written."""
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen)
    raw = (b'{"a": -9223372036854775809, "b": 12345678901234567890.123456789, '
           b'"c": 170141183460469231731687303715884105727}')
    sink.add([batch(0, range(0, 1), value=raw)])
    await sink.flush_all()
    assert client.bodies == [b"[" + raw + b"]"]


async def test_retriable_failure_retries_same_label_then_acks() -> None:
    client, seen = FakeClient(outcomes=[LoadRetriable("500"), LoadRetriable("reset")]), Seen()
    sink = make_sink(client, seen)
    sink.add([batch(0, range(5, 8))])
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-5-7"] * 3
    assert seen.acked == [(0, 7)] and seen.loaded == [(0, 7)]
    assert sink.stats.load_retries == 2


async def test_rejected_load_stops_route_and_acks_nothing() -> None:
    client, seen = FakeClient(outcomes=[LoadRejected("too many filtered rows")]), Seen()
    sink = make_sink(client, seen)
    ev = batch(0, range(0, 3))
    sink.add([ev])
    await sink.flush_all()
    assert seen.acked == [] and seen.loaded == [] and not ev.acked
    assert sink.stats.failed and "too many filtered rows" in sink.stats.failed
    sink.add([batch(0, range(3, 6), prev=2)])   # later records are not loaded either
    await sink.flush_all()
    assert len(client.attempts) == 1 and seen.acked == []


async def test_retries_exhausted_stops_route_without_ack() -> None:
    client, seen = FakeClient(outcomes=[LoadRetriable("down")] * 5), Seen()
    sink = make_sink(client, seen)
    sink.add([batch(0, range(0, 3))])
    await sink.flush_all()
    assert seen.acked == [] and len(client.attempts) == 3
    assert "sink.maxretries=2" in (sink.stats.failed or "")


async def test_bad_record_loads_the_records_before_it_then_stops_naming_where() -> None:
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, max_rows=1000)
    sink.add([batch(2, range(0, 4), values={2: b"not json"}), batch(2, range(4, 6), prev=3)])
    assert sink.halt_task is not None
    await sink.halt_task
    assert "orders[2]@2" in (sink.stats.failed or "") and "--to-offset 3" in (sink.stats.failed or "")
    assert [a[0] for a in client.attempts] == ["sa-t-orders-2-0-1"]      # the good records before it
    assert seen.loaded == [(2, 1)] and seen.acked == []                  # committed up to the bad one
    sink.add([batch(2, range(6, 8), prev=7)])                            # nothing after it
    await sink.flush_all()
    assert len(client.attempts) == 1


async def test_non_object_json_value_is_a_bad_record() -> None:
    for bad in (b"[1, 2]", b"42", b'"{\\"a\\": 1}"', b'{"a": 1} trailing', b'{"a": NaN}', b"\xff\xfe{}",
                b'{"a": "\\x"}'):
        client, seen = FakeClient(), Seen()
        sink = make_sink(client, seen)
        sink.add([batch(0, range(0, 3), values={1: bad})])
        assert sink.halt_task is not None, bad
        await sink.halt_task
        assert "orders[0]@1" in (sink.stats.failed or ""), bad
        assert seen.loaded == [(0, 0)], bad


async def test_empty_json_value_is_null_like_a_tombstone() -> None:
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen)
    sink.add([batch(0, range(0, 3), values={1: b""})])
    await sink.flush_all()
    assert sink.stats.tombstones == 1 and not sink.stats.failed and seen.loaded == [(0, 2)]


async def test_unencodable_decoded_row_is_named() -> None:
    """Decode path (Connect envelope): a payload that is not an object is found in its chunk."""
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, schemas=True)
    good = b'{"schema": {"type": "struct", "fields": []}, "payload": {"a": 1}}'
    scalar = b'{"schema": {"type": "int32"}, "payload": 5}'
    sink.add([batch(0, range(0, 3), value=good, values={2: scalar})])
    assert sink.halt_task is not None
    await sink.halt_task
    assert "orders[0]@2" in (sink.stats.failed or "") and seen.loaded == [(0, 1)]


# -- errors.tolerance=all: the dead-letter topic ---------------------------------------------


@dataclass
class FakeDlq:
    """Stands in for DeadLetterQueue: records what was sent, can fail a number of times."""

    topic: str = "dlq"
    sent: list[Any] = field(default_factory=list)
    fail: int = 0

    async def send(self, letters: list[Any], task_id: str) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("broker down")
        self.sent.extend(letters)


def tolerant(**kw: Any) -> Any:
    from sinkapp.config import ErrorSettings
    return ErrorSettings(tolerance="all", dlq_topic="dlq", **kw)


async def test_tolerance_all_dead_letters_bad_records_before_the_batch_is_acked() -> None:
    client, seen, dlq, ledger = FakeClient(), Seen(), FakeDlq(fail=1), MemoryLedger()
    sink = make_sink(client, seen, max_rows=1000, errors=tolerant(), dlq=dlq, ledger=ledger)
    ev = batch(1, range(0, 6), values={1: b"{bad", 4: b"[1]"})
    sink.add([ev])
    await sink.flush_all()
    assert [(d.offset, d.stage, d.value) for d in dlq.sent] == [(1, "VALUE_CONVERTER", b"{bad"),
                                                                (4, "VALUE_CONVERTER", b"[1]")]
    assert "not valid JSON" in dlq.sent[0].message
    assert client.attempts[0][0] == "sa-t-orders-1-0-5" and len(client.attempts[0][1]) == 4
    assert ev.acked and seen.loaded == [(1, 5)] and not sink.stats.failed
    assert sink.stats.dead_lettered == {"VALUE_CONVERTER": 2}
    assert (1, Mark(-1, (0, 5), dead=True), True) in ledger.writes          # before the load


async def test_a_batch_of_only_bad_records_is_dead_lettered_and_committed() -> None:
    client, seen, dlq = FakeClient(), Seen(), FakeDlq()
    sink = make_sink(client, seen, errors=tolerant(), dlq=dlq)
    sink.add([batch(0, range(0, 2), value=b"nope")])
    await sink.flush_all()
    assert len(dlq.sent) == 2 and client.attempts == [] and seen.loaded == [(0, 1)]


async def test_replayed_batch_whose_dead_letters_were_written_does_not_write_them_again() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=-1, pending=(0, 4), dead=True)     # the previous owner died after the DLQ write
    client, seen, dlq = FakeClient(), Seen(), FakeDlq()
    sink = make_sink(client, seen, errors=tolerant(), dlq=dlq, ledger=ledger, max_rows=1000)
    sink.add([batch(0, range(0, 6), values={2: b"bad"})])
    await sink.flush_all()
    assert dlq.sent == [] and [a[0] for a in client.attempts] == ["sa-t-orders-0-0-4", "sa-t-orders-0-5-5"]


async def test_tolerance_all_without_a_topic_skips_and_counts() -> None:
    from sinkapp.config import ErrorSettings
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, errors=ErrorSettings(tolerance="all"))
    sink.add([batch(0, range(0, 3), values={0: b"x"})])
    await sink.flush_all()
    assert sink.stats.skipped_bad == {"VALUE_CONVERTER": 1} and seen.loaded == [(0, 2)]
    assert len(client.attempts[0][1]) == 2


async def test_csv_text_rows_pass_through() -> None:
    client = FakeClient(csv=True)
    route = Route("orders", "test", "t", {"format": "csv"},
                  ConverterSettings("org.apache.kafka.connect.storage.StringConverter", False), None)
    sink = RouteSink(route, client, build_converter(route.value_converter),  # type: ignore[arg-type]
                     CsvEncoder({"format": "csv", "column_separator": ","}), label_prefix="sa",
                     max_bytes=10**9, max_rows=100, max_age_ms=1000, policy=RetryPolicy())
    sink.add([batch(0, range(0, 3), values={0: b"1,a", 1: None, 2: b"2,b"}, value=b"")])
    await sink.flush_all()
    assert client.bodies == [b"1,a\n2,b\n"] and sink.stats.tombstones == 1


async def test_tombstones_are_counted_and_acked_in_order() -> None:
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen)
    sink.add([batch(0, range(0, 3), values={1: None})])
    await sink.flush_all()
    assert seen.acked == [(0, 2)]
    assert sink.stats.tombstones == 1 and client.attempts[0][1] == [{"v": 1}, {"v": 1}]
    sink.add([batch(0, range(3, 5), value=None, prev=2)])   # only tombstones: acked, committed
    await sink.flush_all()
    assert seen.acked[-1] == (0, 4) and seen.loaded[-1] == (0, 4) and len(client.attempts) == 1


async def test_age_trigger() -> None:
    now = [100.0]
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, max_rows=1000, max_age_ms=5000, clock=lambda: now[0])
    sink.add([batch(0, range(0, 2))])
    assert sink.due() == []
    now[0] += 5.0
    assert sink.due() == [0]


async def test_drain_releases_a_hung_load_without_ack() -> None:
    client, seen = FakeClient(hang=asyncio.Event()), Seen()
    sink = make_sink(client, seen)
    sink.add([batch(0, range(0, 3)), batch(0, range(3, 4), prev=2)])
    await sink.flush_due()
    await sink.drain(0.05)
    assert seen.acked == [] and sink.buffers == {} and sink.inflight == {}


async def test_flush_after_a_drain_cancelled_the_previous_load_does_not_raise() -> None:
    """The flush timer waits for a partition's previous load; a drain that cancels that load
    must not cancel the timer (it would end for good and quiet partitions would never flush)."""
    client, seen = FakeClient(hang=asyncio.Event()), Seen()
    sink = make_sink(client, seen)
    sink.add([batch(0, range(0, 3))])
    await sink.flush_due()
    waiter = asyncio.ensure_future(sink.start_flush(0))   # the timer, waiting for the hung load
    await asyncio.sleep(0.01)
    await sink.drain(0.05)
    await asyncio.wait_for(waiter, 1)                      # returns; no CancelledError
    client.hang = None
    sink.add([batch(0, range(3, 6))])
    await sink.flush_all()
    assert seen.loaded == [(0, 5)]


# -- exactly-once: the ledger and re-deliveries ---------------------------------------------


async def test_pending_batch_is_confirmed_in_ledger_before_the_load() -> None:
    ledger = MemoryLedger()
    seen_at_load: list[Mark] = []

    class Checking(FakeClient):
        async def load(self, *a: Any, **kw: Any) -> LoadResult:
            seen_at_load.append(ledger.get(0))
            return await super().load(*a, **kw)

    client, seen = Checking(), Seen()
    sink = make_sink(client, seen, ledger=ledger)
    sink.add([batch(0, range(0, 3))])
    await sink.flush_all()
    assert seen_at_load == [Mark(-1, (0, 2))]
    assert ledger.writes[0] == (0, Mark(-1, (0, 2)), True)       # confirmed before the HTTP request
    assert ledger.get(0) == Mark(2, None)


async def test_new_owner_rebuilds_exactly_the_pending_batch_inside_a_fetched_batch() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=9, pending=(10, 14))     # the previous owner died mid-load
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, ledger=ledger, max_rows=1000)
    ev = batch(0, range(5, 21))                             # one fetch from the committed offset 5
    sink.add([ev])
    await sink.flush_all()
    labels = [a[0] for a in client.attempts]
    assert labels == ["sa-t-orders-0-10-14", "sa-t-orders-0-15-20"]   # the ledger batch cuts the fetch
    assert len(client.attempts[0][1]) == 5
    assert seen.acked == [(0, 20)] and seen.loaded == [(0, 14), (0, 20)]
    assert sink.stats.skipped_loaded == 5 and sink.stats.replayed_batches == 1


async def test_fully_loaded_batch_is_acked_and_committed_without_load() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=30, pending=None)
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, ledger=ledger)
    sink.add([batch(0, range(20, 25))])
    assert client.attempts == [] and seen.acked == [(0, 24)] and seen.loaded == [(0, 24)]


async def test_replay_batch_is_not_cut_by_triggers_or_drain() -> None:
    ledger = MemoryLedger()
    ledger.marks[1] = Mark(loaded=-1, pending=(0, 9))
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, ledger=ledger, max_rows=3)
    sink.add([batch(1, range(0, 6))])                       # only part of the pending batch so far
    await sink.flush_due()
    await sink.flush_all()
    assert client.attempts == [] and seen.acked == []
    sink.add([batch(1, range(6, 12), prev=5)])
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-1-0-9", "sa-t-orders-1-10-11"]


async def test_stale_pending_is_dropped_when_records_start_after_it() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=-1, pending=(0, 4))       # loaded, committed, ledger update lost
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, ledger=ledger)
    sink.add([batch(0, range(5, 8))])
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-5-7"]


async def test_redelivered_copy_of_held_records_is_acked_with_them() -> None:
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, max_rows=1000)
    held = batch(0, range(10, 15))
    sink.add([held])
    again = batch(0, range(12, 18))              # Faust re-seeked: copies of 12..14, then new 15..17
    sink.add([again])
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-10-17"]
    assert len(client.attempts[0][1]) == 8
    assert held.acked and again.acked and sink.stats.redelivered == 3


async def test_rewind_before_held_records_follows_the_new_stream_in_order() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=4, pending=None)
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, ledger=ledger, max_rows=1000)
    stale = batch(0, range(8, 10))               # old copies taken before a rebalance
    sink.add([stale])
    sink.add([batch(0, range(5, 10))])           # the new stream from the committed offset 5
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-5-9"]
    assert seen.loaded == [(0, 9)] and not stale.acked


async def test_batch_never_seen_by_the_route_is_a_gap_reseeked_not_committed_past() -> None:
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, max_rows=1000)
    sink.add([batch(0, range(0, 5))])
    # the consumer yielded 5..9 after 0..4, but Faust dropped it on the way (stale generation)
    sink.add([batch(0, range(10, 15), prev=9)])
    sink.add([batch(0, range(15, 20), prev=14)])
    assert seen.gaps == [(0, 5)] and sink.stats.gaps == 1
    sink.add([batch(0, range(5, 12), prev=None)])   # after the re-seek
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-0-11"]
    assert seen.loaded == [(0, 11)]


async def test_first_batch_after_assignment_missing_is_a_gap() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=99, pending=None)
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, ledger=ledger)
    sink.add([batch(0, range(110, 120), prev=109)])
    assert seen.gaps == [(0, 100)] and client.attempts == [] and seen.loaded == []


async def test_batch_of_a_partition_moved_away_is_dropped_unacked() -> None:
    owned = {0: True}
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, owns=lambda p: owned[p])
    sink.add([batch(0, range(0, 2))])
    owned[0] = False                             # a rebalance gave partition 0 to another worker
    await sink.flush_all()
    assert client.attempts == [] and seen.acked == [] and seen.loaded == []


async def test_batch_of_a_partition_being_revoked_is_not_taken() -> None:
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, accepts=lambda p: p != 1)
    sink.add([batch(1, range(0, 2)), batch(0, range(0, 1))])
    assert 1 not in sink.buffers and sink.stats.dropped_stale == 2 and sink.buffers[0].rows == 1


async def test_rows_starrocks_refuses_are_found_by_halving_and_dead_lettered() -> None:
    """tolerance all + a data rejection: re-read the batch, load it in halves (each under its own
    offsets' label), dead-letter the single records StarRocks refuses, load every other row."""
    poison = {3, 6}

    class Picky(FakeClient):
        async def load(self, database: str, table: str, label: str, body: bytes, headers: Any) -> LoadResult:
            rows = orjson.loads(body)
            self.attempts.append((label, rows))
            if any(r.get("v") in poison for r in rows):
                raise LoadRejected("too many filtered rows", label=label, status="Fail",
                                   response={"Status": "Fail", "Message": "too many filtered rows",
                                             "ErrorURL": "http://be/api/_load_error_log?file=x"})
            return LoadResult(label, "Success", len(rows), 0, len(body), 1)

    recs = {o: b'{"v": %d}' % o for o in range(0, 8)}
    client, seen, dlq = Picky(), Seen(), FakeDlq()

    async def refetch(p: int, first: int, last: int) -> list[Record]:
        return [Record("orders", p, o, recs[o]) for o in range(first, last + 1)]

    sink = make_sink(client, seen, max_rows=1000, errors=tolerant(), dlq=dlq, refetch=refetch)
    ev = batch(0, range(0, 8), values=recs)
    sink.add([ev])
    await sink.flush_all()
    assert sorted(d.offset for d in dlq.sent) == [3, 6]
    assert all(d.stage == "TASK_PUT" and "too many filtered rows" in d.message for d in dlq.sent)
    loaded = sorted(r["v"] for label, rows in client.attempts[1:] for r in rows
                    if not any(x["v"] in poison for x in rows))
    assert loaded == [0, 1, 2, 4, 5, 7]                 # every other row, once
    assert client.attempts[0][0] == "sa-t-orders-0-0-7"
    assert "sa-t-orders-0-0-3" in [a[0] for a in client.attempts]      # parts carry their own offsets
    assert ev.acked and seen.loaded == [(0, 7)] and not sink.stats.failed


async def test_a_request_rejection_is_never_split() -> None:
    client = FakeClient(outcomes=[LoadRejected("unknown table", response={"Status": "Fail",
                                                                          "Message": "unknown table"})])
    seen, dlq = Seen(), FakeDlq()

    async def refetch(p: int, first: int, last: int) -> list[Record]:
        raise AssertionError("must not re-read for a non-data rejection")

    sink = make_sink(client, seen, errors=tolerant(), dlq=dlq, refetch=refetch)
    sink.add([batch(0, range(0, 3))])
    await sink.flush_all()
    assert "unknown table" in (sink.stats.failed or "") and dlq.sent == [] and seen.loaded == []


async def test_a_batch_confirmed_by_label_already_exists_counts_its_rows_as_loaded() -> None:
    class Replayed(FakeClient):
        async def load(self, database: str, table: str, label: str, body: bytes, headers: Any) -> LoadResult:
            self.attempts.append((label, orjson.loads(body)))
            return LoadResult(label, "Label Already Exists", 0, 0, 0, 0)

    client, seen = Replayed(), Seen()
    sink = make_sink(client, seen)
    sink.add([batch(0, range(0, 3))])
    await sink.flush_all()
    assert sink.stats.rows_loaded == 3 and sink.stats.label_confirmed == 1 and seen.loaded == [(0, 2)]


async def test_tolerance_none_loads_the_rows_before_the_first_refused_one_then_stops() -> None:
    class Picky(FakeClient):
        async def load(self, database: str, table: str, label: str, body: bytes, headers: Any) -> LoadResult:
            rows = orjson.loads(body)
            self.attempts.append((label, rows))
            if any(r.get("v") in (5, 6) for r in rows):
                raise LoadRejected("too many filtered rows", label=label, status="Fail",
                                   response={"Status": "Fail", "Message": "too many filtered rows"})
            return LoadResult(label, "Success", len(rows), 0, len(body), 1)

    recs = {o: b'{"v": %d}' % o for o in range(0, 8)}

    async def refetch(p: int, first: int, last: int) -> list[Record]:
        return [Record("orders", p, o, recs[o]) for o in range(first, last + 1)]

    client, seen = Picky(), Seen()
    sink = make_sink(client, seen, max_rows=1000, refetch=refetch)
    sink.add([batch(0, range(0, 8), values=recs)])
    await sink.flush_all()
    loaded = sorted(r["v"] for _, rows in client.attempts[1:] for r in rows if not any(x["v"] in (5, 6) for x in rows))
    assert loaded == [0, 1, 2, 3, 4]                        # before the first refused row, nothing after it
    assert seen.loaded == [(0, 4)] and "orders[0]@5" in (sink.stats.failed or "")
    assert "--to-offset 6" in (sink.stats.failed or "")


async def test_rows_filtered_under_max_filter_ratio_are_counted_and_reported(
        caplog: pytest.LogCaptureFixture) -> None:
    from sinkapp.config import ErrorSettings

    class Filtering(FakeClient):
        async def load(self, database: str, table: str, label: str, body: bytes, headers: Any) -> LoadResult:
            n = len(orjson.loads(body))
            return LoadResult(label, "Success", n - 2, 2, len(body), 1,
                              response={"ErrorURL": "http://be:8040/api/_load_error_log?file=e1"})

        async def error_log(self, url: str) -> str:
            return "Error: Value count does not match column count. Row: {...}"

    client, seen = Filtering(), Seen()
    sink = make_sink(client, seen, errors=ErrorSettings(log_messages=True))
    sink.add([batch(0, range(0, 3))])
    with caplog.at_level(logging.WARNING):
        await sink.flush_all()
    assert sink.stats.rows_filtered == 2 and sink.stats.rows_loaded == 1 and seen.loaded == [(0, 2)]
    assert "filtered 2 row(s)" in caplog.text and "file=e1" in caplog.text and "Value count" in caplog.text


async def test_while_a_reseek_is_pending_batches_read_before_it_are_not_taken() -> None:
    """The race the soak found: after a gap, batches already fetched from beyond the gap (or read
    while a seek moved the position: fetch position unknown) must not be taken, or their records
    would be committed past the missing ones."""
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, max_rows=1000)
    sink.add([batch(0, range(0, 5))])
    gap = batch(0, range(10, 15), prev=9)                # the consumer yielded 5..9 before: it never arrived
    sink.add([gap])
    assert seen.gaps == [(0, 5)]
    late = batch(0, range(15, 20))                       # prev_last reset by the seek, yet from beyond the gap
    late.message.read_from = None                        # fetched while the seek was moving things
    sink.add([late])
    sink.add([batch(0, range(20, 25))])                  # fetched before the seek took effect
    assert sink.buffers[0].last_offset == 4 and seen.gaps == [(0, 5)]
    again = batch(0, range(5, 12))                       # the re-read, from the resume offset
    sink.add([again])
    await sink.flush_all()
    assert [a[0] for a in client.attempts] == ["sa-t-orders-0-0-11"] and seen.loaded == [(0, 11)]


async def test_a_fresh_partition_starts_at_the_committed_offset_even_ahead_of_the_ledger() -> None:
    ledger = MemoryLedger()
    ledger.marks[0] = Mark(loaded=9, pending=None)        # the ledger's last update was lost
    client, seen = FakeClient(), Seen()
    sink = make_sink(client, seen, ledger=ledger)
    sink.add([batch(0, range(20, 23))])                  # from the commit, after a load the ledger missed
    await sink.flush_all()
    assert seen.gaps == [] and [a[0] for a in client.attempts] == ["sa-t-orders-0-20-22"]
