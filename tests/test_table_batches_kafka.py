"""Table batches on the real broker: one Stream Load per table across partitions and topics,
exactly-once when the members of a pending batch end up with different workers, load pressure.

Each scenario counts rows by key in a duplicate-key table (a second load of a record would show)
and asserts zero lost, zero duplicated and the group committed to the end.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_exactly_once_kafka import DDL, config, report, rows
from tests.workers import Worker, offsets_sync, open_loads, produce_sync, wait_committed, wait_until

pytestmark = pytest.mark.kafka


def labels(emulator: Any, table: str) -> list[str]:
    return [r.label for r in emulator.loads(table=table) if r.status in ("Success", "Publish Timeout")]


def test_kill_9_while_a_table_batch_over_6_partitions_loads_then_two_workers_settle_it(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """The first load (every partition's rows in one table batch) hangs and is then rolled back;
    the worker is killed meanwhile. Two new workers split the partitions; each finds the batch
    pending in its members' ledger entries and sends it again under its label: it loads once."""
    topic = topic_factory(partitions=6, name=f"tb_kill_{uuid.uuid4().hex[:6]}")
    emulator.add_table("test", DDL.format(name=topic))
    produce_sync(kafka.bootstrap_servers, topic, rows(0, 6000), partitions=6)
    emulator.faults.hang_next(1, seconds=8.0, then="abort", table=topic)
    cfg = config(kafka, emulator, topic)
    w1 = Worker(cfg, tmp_path, "w1").start()
    try:
        wait_until(lambda: not emulator.faults.pending(), 60, "the table batch's load to hang")
        assert open_loads(emulator, topic) and emulator.count("test", topic) == 0, "the load must be in flight"
    finally:
        w1.kill()
    produce_sync(kafka.bootstrap_servers, topic, rows(6000, 3000), partitions=6)
    w2, w3 = Worker(cfg, tmp_path, "w2", web=True).start(), Worker(cfg, tmp_path, "w3", web=True).start()
    try:
        wait_until(lambda: emulator.count("test", topic) >= 9000, 120, "every row after the restart")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, lambda: w2.log() + w3.log())
        wait_until(lambda: not open_loads(emulator, topic), 30, "no load in flight (a duplicate would land)")
        every = sorted(f"{topic}[{p}]" for p in range(6))
        wait_until(lambda: bool(w2.assigned()) and sorted(w2.assigned() + w3.assigned()) == every, 30,
                   "w2 and w3 to split the partitions")
    finally:
        w2.stop()
        w3.stop()
    logs = w2.log() + w3.log()
    assert report(emulator, topic, range(9000)) == (0, 0), logs[-3000:]
    first = [ln for ln in w1.log().splitlines() if "label=" in ln or "load retry label=" in ln]
    pending = [x for x in labels(emulator, topic) if "-x6-" in x]
    assert len(pending) == 1, (pending, first[-5:])          # the six-member batch loaded exactly once
    assert "loading its 6 member(s) again under the same label" in logs, logs[-3000:]


def test_a_rebalance_that_moves_member_partitions_mid_batch_settles_it_once(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """A table batch over 4 partitions is loading (StarRocks holds it) when a second worker joins;
    the first worker's drain gives up after sinkapp.drain.timeout.ms and leaves it un-acked; the
    worker now owning two of its members and the one keeping the other two both settle it."""
    topic = topic_factory(partitions=4, name=f"tb_reb_{uuid.uuid4().hex[:6]}")
    emulator.add_table("test", DDL.format(name=topic))
    cfg = config(kafka, emulator, topic, **{"sinkapp.drain.timeout.ms": "1000", "sinkapp.load.timeout.ms": "30000"})
    produce_sync(kafka.bootstrap_servers, topic, rows(0, 400), partitions=4)
    w1 = Worker(cfg, tmp_path, "w1").start()
    w2 = Worker(cfg, tmp_path, "w2")
    try:
        wait_until(lambda: emulator.count("test", topic) >= 400, 60, "the first rows")
        emulator.faults.hang_next(1, seconds=6.0, then="commit", table=topic)
        produce_sync(kafka.bootstrap_servers, topic, rows(400, 400), partitions=4)
        wait_until(lambda: not emulator.faults.pending(), 30, "the next batch's load to hang")
        w2.start()                                  # rebalance while that batch loads
        produce_sync(kafka.bootstrap_servers, topic, rows(800, 400), partitions=4)
        wait_until(lambda: emulator.count("test", topic) >= 1200, 90, "every row after the rebalance")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, lambda: w1.log() + w2.log())
        wait_until(lambda: not open_loads(emulator, topic), 30, "the hung load to end (a duplicate would land)")
    finally:
        w2.stop()
        w1.stop()
    assert report(emulator, topic, range(1200)) == (0, 0), (w1.log() + w2.log())[-3000:]
    assert "drain did not finish" in w1.log(), w1.log()[-3000:]
    assert "pending batch" in w1.log() + w2.log()


def test_two_topics_into_one_table_share_its_batches_and_survive_kill_9(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    a = topic_factory(partitions=3, name=f"tb_a_{uuid.uuid4().hex[:6]}")
    b = topic_factory(partitions=3, name=f"tb_b_{uuid.uuid4().hex[:6]}")
    table = f"t2_{uuid.uuid4().hex[:6]}"
    emulator.add_table("test", DDL.format(name=table))
    cfg = config(kafka, emulator, f"{a},{b}", **{"starrocks.topic2table.map": f"{a}:{table},{b}:{table}"})
    produce_sync(kafka.bootstrap_servers, a, rows(0, 1500), partitions=3)
    produce_sync(kafka.bootstrap_servers, b, rows(1500, 1500), partitions=3)
    emulator.faults.hang_next(1, seconds=6.0, then="commit", table=table)
    w1 = Worker(cfg, tmp_path, "w1").start()
    try:
        wait_until(lambda: not emulator.faults.pending(), 60, "the first load to hang")
        assert open_loads(emulator, table), "the load must be in flight"
    finally:
        w1.kill()
    produce_sync(kafka.bootstrap_servers, a, rows(3000, 600), partitions=3)
    produce_sync(kafka.bootstrap_servers, b, rows(3600, 600), partitions=3)
    w2 = Worker(cfg, tmp_path, "w2").start()
    try:
        wait_until(lambda: emulator.count("test", table) >= 4200, 90, "every row after the restart")
        for topic in (a, b):
            wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w2.log)
        wait_until(lambda: not open_loads(emulator, table), 30, "the hung load to end (a duplicate would land)")
    finally:
        w2.stop()
    assert report(emulator, table, range(4200)) == (0, 0), w2.log()[-3000:]
    assert any("-x6-" in x for x in labels(emulator, table))    # both topics' partitions in one load


def test_too_many_versions_backs_off_lets_batches_grow_and_loads_every_row_once(
        kafka: Any, topic_factory: Any, tmp_path: Path) -> None:
    """StarRocks refuses loads past tablet_max_versions (§8a); the worker waits, its table's flush
    interval grows, nothing is dead-lettered or skipped, and it recovers as compaction catches up."""
    from sinkapp_testkit.streamload import EmulatorThread

    topic = topic_factory(partitions=3, name=f"tb_ver_{uuid.uuid4().hex[:6]}")
    table = f"test.{topic}"
    with EmulatorThread(user="root", password="pw", databases=["test"], max_versions=4,
                        compaction_per_s=0.4) as emu:
        emu.add_table("test", DDL.format(name=topic))
        cfg = config(kafka, emu, topic, **{"sinkapp.load.backoff.max.ms": "8000"})
        w = Worker(cfg, tmp_path, "w1", web=True).start()
        stop, total = threading.Event(), {"n": 0}

        def producer() -> None:
            while not stop.is_set():
                produce_sync(kafka.bootstrap_servers, topic, rows(total["n"], 150), partitions=3)
                total["n"] += 150
                time.sleep(0.25)                # a steady producer: 600 rows a second

        t = threading.Thread(target=producer)
        t.start()
        try:
            wait_until(lambda: emu.versions("test", topic)["refused"] >= 2, 90, "StarRocks to refuse loads")
            # under the pressure the table's batches grow: its flush interval rises above intervalms
            wait_until(lambda: w.metric("sinkapp_table_flush_interval_seconds", table=table) > 1.0, 60,
                       "the flush interval to grow")
            grown = w.metric("sinkapp_table_flush_interval_seconds", table=table)
        finally:
            stop.set()
            t.join()
        try:
            wait_until(lambda: emu.count("test", topic) >= total["n"], 120, "every row after the back-off")
            wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w.log)
            backoffs = w.metric("sinkapp_load_backoffs_total", table=table, reason="too_many_versions")
            interval = w.metric("sinkapp_table_flush_interval_seconds", table=table)
            tasks, route = w.tasks(), w.route()
        finally:
            w.stop()
        assert report(emu, topic, range(total["n"])) == (0, 0), w.log()[-3000:]
        assert backoffs >= 2
        assert 1.0 < grown <= 8.0 and 1.0 <= interval <= 8.0, (grown, interval)   # bounded by backoff.max.ms
        assert tasks == ["RUNNING"], w.log()[-3000:]                                 # never stopped
        assert route["dead_lettered"] == {} and route["skipped_bad"] == {}, route  # nothing dead-lettered or skipped


def test_a_0_2_ledger_topic_is_read_once_and_its_pending_batch_keeps_its_label(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """0.2 left p0's batch 100..149 pending (loaded into StarRocks, never committed) and p1 loaded to
    49 in its per-route ledger topic. The new worker reads that once into the group's ledger: the
    pending batch keeps its 0.2 label, so StarRocks' record of it stops a second load."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topic = topic_factory(partitions=2, name=f"tb_mig_{uuid.uuid4().hex[:6]}")
    emulator.add_table("test", DDL.format(name=topic))
    cfg = config(kafka, emulator, topic)
    group = cfg["group.id"]
    old = topic_factory(partitions=2, name=f"{group}-sinkapp-ledger-{topic}", config={"cleanup.policy": "compact"})
    _produce_to(kafka.bootstrap_servers, topic, 0, range(0, 200))
    _produce_to(kafka.bootstrap_servers, topic, 1, range(200, 300))
    # what 0.2 did: p0 0..149 and p1 0..49 in StarRocks (100..149 under its batch label), committed 100 and 50
    asyncio.run(_load(emulator.fe_url, topic, [("old-0-0-99", 0, range(0, 100)),
                                               (f"sinkapp-{topic}-{topic}-0-100-149", 0, range(100, 150)),
                                               ("old-1-0-49", 1, range(200, 250))]))

    async def old_state() -> None:
        prod = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        await prod.start()
        await prod.send_and_wait(old, json.dumps({"loaded": 99, "pending": [100, 149]}).encode(), key=b"0", partition=0)
        await prod.send_and_wait(old, json.dumps({"loaded": 49, "pending": None}).encode(), key=b"1", partition=1)
        await prod.stop()
        c = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group, enable_auto_commit=False)
        await c.start()
        try:
            c.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
            await c.commit({TopicPartition(topic, 0): 100, TopicPartition(topic, 1): 50})
        finally:
            await c.stop()

    asyncio.run(old_state())
    w = Worker(cfg, tmp_path, "w1").start()
    try:
        wait_until(lambda: emulator.count("test", topic) >= 300, 60, "every row")
        wait_committed(kafka.bootstrap_servers, group, topic, 30, w.log)
    finally:
        w.stop()
    assert report(emulator, topic, range(300)) == (0, 0), w.log()[-3000:]
    assert f"read the 0.2 ledger topic {old}" in w.log()
    w2 = Worker(cfg, tmp_path, "w2", web=True).start()      # the second start does not read it again
    try:
        w2.wait_ready()                                      # the old ledgers are read before the app starts
    finally:
        w2.stop()
    assert "read the 0.2 ledger topic" not in w2.log()
    committed, end = offsets_sync(kafka.bootstrap_servers, group, topic)
    assert committed == end == {0: 200, 1: 100}


async def _load(fe_url: str, table: str, batches: list[tuple[str, int, range]]) -> None:
    from sinkapp.config import Secret
    from sinkapp.streamload.client import StreamLoadClient

    client = StreamLoadClient([fe_url], "root", Secret("pw"))
    try:
        for label, part, ids in batches:
            body = b"[" + b",".join(orjson.dumps({"id": i, "part": part, "payload": "x"}) for i in ids) + b"]"
            await client.load("test", table, label, body, {"format": "json", "strip_outer_array": "true"})
    finally:
        await client.close()


def _produce_to(bootstrap: str, topic: str, partition: int, ids: range) -> None:
    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        prod = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        await prod.start()
        try:
            for i in ids:
                await prod.send(topic, orjson.dumps({"id": i, "part": partition, "payload": "x"}), partition=partition)
            await prod.flush()
        finally:
            await prod.stop()

    asyncio.run(run())
