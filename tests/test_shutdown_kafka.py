"""Stopping a worker whose broker has gone away: SIGTERM ends the process within the drain limit plus
``STOP_GRACE_S`` (status 1, as after kill -9) instead of leaving it retrying forever, and when the
broker is back the next worker loads every row exactly once."""

from __future__ import annotations

import collections
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from sinkapp.faustio.app import STOP_GRACE_S
from tests.test_exactly_once_kafka import DDL, config, rows
from tests.workers import Worker, produce_sync, wait_committed, wait_until

pytestmark = pytest.mark.kafka


def test_sigterm_ends_a_worker_whose_broker_is_gone_and_nothing_is_lost_or_doubled(
        emulator: Any, tmp_path: Path) -> None:
    from sinkapp_testkit.kafka import LocalKafka

    broker = LocalKafka(home=tmp_path / "kafka")
    broker.start()
    w = w2 = None
    try:
        topic = f"sd_gone_{uuid.uuid4().hex[:6]}"
        broker.create_topic(topic, partitions=2)
        emulator.add_table("test", DDL.format(name=topic))
        cfg = config(broker, emulator, topic, **{"sinkapp.drain.timeout.ms": "2000"})
        produce_sync(broker.bootstrap_servers, topic, rows(0, 500), partitions=2)
        w = Worker(cfg, tmp_path, "w1").start()
        wait_until(lambda: emulator.count("test", topic) >= 500, 60, "the rows loaded")
        produce_sync(broker.bootstrap_servers, topic, rows(500, 300), partitions=2)
        wait_until(lambda: emulator.count("test", topic) >= 800, 60, "the second rows loaded")
        broker.stop()                                  # gone before the worker could commit them, maybe
        assert w.alive() and w.proc is not None
        w.proc.send_signal(signal.SIGTERM)
        rc = w.wait_exit(2.0 + STOP_GRACE_S + 30)
        assert rc == 1, w.log()[-3000:]
        assert "stopping has taken" in w.log() and "most likely because the Kafka broker is unreachable" in w.log()

        broker.start()                                 # the same port and data
        w2 = Worker(cfg, tmp_path, "w2").start()
        wait_committed(broker.bootstrap_servers, cfg["group.id"], topic, 90, w2.log)
        assert w2.stop() == 0, w2.log()[-3000:]
        ids = collections.Counter(r["id"] for r in emulator.rows("test", topic))
        assert sorted(ids) == list(range(800)) and set(ids.values()) == {1}, ids.most_common(3)
    finally:
        for worker in (w, w2):
            if worker is not None and worker.alive():
                worker.kill()
        broker.stop()
