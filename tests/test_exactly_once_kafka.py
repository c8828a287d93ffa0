"""Exactly-once under crashes and rebalances, on the real broker with worker processes.

Each scenario counts rows by key in a duplicate-key table (where a second load of the same
record would be visible) and asserts zero lost and zero duplicated rows.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.workers import Worker, open_loads, produce_sync, wait_committed, wait_until

pytestmark = pytest.mark.kafka

DDL = "CREATE TABLE {name} (id BIGINT, part INT, payload STRING) DUPLICATE KEY(id);"


def config(kafka: Any, emulator: Any, topic: str, **over: str) -> dict[str, str]:
    cfg = {"topics": topic, "starrocks.http.url": emulator.fe_url, "starrocks.username": "root",
           "starrocks.password": "pw", "starrocks.database.name": "test",
           "bootstrap.servers": kafka.bootstrap_servers, "group.id": f"eo-{uuid.uuid4().hex[:8]}",
           "bufferflush.intervalms": "1000", "sink.maxretries": "-1", "session.timeout.ms": "6000",
           "heartbeat.interval.ms": "1000", "sinkapp.drain.timeout.ms": "8000",
           "sinkapp.load.timeout.ms": "3000"}
    cfg.update(over)
    return cfg


def rows(start: int, n: int) -> list[bytes]:
    return [orjson.dumps({"id": i, "part": i % 3, "payload": f"p{i}"}) for i in range(start, start + n)]


def report(emulator: Any, table: str, expected: range) -> tuple[int, int]:
    """(lost, duplicated) row counts by key, printed as the scenario's figures."""
    counts = collections.Counter(r["id"] for r in emulator.rows("test", table))
    lost = sum(1 for i in expected if counts[i] == 0)
    dup = sum(c - 1 for c in counts.values() if c > 1)
    dups = sorted(i for i, c in counts.items() if c > 1)[:10]
    print(f"\n{table}: expected={len(expected)} stored={sum(counts.values())} lost={lost} duplicated={dup}"
          + (f" e.g. ids {dups}" if dups else ""))
    return lost, dup


def test_kill_9_during_a_load_then_restart_loads_each_row_once(kafka: Any, emulator: Any,
                                                                topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=3, name=f"eo_kill_{uuid.uuid4().hex[:6]}")
    emulator.add_table("test", DDL.format(name=topic))
    produce_sync(kafka.bootstrap_servers, topic, rows(0, 3000), partitions=3)
    # the first load hangs past the client timeout and then commits, as a slow StarRocks would
    emulator.faults.hang_next(1, seconds=8.0, then="commit", table=topic)
    cfg = config(kafka, emulator, topic, **{"tasks.max": "3"})
    w1 = Worker(cfg, tmp_path, "w1").start()
    try:
        # one table batch over the three partitions: its load is the one that hangs
        wait_until(lambda: not emulator.faults.pending(), 60, "the table batch's load to hang")
        hung = open_loads(emulator, topic)
        assert len(hung) == 1 and emulator.count("test", topic) < 3000, "the hanging load must still be in flight"
    finally:
        w1.kill()                                   # kill -9 while the load is in flight
    # more records arrive: a restart that re-batched by size would send a different batch/label
    produce_sync(kafka.bootstrap_servers, topic, rows(3000, 1500), partitions=3)
    w2 = Worker(cfg, tmp_path, "w2").start()
    try:
        wait_until(lambda: emulator.count("test", topic) >= 4500, 90, "every row after the restart")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w2.log)
        wait_until(lambda: not open_loads(emulator, topic), 30, "the hung load to end (a duplicate would land)")
    finally:
        w2.stop()
    assert report(emulator, topic, range(4500)) == (0, 0), w2.log()[-3000:]
    # w2 found the hung batch pending in the ledger and settled it under w1's label (asked StarRocks its
    # state or sent it again), not as a batch never attempted
    assert f"pending batch {hung[0]} of " in w2.log(), w2.log()[-3000:]


def test_workers_joining_and_leaving_while_loading(kafka: Any, emulator: Any, topic_factory: Any,
                                                   tmp_path: Path) -> None:
    topic = topic_factory(partitions=6, name=f"eo_reb_{uuid.uuid4().hex[:6]}")
    emulator.add_table("test", DDL.format(name=topic))
    cfg = config(kafka, emulator, topic)
    total = {"n": 0}
    stop = threading.Event()
    every = sorted(f"{topic}[{p}]" for p in range(6))

    def producer() -> None:
        while not stop.is_set():
            produce_sync(kafka.bootstrap_servers, topic, rows(total["n"], 300), partitions=6)
            total["n"] += 300
            time.sleep(0.2)                 # a steady producer: ~1500 rows a second

    def rebalanced(*ws: Worker) -> None:
        """Until the live workers ``ws`` split the six partitions between them, then until a load lands
        after that: each membership change is a rebalance in the middle of loading."""
        wait_until(lambda: sorted(p for w in ws for p in w.assigned()) == every, 60,
                   f"{', '.join(w.dir.name for w in ws)} to hold the partitions")
        n = emulator.count("test", topic)
        wait_until(lambda: emulator.count("test", topic) > n, 30, "a load after the rebalance")

    t = threading.Thread(target=producer)
    w1 = Worker(cfg, tmp_path, "w1", web=True).start()
    t.start()
    try:
        wait_until(lambda: emulator.count("test", topic) > 0, 60, "first loads")
        w2 = Worker(cfg, tmp_path, "w2", web=True).start()  # join: rebalance
        rebalanced(w1, w2)
        w3 = Worker(cfg, tmp_path, "w3", web=True).start()  # join: rebalance
        rebalanced(w1, w2, w3)
        assert w2.stop() == 0                               # graceful leave: drain, rebalance
        rebalanced(w1, w3)
        w3.kill()                                           # crash: rebalance after session timeout
        rebalanced(w1)
    finally:
        stop.set()
        t.join()
    try:
        wait_until(lambda: emulator.count("test", topic) >= total["n"], 120, "every produced row")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w1.log)
        wait_until(lambda: not open_loads(emulator, topic), 30, "no load in flight (a duplicate would land)")
    finally:
        w1.stop()
    assert report(emulator, topic, range(total["n"])) == (0, 0)


def test_broker_restart_while_loading(emulator: Any, tmp_path: Path) -> None:
    """The broker goes away mid-stream and comes back on the same port with its data."""
    from sinkapp_testkit.kafka import LocalKafka

    broker = LocalKafka(home=tmp_path / "kafka")
    broker.start()
    try:
        topic = f"eo_brk_{uuid.uuid4().hex[:6]}"
        broker.create_topic(topic, partitions=3)
        emulator.add_table("test", DDL.format(name=topic))
        cfg = config(broker, emulator, topic)
        produce_sync(broker.bootstrap_servers, topic, rows(0, 3000), partitions=3)
        w = Worker(cfg, tmp_path, "w1").start()
        wait_until(lambda: emulator.count("test", topic) >= 3000, 60, "rows before the restart")
        produce_sync(broker.bootstrap_servers, topic, rows(3000, 1500), partitions=3)
        broker.restart()
        produce_sync(broker.bootstrap_servers, topic, rows(4500, 1500), partitions=3)
        deadline = time.monotonic() + 120
        while emulator.count("test", topic) < 6000 and time.monotonic() < deadline:
            if not w.alive():                       # a supervisor restarts a worker that gave up
                w.start()
            time.sleep(0.2)                         # poll
        wait_committed(broker.bootstrap_servers, cfg["group.id"], topic, 60, w.log)
        wait_until(lambda: not open_loads(emulator, topic), 30, "no load in flight (a duplicate would land)")
        w.stop()
        assert report(emulator, topic, range(6000)) == (0, 0), w.log()[-3000:]
    finally:
        broker.stop()


def test_rebalance_during_a_hanging_load_keeps_the_flush_timer(kafka: Any, emulator: Any,
                                                               topic_factory: Any, tmp_path: Path) -> None:
    """A drain that gives up on a hung load cancels it; the flush timer waiting for that load
    must survive, so a quiet partition's next records still load within intervalms + ~1 s."""
    topic = topic_factory(partitions=2, name=f"eo_timer_{uuid.uuid4().hex[:6]}")
    emulator.add_table("test", DDL.format(name=topic))
    cfg = config(kafka, emulator, topic, **{"sinkapp.drain.timeout.ms": "1000",
                                            "sinkapp.load.timeout.ms": "30000", "tasks.max": "2"})
    emulator.faults.hang_next(1, seconds=10.0, then="commit", table=topic)
    produce_sync(kafka.bootstrap_servers, topic, rows(0, 200), partitions=2)
    w1 = Worker(cfg, tmp_path, "w1").start()
    w2 = Worker(cfg, tmp_path, "w2")
    try:
        wait_until(lambda: emulator.count("test", topic) >= 100, 60, "the partition that does not hang")
        # records keep arriving for the hung partition: the flush timer waits for its load
        produce_sync(kafka.bootstrap_servers, topic, rows(200, 100), partitions=2)
        # the other partition's share of them loads when their age reaches intervalms: the hung
        # partition's flush timer has fired by then too, and waits for the hung load
        wait_until(lambda: emulator.count("test", topic) >= 250, 30, "the other partition's new rows")
        w2.start()                                         # rebalance: w1's drain gives up after 1 s
        wait_until(lambda: emulator.count("test", topic) >= 300, 90, "every row after the rebalance")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w1.log)
        time.sleep(3.0)    # quiet on purpose: no load, no record, so only a live flush timer loads what comes next
        t0 = time.monotonic()
        produce_sync(kafka.bootstrap_servers, topic, rows(300, 6), partitions=2)
        wait_until(lambda: emulator.count("test", topic) >= 306, 30, "the quiet partitions' new rows")
        latency = time.monotonic() - t0
    finally:
        w2.stop()
        w1.stop()
    print(f"\nquiet rows visible after {latency:.2f}s (bufferflush.intervalms=1000)")
    assert latency < 1.0 + 1.0 + 3.0, f"{latency:.1f}s: a flush timer stopped\n{w1.log()[-3000:]}"
    for w in (w1, w2):
        assert "Terminating cancelled task" not in w.log(), w.log()[-3000:]
    assert report(emulator, topic, range(306)) == (0, 0)
