"""The sink core on fetched partition batches: one Stream Load per table across partitions and
topics; acks and commit watermarks only after a successful load, in offset order; failures hold
offsets; drain bounds; dead letters before the commit; the halving search across members.

Uses the fakes of tests/pipeline_fakes.py (the Stream Load client contract, the consumer, Kafka's
records, the dead-letter topic) and the real MemoryLedger. The real client is covered against the
emulator in test_streamload_client.py; the consumer that makes the batches, on the real broker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest

from sinkapp.config import ErrorSettings
from sinkapp.errors import DataRejected, LoadPressure, LoadRejected, LoadRetriable
from sinkapp.pipeline.ledger import Entry
from sinkapp.pipeline.types import Part
from sinkapp.streamload.client import LoadResult
from sinkapp.streamload.labels import batch_label
from tests.pipeline_fakes import FakeClient, harness

P0, P1 = Part("orders", 0), Part("orders", 1)


def tolerant(**kw: Any) -> ErrorSettings:
    return ErrorSettings(tolerance="all", dlq_topic="dlq", **kw)


async def test_one_load_per_table_across_partitions_then_acks_and_watermarks() -> None:
    h = harness(max_rows=5)
    e0, e1 = h.batch(0, range(0, 2)), h.batch(1, range(10, 13))
    await h.take(e0, e1)                            # 5 rows in the table's batch: due
    await h.flush()
    assert len(h.client.attempts) == 1              # one Stream Load for both partitions
    table, label, rows = h.client.attempts[0]
    assert table == "t" and len(rows) == 5
    assert label == batch_label("sa", "t", [("orders", 0, 0, 1), ("orders", 1, 10, 12)])
    assert label.startswith("sa-t-x2-") and e0.acked and e1.acked
    assert sorted(h.control.marks()) == [(0, 1), (1, 12)]
    assert h.stats.rows_loaded == 5 and h.stats.records_in == 5 and h.stats.loads == 1


async def test_two_topics_into_one_table_make_one_load() -> None:
    h = harness(topics=("orders", "refunds"), max_rows=4)
    await h.take(h.batch(0, range(0, 2)))
    await h.take(h.batch(0, range(0, 2), topic="refunds"), route=1)
    await h.flush()
    assert len(h.client.attempts) == 1 and len(h.client.attempts[0][2]) == 4
    assert sorted(h.control.loaded) == [("orders", 0, 1), ("refunds", 0, 1)]
    assert h.pipe.table_stats["test.t"].loads == 1


async def test_a_single_member_batch_keeps_the_0_2_label() -> None:
    h = harness()
    await h.take(h.batch(0, range(10, 13)))
    await h.flush()
    assert h.client.labels() == ["sa-t-orders-0-10-12"]


async def test_the_ledger_names_the_batch_on_every_member_before_the_load() -> None:
    seen: list[dict[Part, Entry]] = []
    h = harness(max_rows=1000)

    class Checking(FakeClient):
        async def load(self, *a: Any, **kw: Any) -> LoadResult:
            seen.append({p: h.ledger.entry(p) for p in (P0, P1)})
            return await super().load(*a, **kw)

    h.client = Checking()
    h.pipe.loader.client = h.client
    await h.take(h.batch(0, range(0, 3)), h.batch(1, range(0, 2)))
    await h.flush()
    label = h.client.labels()[0]
    assert [e.pending for e in seen[0].values()] == [(label,), (label,)]
    assert h.ledger.batch(label) is None            # the batch record goes once no entry names it
    assert h.ledger.entry(P0) == Entry(2) and h.ledger.entry(P1) == Entry(1)


async def test_json_values_pass_through_exactly() -> None:
    h = harness()
    raw = (b'{"a": -9223372036854775809, "b": 12345678901234567890.123456789, '
           b'"c": 170141183460469231731687303715884105727}')
    await h.take(h.batch(0, range(0, 1), value=raw))
    await h.flush()
    assert h.client.bodies == [b"[" + raw + b"]"]


async def test_retriable_failure_retries_same_label_then_acks() -> None:
    h = harness(client=FakeClient(outcomes=[LoadRetriable("500"), LoadRetriable("reset")]))
    await h.take(h.batch(0, range(5, 8)))
    await h.flush()
    assert h.client.labels() == ["sa-t-orders-0-5-7"] * 3
    assert h.control.acked == [(0, 7)] and h.control.marks() == [(0, 7)]
    assert h.stats.load_retries == 2


async def test_rejected_load_stops_route_and_acks_nothing() -> None:
    h = harness(client=FakeClient(outcomes=[LoadRejected("unknown table")]))
    ev = h.batch(0, range(0, 3))
    await h.take(ev)
    await h.flush()
    assert h.control.acked == [] and h.control.loaded == [] and not ev.acked
    assert h.stats.failed and "unknown table" in h.stats.failed
    await h.take(h.batch(0, range(3, 6), prev=2))   # later records are not loaded either
    await h.flush()
    assert len(h.client.attempts) == 1 and h.control.acked == []


async def test_retries_exhausted_stops_route_without_ack() -> None:
    h = harness(client=FakeClient(outcomes=[LoadRetriable("down")] * 5))
    await h.take(h.batch(0, range(0, 3)))
    await h.flush()
    assert h.control.acked == [] and len(h.client.attempts) == 3
    assert "sink.maxretries=2" in (h.stats.failed or "")


async def test_load_pressure_backs_off_grows_the_next_batch_and_loses_nothing() -> None:
    pressure = LoadPressure("too many versions", reason="too_many_versions")
    h = harness(client=FakeClient(outcomes=[pressure] * 5), max_rows=2, interval_ms=1000, max_interval_ms=8000)
    h.pipe.loader.policy = type(h.pipe.loader.policy)(max_retries=0, pressure_max_delay_s=0.01)
    await h.take(h.batch(0, range(0, 2)))           # due at once: its load meets pressure 5 times
    await h.take(h.batch(0, range(2, 12), prev=1))  # the next batch grows meanwhile
    await h.flush()
    ts = h.pipe.table_stats["test.t"]
    assert ts.backoffs == {"too_many_versions": 5} and not h.stats.failed      # never given up on
    assert [(label, len(rows)) for _, label, rows in h.client.attempts] == (
        [("sa-t-orders-0-0-1", 2)] * 6 + [("sa-t-orders-0-2-11", 10)])         # same batch, same label
    assert len(h.client.stored()) == 12 and h.control.marks() == [(0, 11)]
    lane = h.pipe.batcher.lanes[next(iter(h.pipe.batcher.lanes))]
    assert h.pipe.batcher.interval(lane) == 4.0     # doubled to the bound (8 s), halved by a clean load


async def test_bad_record_loads_the_records_before_it_then_stops_naming_where() -> None:
    h = harness(max_rows=1000)
    await h.take(h.batch(2, range(0, 4), values={2: b"not json"}), h.batch(2, range(4, 6), prev=3))
    assert "orders[2]@2" in (h.stats.failed or "") and "--to-offset 3" in (h.stats.failed or "")
    assert h.client.labels() == ["sa-t-orders-2-0-1"]                  # the good records before it
    assert h.control.marks() == [(2, 1)] and h.control.acked == []     # committed up to the bad one
    await h.take(h.batch(2, range(6, 8), prev=7))                      # nothing after it
    await h.flush()
    assert len(h.client.attempts) == 1


async def test_non_object_json_value_is_a_bad_record() -> None:
    for bad in (b"[1, 2]", b"42", b'"{\\"a\\": 1}"', b'{"a": 1} trailing', b'{"a": NaN}', b"\xff\xfe{}",
                b'{"a": "\\x"}'):
        h = harness()
        await h.take(h.batch(0, range(0, 3), values={1: bad}))
        assert "orders[0]@1" in (h.stats.failed or ""), bad
        assert h.control.marks() == [(0, 0)], bad


async def test_empty_json_value_is_null_like_a_tombstone() -> None:
    h = harness()
    await h.take(h.batch(0, range(0, 3), values={1: b""}))
    await h.flush()
    assert h.stats.tombstones == 1 and not h.stats.failed and h.control.marks() == [(0, 2)]


async def test_unencodable_decoded_row_is_named() -> None:
    h = harness(schemas=True)
    good = b'{"schema": {"type": "struct", "fields": []}, "payload": {"a": 1}}'
    scalar = b'{"schema": {"type": "int32"}, "payload": 5}'
    await h.take(h.batch(0, range(0, 3), value=good, values={2: scalar}))
    assert "orders[0]@2" in (h.stats.failed or "") and h.control.marks() == [(0, 1)]


# -- errors.tolerance=all: the dead-letter topic ---------------------------------------------


async def test_tolerance_all_dead_letters_bad_records_before_the_batch_is_acked() -> None:
    h = harness(max_rows=1000, errors=tolerant(), dlq=True)
    assert h.dlq is not None
    h.dlq.fail = 1
    ev = h.batch(1, range(0, 6), values={1: b"{bad", 4: b"[1]"})
    await h.take(ev)
    await h.flush()
    assert [(d.offset, d.stage, d.value) for d in h.dlq.sent] == [(1, "VALUE_CONVERTER", b"{bad"),
                                                                  (4, "VALUE_CONVERTER", b"[1]")]
    assert "not valid JSON" in h.dlq.sent[0].message
    assert h.client.labels() == ["sa-t-orders-1-0-5"] and len(h.client.attempts[0][2]) == 4
    assert ev.acked and h.control.marks() == [(1, 5)] and not h.stats.failed
    assert h.stats.dead_lettered == {"VALUE_CONVERTER": 2}
    flagged = [orjson.loads(v) for k, v in h.ledger.writes if k == b"b/sa-t-orders-1-0-5" and v]
    assert [d["dead"] for d in flagged] == [False, True]        # pending, then the dead letters written


async def test_a_batch_of_only_bad_records_is_dead_lettered_and_committed() -> None:
    h = harness(errors=tolerant(), dlq=True)
    await h.take(h.batch(0, range(0, 2), value=b"nope"))
    await h.flush()
    assert h.dlq is not None and len(h.dlq.sent) == 2 and h.client.attempts == [] and h.control.marks() == [(0, 1)]


async def test_tolerance_all_without_a_topic_skips_and_counts() -> None:
    h = harness(errors=ErrorSettings(tolerance="all"))
    await h.take(h.batch(0, range(0, 3), values={0: b"x"}))
    await h.flush()
    assert h.stats.skipped_bad == {"VALUE_CONVERTER": 1} and h.control.marks() == [(0, 2)]
    assert len(h.client.attempts[0][2]) == 2


async def test_csv_text_rows_pass_through() -> None:
    h = harness(converter="org.apache.kafka.connect.storage.StringConverter",
                headers={"format": "csv", "column_separator": ","}, client=FakeClient(csv=True), max_rows=100)
    await h.take(h.batch(0, range(0, 3), values={0: b"1,a", 1: None, 2: b"2,b"}, value=b""))
    await h.flush()
    assert h.client.bodies == [b"1,a\n2,b\n"] and h.stats.tombstones == 1


async def test_tombstones_are_counted_and_acked_in_order() -> None:
    h = harness()
    await h.take(h.batch(0, range(0, 3), values={1: None}))
    await h.flush()
    assert h.control.acked == [(0, 2)]
    assert h.stats.tombstones == 1 and h.client.attempts[0][2] == [{"v": 1}, {"v": 1}]
    await h.take(h.batch(0, range(3, 5), value=None, prev=2))   # only tombstones: acked, committed
    await h.flush()
    assert h.control.acked[-1] == (0, 4) and h.control.marks()[-1] == (0, 4) and len(h.client.attempts) == 1


async def test_age_trigger_is_per_table() -> None:
    now = [100.0]
    h = harness(max_rows=1000, interval_ms=5000, clock=lambda: now[0])
    await h.take(h.batch(0, range(0, 2)))
    now[0] += 3.0
    await h.take(h.batch(1, range(0, 2)))
    assert h.pipe.batcher.due() == []
    now[0] += 2.0                                   # 5 s after the table's first row
    assert len(h.pipe.batcher.due()) == 1
    h.pipe.flush_due()
    await h.flush()
    assert len(h.client.attempts) == 1 and len(h.client.attempts[0][2]) == 4


async def test_drain_releases_a_hung_load_without_ack() -> None:
    h = harness(client=FakeClient(hang=asyncio.Event()))
    await h.take(h.batch(0, range(0, 3)), h.batch(0, range(3, 4), prev=2))
    await h.pipe.drain(0.05)
    assert h.control.acked == [] and h.control.loaded == [] and h.pipe.committer.parts == {}


async def test_flush_after_a_drain_cancelled_the_previous_load_does_not_raise() -> None:
    """The flush timer and the agent wait for a table's previous load; a drain that cancels that
    load must not cancel them (the timer would end for good and quiet tables never flush)."""
    h = harness(client=FakeClient(hang=asyncio.Event()), max_bytes=1, max_rows=1)
    await h.take(h.batch(0, range(0, 3)))
    waiter = asyncio.ensure_future(h.take(h.batch(0, range(3, 6), prev=2)))   # backpressure: waits
    await asyncio.sleep(0.01)
    await h.pipe.drain(0.05)
    await asyncio.wait_for(waiter, 1)               # returns; no CancelledError
    h.client.hang = None
    await h.take(h.batch(0, range(0, 6)))          # read again from the commit after the rebalance
    await h.flush()
    assert h.control.marks()[-1] == (0, 5)


# -- exactly-once: the ledger, settling, re-deliveries ---------------------------------------


def previous_owner(h: Any, members: list[tuple[str, int, int, int]], loaded: dict[int, int], *,
                   written: list[int] | None = None, dead: bool = False) -> str:
    """The ledger as a worker left it that died with a batch of ``members`` pending."""
    from sinkapp.pipeline.ledger import BatchRecord
    from sinkapp.pipeline.types import BatchId, Member, TableKey

    ident = BatchId(TableKey("test", "t"), tuple(sorted(Member(*m) for m in members)))
    label = ident.label("sa", "test")
    h.ledger.put_batch(BatchRecord(label, ident, dead=dead))
    for t, p, _, _ in members:
        if written is None or p in written:
            h.ledger.put(Part(t, p), Entry(loaded.get(p, -1), {}, (label,)))
    return label


async def test_new_owner_resends_a_pending_batch_across_partitions_under_its_label() -> None:
    h = harness(max_rows=1000)
    label = previous_owner(h, [("orders", 0, 10, 14), ("orders", 1, 0, 2)], {0: 9})
    for o in range(0, 3):
        h.batch(1, [o])                             # p1's records are in Kafka; p1 is owned elsewhere now
    h.control.not_owned.add(P1)
    await h.take(h.batch(0, range(5, 21)))          # one fetch from the committed offset 5
    await h.flush()
    assert h.client.labels()[0] == label and len(h.client.attempts[0][2]) == 8   # p0 10..14 + p1 0..2
    assert h.client.labels()[1] == "sa-t-orders-0-15-20"                       # then the rest, anew
    assert h.control.marks() == [(0, 20)] and h.stats.skipped_loaded == 5 and h.stats.replayed_batches == 1
    assert h.ledger.entry(P0) == Entry(20)


class PreparedOnly:
    """A registry-like converter: it decodes only values a ``prepare`` call has seen (schemas fetched)."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()

    async def prepare(self, records: list[Any], tolerant: bool = False) -> None:
        self.seen.update(r.value for r in records if r.value is not None)

    def decode(self, raw: bytes | None) -> Any:
        from sinkapp.errors import ConversionError

        if raw not in self.seen:
            raise ConversionError("schema id 1 was not fetched: prepare() must see the batch before decode()")
        return orjson.loads(raw) if raw is not None else None


async def test_a_pending_batch_of_a_registry_converter_is_decoded_again_after_its_schemas_are_fetched() -> None:
    """A new owner settles a batch whose records it never took: the converter must fetch their
    schemas (prepare) before the records are decoded again, or the batch could never be resent."""
    from sinkapp.pipeline.encode import Chunker
    from sinkapp.streamload.encoding import JsonEncoder

    h = harness(max_rows=1000)
    ri = h.pipe.routes[0]
    ri.codec.converter = conv = PreparedOnly()     # type: ignore[assignment]
    ri.codec.chunker = Chunker(conv, JsonEncoder())       # type: ignore[arg-type]
    label = previous_owner(h, [("orders", 0, 0, 2), ("orders", 1, 0, 1)], {})
    for o in range(0, 2):
        h.batch(1, [o], value=b'{"v": %d}' % (100 + o))   # p1 is owned elsewhere now: never taken here
    h.control.not_owned.add(P1)
    await h.take(h.batch(0, range(0, 3)))
    await h.flush()
    assert h.client.labels() == [label]
    assert sorted(r["v"] for r in h.client.attempts[0][2]) == [1, 1, 1, 100, 101]
    assert h.pipe.routes[0].state.name == "RUNNING"


async def test_a_pending_batch_that_loaded_is_not_sent_again() -> None:
    h = harness()
    label = previous_owner(h, [("orders", 0, 0, 4), ("orders", 1, 0, 4)], {})
    h.client.loaded[label] = 10                     # StarRocks has it: get_load_state VISIBLE
    await h.take(h.batch(0, range(0, 8)))
    await h.flush()
    assert h.client.labels() == ["sa-t-orders-0-5-7"] and h.control.marks() == [(0, 7)]


async def test_a_pending_batch_not_every_member_names_was_never_attempted() -> None:
    """The previous owner died while writing the pending entries: only p0's landed. Nobody sent
    it; p0's records load anew (p1's owner, whose entry does not name it, loads p1's)."""
    h = harness(max_rows=1000)
    label = previous_owner(h, [("orders", 0, 0, 4), ("orders", 1, 0, 4)], {}, written=[0])
    await h.take(h.batch(0, range(0, 5)))
    await h.flush()
    assert label not in h.client.labels() and h.client.labels() == ["sa-t-orders-0-0-4"]


async def test_fully_loaded_records_are_acked_and_committed_without_load() -> None:
    h = harness()
    h.ledger.put(P0, Entry(30))
    ev = h.batch(0, range(20, 25))
    await h.take(ev)
    assert h.client.attempts == [] and ev.acked and h.control.marks() == [(0, 30)]   # committed past them
    assert h.stats.skipped_loaded == 5 and h.stats.behind_ledger == 1        # warned once


async def test_replayed_batch_whose_dead_letters_were_written_does_not_write_them_again() -> None:
    h = harness(errors=tolerant(), dlq=True, max_rows=1000)
    h.batch(0, range(0, 6), values={2: b"bad"})
    label = previous_owner(h, [("orders", 0, 0, 4)], {}, dead=True)
    await h.take(h.batch(0, range(0, 6), values={2: b"bad"}))
    await h.flush()
    assert h.dlq is not None and h.dlq.sent == []
    assert h.client.labels() == [label, "sa-t-orders-0-5-5"]


async def test_redelivered_copy_of_held_records_is_acked_with_them() -> None:
    h = harness(max_rows=1000)
    held = h.batch(0, range(10, 15))
    await h.take(held)
    again = h.batch(0, range(12, 18))               # Faust re-seeked: copies of 12..14, then new 15..17
    await h.take(again)
    await h.flush()
    assert h.client.labels() == ["sa-t-orders-0-10-17"] and len(h.client.attempts[0][2]) == 8
    assert held.acked and again.acked and h.stats.redelivered == 3


async def test_batch_never_seen_by_the_route_is_a_gap_reseeked_not_committed_past() -> None:
    h = harness(max_rows=1000)
    await h.take(h.batch(0, range(0, 5)))
    # the consumer yielded 5..9 after 0..4, but Faust dropped it on the way (stale generation)
    await h.take(h.batch(0, range(10, 15), prev=9), h.batch(0, range(15, 20), prev=14))
    assert h.control.seeks == [(0, 5)] and h.stats.gaps == 1
    await h.take(h.batch(0, range(5, 12), prev=None))   # after the re-seek
    await h.flush()
    assert h.client.labels() == ["sa-t-orders-0-0-11"] and h.control.marks() == [(0, 11)]


async def test_first_batch_after_assignment_missing_is_a_gap() -> None:
    h = harness()
    h.ledger.put(P0, Entry(99))
    await h.take(h.batch(0, range(110, 120), prev=109))
    assert h.control.seeks == [(0, 100)] and h.client.attempts == [] and h.control.loaded == []


async def test_while_a_reseek_is_pending_batches_read_before_it_are_not_taken() -> None:
    h = harness(max_rows=1000)
    await h.take(h.batch(0, range(0, 5)))
    await h.take(h.batch(0, range(10, 15), prev=9))     # 5..9 never arrived: re-read from 5
    late = h.batch(0, range(15, 20))                   # prev_last reset by the seek, yet from beyond
    late.message.fetch_from = None
    await h.take(late, h.batch(0, range(20, 25)))
    again = h.batch(0, range(5, 12))
    await h.take(again)
    await h.flush()
    assert h.client.labels() == ["sa-t-orders-0-0-11"] and h.control.marks() == [(0, 11)]


async def test_a_fresh_partition_starts_at_the_committed_offset_even_ahead_of_the_ledger() -> None:
    h = harness()
    h.ledger.put(P0, Entry(9))                      # the ledger's last update was lost
    await h.take(h.batch(0, range(20, 23)))
    await h.flush()
    assert h.control.seeks == [] and h.client.labels() == ["sa-t-orders-0-20-22"]


async def test_batch_of_a_partition_moved_away_is_dropped_unacked() -> None:
    h = harness(max_rows=1000)
    await h.take(h.batch(0, range(0, 2)))
    h.control.not_owned.add(P0)                     # a rebalance gave partition 0 to another worker
    await h.pipe.flush_all()
    assert h.client.attempts == [] and h.control.acked == [] and h.control.loaded == []


async def test_batch_of_a_partition_being_revoked_is_not_taken() -> None:
    h = harness()
    h.control.not_accepted.add(P1)
    await h.take(h.batch(1, range(0, 2)), h.batch(0, range(0, 1)))
    assert h.stats.dropped_stale == 2 and not h.pipe.committer.known(P1)


# -- rows StarRocks refuses ---------------------------------------------------------------------


class Picky(FakeClient):
    """Refuses any body holding one of ``poison`` (data error), as StarRocks' strict mode would."""

    poison: set[int] = set()

    async def load(self, database: str, table: str, label: str, body: Any, headers: Any) -> LoadResult:
        rows = orjson.loads(bytes(body))
        if any(r.get("v") in self.poison for r in rows):
            self.attempts.append((table, label, rows))
            raise DataRejected("too many filtered rows", label=label, status="Fail",
                               response={"Status": "Fail", "Message": "too many filtered rows",
                                         "ErrorURL": "http://be/api/_load_error_log?file=x"})
        return await super().load(database, table, label, body, headers)


async def test_rows_starrocks_refuses_are_found_by_halving_across_members_and_dead_lettered() -> None:
    client = Picky()
    client.poison = {3, 13}
    h = harness(max_rows=1000, errors=tolerant(), dlq=True, client=client)
    e0 = h.batch(0, range(0, 8), values={o: b'{"v": %d}' % o for o in range(8)})
    e1 = h.batch(1, range(0, 8), values={o: b'{"v": %d}' % (o + 10) for o in range(8)})
    await h.take(e0, e1)
    await h.flush()
    assert h.dlq is not None and sorted((d.partition, d.offset) for d in h.dlq.sent) == [(0, 3), (1, 3)]
    assert all(d.stage == "TASK_PUT" and "too many filtered rows" in d.message for d in h.dlq.sent)
    assert sorted(r["v"] for r in client.stored()) == [0, 1, 2, 4, 5, 6, 7, 10, 11, 12, 14, 15, 16, 17]
    first = client.labels()[0]
    assert first.startswith("sa-t-x2-") and "sa-t-orders-0-0-3" in client.labels()   # parts carry their ranges
    assert e0.acked and e1.acked and sorted(h.control.marks()) == [(0, 7), (1, 7)] and not h.stats.failed


async def test_a_request_rejection_is_never_split() -> None:
    h = harness(errors=tolerant(), dlq=True,
                client=FakeClient(outcomes=[LoadRejected("unknown table", response={"Message": "unknown table"})]))
    await h.take(h.batch(0, range(0, 3)))
    await h.flush()
    assert "unknown table" in (h.stats.failed or "") and h.dlq is not None and h.dlq.sent == []
    assert len(h.client.attempts) == 1 and h.control.loaded == []


async def test_a_batch_confirmed_by_label_already_exists_counts_its_rows_as_loaded() -> None:
    h = harness()
    h.client.loaded["sa-t-orders-0-0-2"] = 3       # an earlier attempt loaded it
    await h.take(h.batch(0, range(0, 3)))
    await h.flush()
    assert h.stats.rows_loaded == 3 and h.stats.label_confirmed == 1 and h.control.marks() == [(0, 2)]


async def test_tolerance_none_loads_each_partitions_rows_before_its_first_refused_one_then_stops() -> None:
    client = Picky()
    client.poison = {5, 6}
    h = harness(max_rows=1000, client=client)
    await h.take(h.batch(0, range(0, 8), values={o: b'{"v": %d}' % o for o in range(8)}),
                 h.batch(1, range(0, 3), values={o: b'{"v": %d}' % (o + 20) for o in range(3)}))
    await h.flush()
    assert sorted(r["v"] for r in client.stored()) == [0, 1, 2, 3, 4, 20, 21, 22]
    assert sorted(h.control.marks()) == [(0, 4), (1, 2)] and "orders[0]@5" in (h.stats.failed or "")
    assert "--to-offset 6" in (h.stats.failed or "")


async def test_rows_filtered_under_max_filter_ratio_are_counted_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    class Filtering(FakeClient):
        async def load(self, database: str, table: str, label: str, body: Any, headers: Any) -> LoadResult:
            n = len(orjson.loads(bytes(body)))
            return LoadResult(label, "Success", n - 2, 2, len(body), 1,
                              response={"ErrorURL": "http://be:8040/api/_load_error_log?file=e1"})

        async def error_log(self, url: str) -> str:
            return "Error: Value count does not match column count. Row: {...}"

    h = harness(client=Filtering(), errors=ErrorSettings(log_messages=True))
    with caplog.at_level(logging.WARNING):
        await h.take(h.batch(0, range(0, 3)))
        await h.flush()
    assert h.stats.rows_filtered == 2 and h.stats.rows_loaded == 1 and h.control.marks() == [(0, 2)]
    assert "filtered 2 row(s)" in caplog.text and "file=e1" in caplog.text and "Value count" in caplog.text


async def test_an_unexpected_error_in_intake_stops_the_route_with_the_reason_not_the_worker() -> None:
    h = harness()

    class Broken:
        async def prepare(self, records: Any, tolerant: bool = False) -> None:
            raise RuntimeError("registry client bug")

    h.pipe.routes[0].codec.converter = Broken()      # type: ignore[assignment]
    ev = h.batch(0, range(0, 3))
    await h.take(ev)                                  # returns: the agent lives on
    assert "internal error" in (h.stats.failed or "") and "registry client bug" in (h.stats.failed or "")
    assert not ev.acked and h.control.loaded == [] and h.client.attempts == []


async def test_a_pending_batch_that_cannot_be_settled_stops_the_route_saying_why() -> None:
    h = harness()
    previous_owner(h, [("orders", 0, 0, 4), ("gone", 0, 0, 4)], {})   # a member of a topic no route reads
    await h.take(h.batch(0, range(0, 5)))
    assert "which no route of this config reads" in (h.stats.failed or "") and "gone" in (h.stats.failed or "")
    assert h.client.attempts == [] and h.control.acked == []
