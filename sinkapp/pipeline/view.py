"""What the pages read of the pipeline: a :class:`~.stats.Snapshot`, taken on demand; reads only.

Who calls: :meth:`sinkapp.pipeline.core.Pipeline.snapshot` (the status pages, metrics and progress
lines through the worker). A load that is running has counted into its own
:class:`~.stats.LoadStats` (``Pipeline.loading``), which the pipeline adds to the statistics when it
ends; the snapshot shows the statistics as they will be then (retries, back-offs and dead letters
show while a load waits, and a counter never goes back when the load ends).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from sinkapp.pipeline.stats import RouteStats, RouteView, Snapshot, TableStats, TableView, add_load

if TYPE_CHECKING:
    from sinkapp.pipeline.core import Pipeline


class _Counts:
    """The table and route statistics, with the counts of the loads running now added to copies."""

    def __init__(self, p: Pipeline) -> None:
        self.p = p
        self.tables: dict[str, TableStats] = {}
        self.routes: dict[int, RouteStats] = {}
        for table, stats in list(p.loading.items()):
            key = str(table)
            ts = self.tables[key] = copy.deepcopy(p.table_stats.get(key) or TableStats())
            add_load(ts, self._route_copy, lambda topic: p.by_topic[topic].id, stats)

    def _route_copy(self, rid: int) -> RouteStats:
        if rid not in self.routes:
            self.routes[rid] = copy.deepcopy(self.p.routes[rid].stats)
        return self.routes[rid]

    def table(self, table: str) -> TableStats:
        return self.tables.get(table) or self.p.table_stats.get(table) or TableStats()

    def route(self, rid: int) -> RouteStats:
        return self.routes.get(rid) or self.p.routes[rid].stats


def snapshot(p: Pipeline) -> Snapshot:
    counts = _Counts(p)
    routes = []
    for r in p.routes:
        buffered: dict[int, tuple[int, int]] = {}
        for lane in p.batcher.lanes.values():
            for part, rid, data, rows in (lane.open.pieces if lane.open is not None else ()):
                if rid == r.id:
                    n, b = buffered.get(part.partition, (0, 0))
                    buffered[part.partition] = (n + rows, b + len(data) + 1)
        trouble = p.loader.trouble.get(r.table)
        routes.append(RouteView(r.name, r.route.topic, str(r.table), r.state.value, r.reason, counts.route(r.id),
                                buffered, trouble or getattr(r.converter, "trouble", None)))
    tables = []
    for t, lane in p.batcher.lanes.items():
        rows, nbytes = (lane.open.rows, lane.open.nbytes) if lane.open is not None else (0, 0)
        running = p.loading.get(t)
        tables.append(TableView(str(t), counts.table(str(t)), rows, nbytes,
                                lane.loading is not None and not lane.loading.done(),
                                p.batcher.interval(lane, running.pressure if running is not None else ())))
    shapes = p.shapes
    changes = tuple((t, k, n) for (t, k), n in sorted(shapes.changes.items())) if shapes else ()
    refused = tuple(sorted(shapes.refused.items())) if shapes else ()
    return Snapshot(tuple(routes), tuple(tables), schema_changes=changes, schemas_refused=refused)
