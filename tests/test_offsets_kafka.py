"""``sinkapp offsets``: reprocessing an operator can trust, on the real broker.

Reload under new labels (every row once more, a crash in the middle of the reload included), no
reset while a worker runs, ``--to-datetime`` as Kafka's ``offsets_for_times`` says, and the warning
a worker logs when offsets were moved back with other tools.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_exactly_once_kafka import DDL, config, rows
from tests.workers import Worker, offsets_sync, open_loads, produce_sync, wait_committed, wait_until

pytestmark = pytest.mark.kafka


def offsets_cmd(cfg_path: Path, *args: str) -> tuple[int, str]:
    out = subprocess.run([sys.executable, "-m", "sinkapp.cli", "offsets", *args, "--config", str(cfg_path)],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ))
    return out.returncode, out.stdout + out.stderr


def counts(emulator: Any, table: str) -> collections.Counter[int]:
    return collections.Counter(r["id"] for r in emulator.rows("test", table))


def load_once(kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path, n: int = 3000,
              **over: str) -> tuple[str, dict[str, str], Path]:
    topic = topic_factory(partitions=3, name=f"off_{uuid.uuid4().hex[:6]}")
    emulator.add_table("test", DDL.format(name=topic))
    cfg = config(kafka, emulator, topic, **over)
    produce_sync(kafka.bootstrap_servers, topic, rows(0, n), partitions=3)
    w = Worker(cfg, tmp_path, "first").start()
    try:
        wait_until(lambda: emulator.count("test", topic) >= n, 60, "the first load")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
    finally:
        assert w.stop() == 0
    return topic, cfg, w.config_path


def test_reset_to_earliest_with_reload_loads_every_row_once_more_under_new_labels(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic, cfg, path = load_once(kafka, emulator, topic_factory, tmp_path)
    rc, out = offsets_cmd(path, "show", "--json")
    shown = json.loads(out[out.index("["):])
    assert rc == 0 and [(d["partition"], d["committed"], d["ledger_loaded"] + 1, d["lag"]) for d in shown] == [
        (p, 1000, 1000, 0) for p in range(3)]
    rc, out = offsets_cmd(path, "reset", "--to-earliest", "--yes")
    assert rc == 2 and "--reload" in out and "in StarRocks" in out          # back over loaded rows: refused
    rc, out = offsets_cmd(path, "reset", "--to-earliest", "--reload", "--yes")
    assert rc == 0 and "committed 1000 -> 0 (reload, label epoch 1)" in out, out
    rc, out = offsets_cmd(path, "show", "--json")
    assert [d["epoch"] for d in json.loads(out[out.index("["):])] == [1, 1, 1]
    w = Worker(cfg, tmp_path, "reload").start()
    try:
        wait_until(lambda: emulator.count("test", topic) >= 6000, 60, "the reload")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)   # commits follow loads
    finally:
        w.stop()
    assert set(counts(emulator, topic).values()) == {2} and len(counts(emulator, topic)) == 3000
    labels = [r.label for r in emulator.loads(table=topic) if r.status == "Success"]
    assert any("-e1-" in x for x in labels) and not any("-e1-" in x for x in labels[:1])


def test_a_crash_in_the_middle_of_a_reload_neither_loses_nor_doubles_a_row_of_it(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic, cfg, path = load_once(kafka, emulator, topic_factory, tmp_path)
    assert offsets_cmd(path, "reset", "--to-earliest", "--reload", "--yes")[0] == 0
    emulator.faults.hang_next(1, seconds=6.0, then="commit", table=topic)
    w = Worker(cfg, tmp_path, "reload1").start()
    try:
        wait_until(lambda: not emulator.faults.pending(), 60, "the reload's load to hang")
        assert open_loads(emulator, topic), "the load must be in flight"
    finally:
        w.kill()
    w2 = Worker(cfg, tmp_path, "reload2").start()
    try:
        wait_until(lambda: emulator.count("test", topic) >= 6000, 90, "the rest of the reload")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w2.log)
        wait_until(lambda: not open_loads(emulator, topic), 30, "the hung load to end (a duplicate would land)")
    finally:
        w2.stop()
    c = counts(emulator, topic)
    assert len(c) == 3000 and set(c.values()) == {2}, (sorted(i for i, n in c.items() if n != 2)[:10], w2.log()[-3000:])


def test_a_reset_while_a_worker_runs_is_refused_naming_it(kafka: Any, emulator: Any, topic_factory: Any,
                                                         tmp_path: Path) -> None:
    topic, cfg, path = load_once(kafka, emulator, topic_factory, tmp_path, n=300)
    w = Worker(cfg, tmp_path, "running", web=True).start()
    got: dict[str, Any] = {}

    def refused() -> bool:
        got["rc"], got["out"] = offsets_cmd(path, "reset", "--to-earliest", "--reload", "--yes")
        return "active members" in got["out"]
    try:
        w.wait_ready()                                       # it holds its assignment: a member of the group
        wait_until(refused, 30, "the group to show the worker")
    finally:
        w.stop()
    rc, out = got["rc"], got["out"]
    assert rc == 2 and "active members" in out and "@" in out and "stop every worker" in out
    assert offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)[0] == {0: 100, 1: 100, 2: 100}


def test_to_datetime_lands_where_offsets_for_times_says(kafka: Any, emulator: Any, topic_factory: Any,
                                                       tmp_path: Path) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topic = topic_factory(partitions=2, name=f"off_ts_{uuid.uuid4().hex[:6]}")
    cfg = config(kafka, emulator, topic)
    t0 = 1_767_225_600_000                                   # 2026-01-01T00:00:00Z

    async def produce_and_ask() -> dict[int, int]:
        prod = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
        await prod.start()
        for i in range(100):
            await prod.send(topic, orjson.dumps({"id": i}), partition=i % 2, timestamp_ms=t0 + i * 1000)
        await prod.stop()
        c = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
        await c.start()
        try:
            got = await c.offsets_for_times({TopicPartition(topic, p): t0 + 41_500 for p in (0, 1)})
        finally:
            await c.stop()
        return {tp.partition: o.offset for tp, o in got.items()}

    expected = asyncio.run(produce_and_ask())
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    rc, out = offsets_cmd(path, "reset", "--to-datetime", "2026-01-01T00:00:41.500+00:00", "--yes")
    assert rc == 0, out
    assert offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)[0] == expected == {0: 21, 1: 21}


def test_offsets_moved_back_with_other_tools_are_skipped_with_a_warning_naming_the_command(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic, cfg, path = load_once(kafka, emulator, topic_factory, tmp_path, n=300)

    async def rewind() -> None:                              # what kafka-consumer-groups --to-earliest does
        c = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=cfg["group.id"],
                             enable_auto_commit=False)
        await c.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(3)]
            c.assign(tps)
            await c.commit({tp: 0 for tp in tps})
        finally:
            await c.stop()

    asyncio.run(rewind())
    w = Worker(cfg, tmp_path, "after-rewind", web=True).start()
    try:
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 60, w.log)
        wait_until(lambda: w.metric("sinkapp_partitions_behind_ledger_total") >= 3, 30, "each partition behind")
        behind = w.metric("sinkapp_partitions_behind_ledger_total")
        already = w.metric("sinkapp_records_already_loaded_total")
    finally:
        w.stop()
    assert set(counts(emulator, topic).values()) == {1}                  # skipped, not loaded twice
    assert (behind, already) == (3, 300)
    assert len([ln for ln in w.log().splitlines() if "is behind the ledger" in ln]) == 3   # one warning each
    warning = next(ln for ln in w.log().splitlines() if "is behind the ledger" in ln)
    assert "WARNING" in warning and "100 record(s) are skipped" in warning
    assert f"sinkapp offsets reset --config {w.config_path} --route {topic} --partition" in warning
    assert "--to-offset 0 --reload" in warning
