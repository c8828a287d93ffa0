"""The sink core's contracts: its parts return results and the pipeline alone applies them.

- the loader returns an Outcome and counts only into the LoadStats it is handed (no route or table
  counter, no committer, no lane back-off);
- the settler returns what became of a pending batch, or the batch to send again, and loads nothing;
- the route intake returns the record it halts at and leaves the route's state to the pipeline;
- the pipeline adds a load's counts when it ends, however it ends (a drain cancels it), and the
  pages see them while it runs, never going back;
- every default is its key's.

Uses the fakes of tests/pipeline_fakes.py, as tests/test_pipeline.py does.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

from sinkapp.config import build_settings
from sinkapp.config.keys import KEYS
from sinkapp.config.types import Settings
from sinkapp.errors import LoadPressure
from sinkapp.pipeline.ledger import BatchRecord, Entry
from sinkapp.pipeline.settings import PipelineConfig
from sinkapp.pipeline.settle import Resend, Settled
from sinkapp.pipeline.stats import LoadStats
from sinkapp.pipeline.types import BatchId, Kind, Member, Part, RouteState, TableKey
from tests.pipeline_fakes import FakeClient, harness

P0 = Part("orders", 0)
CORE = Path(__file__).resolve().parents[1] / "sinkapp" / "pipeline"


async def test_the_loader_returns_an_outcome_and_counts_only_into_the_stats_it_is_handed() -> None:
    pressure = LoadPressure("too many versions", reason="too_many_versions")
    h = harness(max_rows=1000, client=FakeClient(outcomes=[pressure]))
    h.pipe.loader.policy = type(h.pipe.loader.policy)(max_retries=2, base_delay_s=0.001, pressure_max_delay_s=0.01)
    await h.take(h.batch(0, range(0, 3)))
    lane = h.pipe.batcher.lanes[TableKey("test", "t")]
    batch = h.pipe.batcher.seal(lane)
    assert batch is not None
    stats = LoadStats()
    outcome = await h.pipe.loader.load(batch, lane, stats)
    assert outcome.kind is Kind.LOADED and outcome.through == {P0: (2, 2)}
    assert [(s.label, s.rows, s.loaded) for s in stats.sent] == [("sa-t-orders-0-0-2", 3, 3)]
    assert stats.backoffs == {"too_many_versions": 1} and stats.pressure == [1]
    # nothing else moved: the pipeline applies it
    assert h.stats.loads == 0 and h.pipe.table_stats["test.t"].loads == 0 and lane.factor == 1.0
    assert h.control.loaded == [] and h.control.acked == []


async def test_the_settler_returns_the_batch_to_send_again_and_loads_nothing() -> None:
    h = harness(max_rows=1000)
    ident = BatchId(TableKey("test", "t"), (Member("orders", 0, 0, 2),))
    label = ident.label("sa", "test")
    h.ledger.put_batch(BatchRecord(label, ident))
    h.ledger.put(P0, Entry(-1, {}, (label,)))
    for o in range(3):
        h.batch(0, [o])                             # the records are in Kafka
    found = await h.pipe.settler.settle(label)
    assert isinstance(found, Resend) and found.batch.rows == 3 and found.batch.replay
    assert h.client.attempts == []
    h.client.loaded[label] = 3                      # StarRocks has it now: VISIBLE
    again = await h.pipe.settler.settle(label)
    assert isinstance(again, Settled) and again.outcome.kind is Kind.LOADED


async def test_the_intake_returns_the_halt_and_leaves_the_route_state_to_the_pipeline() -> None:
    h = harness()
    route = h.pipe.routes[0]
    await h.take(h.batch(0, range(0, 1)))           # the partition is assigned
    halt = route.take([h.batch(0, range(1, 4), values={2: b"not json"})], None)
    assert halt is not None and (halt.part, halt.offset) == (P0, 2) and "orders[0]@2" in halt.reason
    assert route.state is RouteState.RUNNING       # the pipeline halts it (Pipeline.halt)
    assert h.pipe.committer.watermark(P0) <= 1      # but the committer never passes the record


async def test_a_load_the_drain_cancels_still_counts_what_it_did() -> None:
    pressure = LoadPressure("too many versions", reason="too_many_versions")
    h = harness(client=FakeClient(outcomes=[pressure] * 1000))
    h.pipe.loader.policy = type(h.pipe.loader.policy)(max_retries=0, pressure_max_delay_s=0.01)
    await h.take(h.batch(0, range(0, 3)))           # due: its load meets pressure until cancelled
    while h.pipe.snapshot().tables[0].stats.backoffs["too_many_versions"] < 3:
        await asyncio.sleep(0.005)
    seen = h.pipe.snapshot().tables[0].stats.backoffs["too_many_versions"]
    await h.pipe.drain(0.01)
    assert h.pipe.loading == {}
    assert h.pipe.table_stats["test.t"].backoffs["too_many_versions"] >= seen >= 3
    assert h.control.acked == [] and h.control.loaded == []


async def test_the_pages_see_a_running_loads_counts_and_they_never_go_back() -> None:
    h = harness(client=FakeClient(outcomes=[LoadPressure("busy", reason="txn_limit")] * 4), interval_ms=1000,
                max_interval_ms=8000)
    h.pipe.loader.policy = type(h.pipe.loader.policy)(max_retries=0, pressure_max_delay_s=0.01)
    await h.take(h.batch(0, range(0, 3)))
    task = h.pipe.batcher.lanes[TableKey("test", "t")].loading
    seen: list[tuple[int, float, int]] = []
    while not task.done():
        snap = h.pipe.snapshot()
        t = snap.tables[0]
        seen.append((t.stats.backoffs["txn_limit"], t.interval_s, snap.routes[0].stats.loads))
        await asyncio.sleep(0)
    await task
    t = h.pipe.snapshot().tables[0]
    seen.append((t.stats.backoffs["txn_limit"], t.interval_s, h.pipe.snapshot().routes[0].stats.loads))
    assert seen[-1] == (4, 8.0, 1) and max(b for b, _, _ in seen) == 4
    assert all(x <= y for a, b in zip(seen, seen[1:], strict=False) for x, y in zip(a, b, strict=True))


def test_every_default_is_its_keys() -> None:
    s = build_settings({"topics": "t", "starrocks.http.url": "fe:8030", "starrocks.database.name": "d",
                        "starrocks.username": "u"})
    assert PipelineConfig.of(s) == PipelineConfig(database="d")
    bare = Settings("n", ("t",), None, {}, ("http://fe:8030",), "d", "u", s.password)
    for name in ("tasks_max", "bufferflush_maxbytes", "bufferflush_intervalms", "connect_timeoutms",
                 "sink_maxretries", "label_prefix", "load_timeout_ms", "flush_max_rows", "drain_timeout_ms",
                 "delivery_guarantee", "backoff_max_ms", "stall_timeout_ms", "web_port", "errors", "tables"):
        assert getattr(bare, name) == getattr(s, name), name
    assert s.kafka is not None and s.kafka.bootstrap_servers == KEYS["bootstrap.servers"].default


def test_the_parts_do_not_reach_the_pipeline_or_the_committer() -> None:
    """The loader, the settler, the rebuild and the route codec import neither the pipeline nor the
    committer; the route intake does not import the settler."""
    def imports(name: str) -> set[str]:
        tree = ast.parse((CORE / f"{name}.py").read_text())
        return {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}

    for part in ("loader", "settle", "rebuild", "codec", "badrows"):
        assert not imports(part) & {"sinkapp.pipeline.core", "sinkapp.pipeline.committer"}, part
    assert "sinkapp.pipeline.settle" not in imports("route")
