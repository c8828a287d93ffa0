"""sink.properties.compression end to end on the real broker: a worker loads the product's JSON
fixture (connector-json.json) with ``lz4_frame`` into the Stream Load emulator, which fails any body
that does not decompress as its headers say (as StarRocks does); every row arrives once, every load
carried the ``compression`` header and fewer bytes than its rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.test_formats_kafka import assert_orders, connector, orders_table, run_until_loaded, tname
from tests.workers import Worker, datagen_order, produce_sync

pytestmark = pytest.mark.kafka


def test_connector_json_fixture_with_lz4_frame_loads_every_row_compressed(kafka: Any, emulator: Any,
                                                                          topic_factory: Any, tmp_path: Path) -> None:
    topic = topic_factory(partitions=3, name=tname("lz4"))
    table = f"t_{topic}"
    orders_table(emulator, table)
    n = 6_000
    values = [orjson.dumps(datagen_order(i)) for i in range(n)]
    produce_sync(kafka.bootstrap_servers, topic, values, keys=(str(i).encode() for i in range(n)), partitions=3)
    cfg = connector(kafka, emulator, "connector-json.json", topics=topic,
                    **{"starrocks.topic2table.map": f"{topic}:{table}", "sink.properties.compression": "lz4_frame"})
    w = Worker(cfg, tmp_path).start()
    run_until_loaded(w, emulator, kafka, cfg, topic, table, n, timeout_s=90)
    assert_orders(emulator.rows("test", table), list(range(n)))
    loads = [ld for ld in emulator.loads("test", table) if ld.status == "Success"]
    assert loads and sum(ld.rows_loaded for ld in loads) == n
    assert all(ld.headers.get("compression") == "lz4_frame" for ld in emulator.loads("test", table))
    plain = sum(len(v) + 1 for v in values)                  # the JSON array the rows make, uncompressed
    assert sum(ld.bytes for ld in loads) < plain / 2, (sum(ld.bytes for ld in loads), plain)
