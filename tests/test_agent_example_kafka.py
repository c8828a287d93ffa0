"""The custom-agent example (examples/enrich_orders.py) end to end on the real broker: a Faust agent
joins orders with a table of customers, a sinkapp route loads its output topic into the emulator.
The agent runs with its table's changelog topic missing from its metadata for its first seconds
(tests/late_changelog.py), the race between topic creation and metadata it must survive."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_formats_kafka import connector, wait_for
from tests.workers import ROOT, Worker, offsets_sync, produce_sync, wait_committed, wait_until

pytestmark = pytest.mark.kafka


def test_enrichment_agent_feeds_a_sinkapp_route(kafka: Any, emulator: Any, tmp_path: Path) -> None:
    prefix = f"ex{uuid.uuid4().hex[:6]}-"
    for name, cfg in (("customers", {"cleanup.policy": "compact"}), ("orders", None), ("orders-enriched", None)):
        kafka.create_topic(prefix + name, partitions=2, config=cfg)
    table = prefix.replace("-", "_") + "orders"
    emulator.add_table("test", f"CREATE TABLE {table} (order_id BIGINT, customer_id STRING, amount DOUBLE, "
                               "customer_name STRING, tier STRING) DUPLICATE KEY(order_id);")
    env = dict(os.environ, SINKAPP_EXAMPLE_BROKER=kafka.bootstrap_servers, SINKAPP_EXAMPLE_PREFIX=prefix,
               SINKAPP_EXAMPLE_APP=f"{prefix}enrich", PYTHONUNBUFFERED="1")
    agent_log = open(tmp_path / "agent.log", "wb")  # noqa: SIM115
    agent = subprocess.Popen([sys.executable, "-m", "tests.late_changelog", "-A", "examples.enrich_orders", "--datadir",
                              str(tmp_path / "agent-data"), "worker", "-l", "info", "--without-web"],
                             cwd=ROOT, env=env, stdout=agent_log, stderr=subprocess.STDOUT)
    cfg = connector(kafka, emulator, topics=prefix + "orders-enriched",
                    **{"starrocks.topic2table.map": f"{prefix}orders-enriched:{table}",
                       "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                       "value.converter.schemas.enable": "false"})
    sink = Worker(cfg, tmp_path, "sink").start()
    try:
        customers = {f"c{i}": {"name": f"Customer {i}", "tier": "gold" if i % 2 else "silver"} for i in range(20)}
        produce_sync(kafka.bootstrap_servers, prefix + "customers", [orjson.dumps(v) for v in customers.values()],
                     keys=[k.encode() for k in customers])
        deadline = time.monotonic() + 60
        while b"Worker ready" not in (tmp_path / "agent.log").read_bytes():
            assert agent.poll() is None and time.monotonic() < deadline, (tmp_path / "agent.log").read_text()[-3000:]
            time.sleep(0.2)
        # the agent has processed (and so holds in its table) every customer: Faust commits an
        # offset only after the agent's event is acknowledged
        wait_until(lambda: sum(offsets_sync(kafka.bootstrap_servers, f"{prefix}enrich", prefix + "customers")[0]
                               .values()) >= len(customers), 90, "the agent to consume every customer")
        orders = [{"order_id": i, "customer_id": f"c{i % 20}", "amount": i * 1.5} for i in range(200)]
        produce_sync(kafka.bootstrap_servers, prefix + "orders", [orjson.dumps(o) for o in orders],
                     keys=[o["customer_id"].encode() for o in orders])
        wait_for(sink, lambda: emulator.count("test", table) >= 200, 90,
                 "200 enriched orders (agent log: " + str(tmp_path / "agent.log") + ")")
        wait_committed(kafka.bootstrap_servers, cfg["group.id"], prefix + "orders-enriched", 30, sink.log)
    finally:
        sink.stop()
        agent.terminate()
        agent.wait(60)
        agent_log.close()
    rows = {r["order_id"]: r for r in emulator.rows("test", table)}
    assert sorted(rows) == list(range(200))
    for i, r in rows.items():
        c = customers[f"c{i % 20}"]
        assert (r["customer_id"], r["customer_name"], r["tier"]) == (f"c{i % 20}", c["name"], c["tier"]), r
