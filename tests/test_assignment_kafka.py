"""Table-affine assignment on the real broker: two workers of one group, four topics of three
partitions each into four tables. With ``sinkapp.assignment=affine`` (the default) each table's
partitions end up on one worker; with ``spread`` (Kafka's round robin) tables are split over both.
Either way every row is loaded exactly once and the group commits to the end."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.test_exactly_once_kafka import DDL, config, report, rows
from tests.workers import Worker, produce_sync, wait_committed, wait_until

pytestmark = pytest.mark.kafka

PARTS, PER_TOPIC = 3, 600


def settled(workers: list[Worker], every: list[str]) -> bool:
    """Both workers hold partitions, together every one exactly once, and neither is rebalancing."""
    held = [w.assigned() for w in workers]
    if not all(held) or sorted(p for h in held for p in h) != every:
        return False
    for w in workers:
        code, body = w.get("/sinkapp/status/")
        if code != 200 or json.loads(body).get("rebalancing"):
            return False
    return True


@pytest.mark.parametrize("assignment", ["affine", "spread"])
def test_two_workers_hold_each_of_four_tables_whole_unless_spread(
        assignment: str, kafka: Any, emulator: Any, topic_factory: Any, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    topics = [topic_factory(partitions=PARTS, name=f"as_{tag}_{i}") for i in range(4)]
    tables = {t: f"as_{tag}_t{i}" for i, t in enumerate(topics)}
    for table in tables.values():
        emulator.add_table("test", DDL.format(name=table))
    for i, t in enumerate(topics):
        produce_sync(kafka.bootstrap_servers, t, rows(i * 10_000, PER_TOPIC), partitions=PARTS)
    cfg = config(kafka, emulator, ",".join(topics), **{
        "starrocks.topic2table.map": ",".join(f"{t}:{tables[t]}" for t in topics),
        **({"sinkapp.assignment": "spread"} if assignment == "spread" else {})})
    w1 = Worker(cfg, tmp_path, "w1", web=True).start()
    w2 = Worker(cfg, tmp_path, "w2", web=True)
    every = sorted(f"{t}[{p}]" for t in topics for p in range(PARTS))
    try:
        w1.wait_ready(90)
        w2.start().wait_ready(90)
        wait_until(lambda: settled([w1, w2], every), 90, "the two workers to share the partitions")
        for i, t in enumerate(topics):     # more rows, loaded under the settled assignment
            produce_sync(kafka.bootstrap_servers, t, rows(i * 10_000 + PER_TOPIC, PER_TOPIC), partitions=PARTS)
        for t in topics:
            wait_until(lambda t=t: emulator.count("test", tables[t]) >= 2 * PER_TOPIC, 90, f"every row of {t}")
            wait_committed(kafka.bootstrap_servers, cfg["group.id"], t, 60, lambda: w1.log() + w2.log())
        held = {w.dir.name: w.assigned() for w in (w1, w2)}
    finally:
        w2.stop()
        w1.stop()
    logs = w1.log() + w2.log()
    for i, t in enumerate(topics):
        assert report(emulator, tables[t], range(i * 10_000, i * 10_000 + 2 * PER_TOPIC)) == (0, 0), logs[-3000:]
    holders = {t: sorted(w for w, ps in held.items() if any(p.startswith(f"{t}[") for p in ps)) for t in topics}
    assert sorted(len(ps) for ps in held.values()) == [6, 6], held
    if assignment == "affine":
        assert all(len(ws) == 1 for ws in holders.values()), held
        assert "assignment (table-affine): 12 partitions of 4 tables over 2 members" in logs, logs[-3000:]
    else:
        assert any(len(ws) == 2 for ws in holders.values()), held
        assert "assignment (table-affine)" not in logs
