"""Bad records on the real broker: errors.tolerance, the dead-letter topic, nothing lost or blocked.

Each test produces good records with bad ones between them, runs one ``sinkapp worker``
subprocess, and checks the table (every good record exactly once), the dead-letter topic (every
bad record, unchanged, with Kafka Connect's context headers) and the committed offsets.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from schema_registry.client import SchemaRegistryClient
from sinkapp_testkit.registry import confluent_encode

from tests.test_formats_kafka import avro_value, connector, orders_table, tname, wait_for
from tests.workers import (
    ROOT,
    Worker,
    datagen_order,
    fixture_path,
    offsets_sync,
    open_loads,
    produce_sync,
    wait_committed,
    wait_until,
)

pytestmark = pytest.mark.kafka

DDL = "CREATE TABLE {name} (id BIGINT, name STRING) DUPLICATE KEY(id);"


#: every kind of bad value a JSON route can meet, each alone between good records
BAD_JSON = {
    "malformed": b'{"id": 1, "name": ',
    "non-utf8": b'{"id": 1, "name": "\xff\xfe"}',
    "array": b'[{"id": 1}]',
    "scalar": b"42",
    "trailing": b'{"id": 1, "name": "a"} {"id": 2}',
    "json-string": b'"{\\"id\\": 1}"',
    "nan": b'{"id": NaN, "name": "a"}',
    "bad-escape": b'{"id": 1, "name": "\\q"}',
}


def read_topic(bootstrap: str, topic: str, n: int | None, timeout_s: float = 30) -> list[Any]:
    """The first ``n`` records of ``topic`` (fewer after ``timeout_s``); ``n=None``: every record it
    holds now, as many as its end offsets say (the dead-letter producer is not transactional)."""
    if n is None:
        n = sum(offsets_sync(bootstrap, f"reader-{uuid.uuid4().hex[:8]}", topic)[1].values())

    async def run() -> list[Any]:
        c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None)
        await c.start()
        out: list[Any] = []
        try:
            deadline = time.monotonic() + timeout_s
            while len(out) < n and time.monotonic() < deadline:
                for recs in (await c.getmany(timeout_ms=500)).values():
                    out.extend(recs)
            return out
        finally:
            await c.stop()
    return asyncio.run(run())


def good(i: int) -> bytes:
    return orjson.dumps({"id": i, "name": f"n{i}"})


def test_tolerance_all_dead_letters_each_kind_of_bad_json_and_loads_the_rest(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("dlqjson"))
    dlq = f"{topic}-dlq"
    emulator.add_table("test", DDL.format(name=topic))
    values: list[bytes] = []
    keys: list[bytes] = []
    bad_at: dict[bytes, str] = {}
    n_good = 0
    for kind, bad in BAD_JSON.items():
        for _ in range(5):
            values.append(good(n_good))
            keys.append(b"k%d" % n_good)
            n_good += 1
        values.append(bad)
        keys.append(kind.encode())
        bad_at[kind.encode()] = kind
    values.append(b"")                                    # empty value: null, like a tombstone
    keys.append(b"empty")
    produce_sync(kafka.bootstrap_servers, topic, values, keys=keys, partitions=2)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true", "errors.log.enable": "true",
        "sinkapp.flush.max.rows": "7"})
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        wait_for(w, lambda: emulator.count("test", topic) >= n_good or not w.alive(), 60, "every good row")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
        letters = read_topic(kafka.bootstrap_servers, dlq, len(BAD_JSON))
        assert w.tasks() == ["RUNNING"], w.log()[-3000:]          # the bad records did not stop the route
        counters = w.route()
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    ids = sorted(r["id"] for r in emulator.rows("test", topic))
    assert ids == list(range(n_good))                      # every good record, exactly once
    assert len(letters) == len(BAD_JSON), [d.key for d in letters]
    by_kind = {d.key.decode(): d for d in letters}
    assert set(by_kind) == set(BAD_JSON)
    for kind, d in by_kind.items():
        assert d.value == BAD_JSON[kind]                   # unchanged
        h = {k: v.decode() for k, v in d.headers}
        assert h["__connect.errors.topic"] == topic
        assert h["__connect.errors.stage"] == "VALUE_CONVERTER"
        assert h["__connect.errors.exception.message"], kind
        part, off = int(h["__connect.errors.partition"]), int(h["__connect.errors.offset"])
        assert values[off * 2 + part] == BAD_JSON[kind]    # round-robin over 2 partitions
    # each bad record counted as dead-lettered at its stage, none as skipped (that is tolerance all
    # without a topic); the empty value is a tombstone, neither
    assert counters["dead_lettered"] == {"VALUE_CONVERTER": len(BAD_JSON)}, counters
    assert counters["skipped_bad"] == {} and counters["tombstones"] == 1, counters


def test_tolerance_all_avro_and_protobuf_framing_and_payload_errors(
        kafka: Any, emulator: Any, registry: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("dlqavro"))
    table = f"t_{topic}"
    orders_table(emulator, table)
    dlq = f"{topic}-dlq"
    schema_text = (fixture_path("orders.avsc")).read_text()
    sid = SchemaRegistryClient(registry.url).register(f"{topic}-value", schema_text)
    parsed = fastavro.parse_schema(json.loads(schema_text))
    ok = [avro_value(sid, parsed, datagen_order(i)) for i in range(30)]
    bad = {
        "unknown-schema-id": confluent_encode(987654, ok[0][5:]),
        "magic-byte-1": b"\x01" + ok[1][1:],
        "truncated": ok[2][:-12],
        "too-short": b"\x00\x00",
    }
    values = ok[:10] + [bad["unknown-schema-id"]] + ok[10:20] + [bad["magic-byte-1"], bad["truncated"]] \
        + ok[20:] + [bad["too-short"]]
    produce_sync(kafka.bootstrap_servers, topic, values)
    cfg = connector(kafka, emulator, "connector-avro.json", topics=topic, **{
        "starrocks.topic2table.map": f"{topic}:{table}",
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true"})
    w = Worker(cfg, tmp_path, env={"SINKAPP_SCHEMA_REGISTRY_URL": registry.url}).start()
    try:
        wait_for(w, lambda: emulator.count("test", table) >= 30 or not w.alive(), 60, "every good row")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
        letters = read_topic(kafka.bootstrap_servers, dlq, len(bad))
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    assert sorted(r["orderid"] for r in emulator.rows("test", table)) == list(range(30))
    got = {d.value: {k: v.decode() for k, v in d.headers} for d in letters}
    assert set(got) == set(bad.values())
    assert "987654" in got[bad["unknown-schema-id"]]["__connect.errors.exception.message"]
    assert "magic byte" in got[bad["magic-byte-1"]]["__connect.errors.exception.message"]
    assert "truncated or corrupt" in got[bad["truncated"]]["__connect.errors.exception.message"]
    assert got[bad["truncated"]]["__connect.errors.class.name"] == "io.confluent.connect.avro.AvroConverter"


def test_tolerance_none_loads_the_good_records_before_the_bad_one_then_stops(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """The issue's scenario: 50 good, 1 bad, 49 good with flush.max.rows=20."""
    topic = topic_factory(partitions=1, name=tname("tolnone"))
    emulator.add_table("test", DDL.format(name=topic))
    values = [good(i) for i in range(50)] + [b'{"id": 50, '] + [good(i) for i in range(51, 100)]
    produce_sync(kafka.bootstrap_servers, topic, values)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false", "sinkapp.flush.max.rows": "20"})
    w = Worker(cfg, tmp_path, web=True).start()
    try:
        w.wait_failed()
        # the 50 rows before the bad record load and commit; nothing at or past it ever does
        wait_until(lambda: offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)[0] == {0: 50}, 30,
                   "the commit of the rows before the bad record")
        assert w.route()["rows_loaded"] == 50
    finally:
        w.stop()
    committed, ends = offsets_sync(kafka.bootstrap_servers, cfg["group.id"], topic)   # after the drain too
    assert sorted(r["id"] for r in emulator.rows("test", topic)) == list(range(50))
    assert committed == {0: 50} and ends == {0: 100}
    stop = next(ln for ln in w.log().splitlines() if "STOPPED" in ln)
    assert f"{topic}[0]@50" in stop and "--to-offset 51" in stop and "errors.tolerance=all" in stop


def test_dead_letter_topic_is_created_with_the_source_max_message_bytes(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=1, name=tname("dlqsize"), config={"max.message.bytes": "6291456"})
    dlq = f"{topic}-dlq-{uuid.uuid4().hex[:4]}"
    emulator.add_table("test", DDL.format(name=topic))
    big_bad = b"[" + b" " * (5 * 1024 * 1024) + b"1]"      # a 5 MB value that is not an object
    produce_sync(kafka.bootstrap_servers, topic, [good(0), big_bad, good(1)])
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq})
    w = Worker(cfg, tmp_path).start()
    try:
        wait_for(w, lambda: emulator.count("test", topic) >= 2 or not w.alive(), 60, "both good rows")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
        letters = read_topic(kafka.bootstrap_servers, dlq, 1)
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    assert [d.value for d in letters] == [big_bad]
    assert not any(k.startswith("__connect") for k, _ in letters[0].headers)   # context headers off


def test_rows_starrocks_refuses_in_strict_mode_are_dead_lettered_and_the_rest_loads(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("dlqstrict"))
    dlq = f"{topic}-dlq"
    emulator.add_table("test", f"CREATE TABLE {topic} (id BIGINT, qty INT) DUPLICATE KEY(id);")
    values = [orjson.dumps({"id": i, "qty": i}) for i in range(200)]
    refused = {17: b'{"id": 17, "qty": "many"}', 120: b'{"id": 120, "qty": 99999999999}'}
    for i, v in refused.items():
        values[i] = v
    produce_sync(kafka.bootstrap_servers, topic, values, partitions=2)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false", "sink.properties.strict_mode": "true",
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true"})
    w = Worker(cfg, tmp_path).start()
    try:
        wait_for(w, lambda: emulator.count("test", topic) >= 198 or not w.alive(), 90, "every good row")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
        letters = read_topic(kafka.bootstrap_servers, dlq, 2)
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    ids = sorted(r["id"] for r in emulator.rows("test", topic))
    assert ids == sorted(set(range(200)) - set(refused))   # every other row, exactly once
    assert sorted(d.value for d in letters) == sorted(refused.values())
    for d in letters:
        h = {k: v.decode() for k, v in d.headers}
        assert h["__connect.errors.stage"] == "TASK_PUT"
        assert "filtered" in h["__connect.errors.exception.message"]


def test_kill_9_while_a_batch_with_bad_records_loads_dead_letters_each_once(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    """The dead letters are written, then the load hangs and the worker is killed; the next worker
    rebuilds the batch from the ledger (dead letters marked written) and only loads it."""
    topic = topic_factory(partitions=1, name=tname("dlqkill"))
    dlq = f"{topic}-dlq"
    emulator.add_table("test", DDL.format(name=topic))
    values = [good(i) if i % 10 else b"bad %d" % i for i in range(300)]      # 30 bad records
    produce_sync(kafka.bootstrap_servers, topic, values)
    emulator.faults.hang_next(1, seconds=8.0, then="commit", table=topic)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false", "sink.maxretries": "-1",
        "sinkapp.load.timeout.ms": "3000", "session.timeout.ms": "6000", "heartbeat.interval.ms": "1000",
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq})
    w1 = Worker(cfg, tmp_path, "w1").start()
    try:
        assert len(read_topic(kafka.bootstrap_servers, dlq, 30, timeout_s=60)) == 30, w1.log()[-3000:]
        wait_until(lambda: not emulator.faults.pending(), 30, "the batch's load to hang")
        assert emulator.count("test", topic) == 0
    finally:
        w1.kill()
    w2 = Worker(cfg, tmp_path, "w2").start()
    try:
        wait_for(w2, lambda: emulator.count("test", topic) >= 270 or not w2.alive(), 90, "every good row")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w2.log)
        # the hung load commits meanwhile (a duplicate would show): wait until StarRocks holds no load
        wait_until(lambda: not open_loads(emulator, topic), 30, "the hung load to finish")
        letters = read_topic(kafka.bootstrap_servers, dlq, None)          # every dead letter written
    finally:
        w2.stop()
    ids = sorted(r["id"] for r in emulator.rows("test", topic))
    assert ids == [i for i in range(300) if i % 10]         # each good row once
    assert sorted(d.value for d in letters) == sorted(b"bad %d" % i for i in range(0, 300, 10))   # each bad once


def boom_on_sevens(value: dict[str, Any], meta: Any) -> dict[str, Any]:
    """A user transform (used by the worker below) that raises for every id divisible by 7."""
    if value["id"] % 7 == 0:
        raise ValueError(f"id {value['id']} is unlucky")
    return value


def test_tolerance_all_a_raising_transform_and_an_overlong_string_are_dead_lettered(
        kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=2, name=tname("dlqxf"))
    dlq = f"{topic}-dlq"
    emulator.add_table("test", f"CREATE TABLE {topic} (id BIGINT, name VARCHAR(8)) DUPLICATE KEY(id);")
    values = [orjson.dumps({"id": i, "name": "x" * (40 if i == 50 else 3)}) for i in range(100)]
    produce_sync(kafka.bootstrap_servers, topic, values, partitions=2)
    cfg = connector(kafka, emulator, topics=topic, **{
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false", "sink.properties.strict_mode": "true",
        "transforms": "lucky", "transforms.lucky.type": "tests.test_dlq_kafka:boom_on_sevens",
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true"})
    w = Worker(cfg, tmp_path, env={"PYTHONPATH": str(ROOT)}).start()
    unlucky = [i for i in range(100) if i % 7 == 0]
    expected = sorted(set(range(100)) - set(unlucky) - {50})
    try:
        wait_for(w, lambda: emulator.count("test", topic) >= len(expected) or not w.alive(), 90, "every good row")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], topic, 30, w.log)
        letters = read_topic(kafka.bootstrap_servers, dlq, len(unlucky) + 1)
    finally:
        assert w.stop() == 0, w.log()[-3000:]
    assert sorted(r["id"] for r in emulator.rows("test", topic)) == expected
    stages = {orjson.loads(d.value)["id"]: dict(d.headers)["__connect.errors.stage"].decode() for d in letters}
    assert stages == {**{i: "TRANSFORMATION" for i in unlucky}, 50: "TASK_PUT"}
    msg = {orjson.loads(d.value)["id"]: dict(d.headers)["__connect.errors.exception.message"].decode()
           for d in letters}
    assert "unlucky" in msg[7] and "filtered" in msg[50]
