"""The progress lines a worker logs every 10 s while something moves (every 10 minutes when idle).

Who calls: the app's progress timer, with the worker's :class:`~sinkapp.pipeline.stats.Snapshot`.
One line per route (records in, rows loaded, what was skipped, dead-lettered, buffered) and one per
target table (loads, rows per load, loads per second, the flush interval in force and the
back-offs StarRocks' load pressure caused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sinkapp.pipeline.stats import Snapshot

IDLE_INTERVAL_S = 600.0


class Progress:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._t = clock()
        self._rows = 0
        self._loads: dict[str, int] = {}
        self._seen: Any = None
        self._logged_at = 0.0

    def lines(self, snap: Snapshot, final: bool = False) -> list[str]:
        """The lines to log now (none while idle, unless ``final``: the worker is stopping)."""
        now = self._clock()
        dt = max(1e-9, now - self._t)
        rows = sum(r.stats.rows_loaded for r in snap.routes)
        seen = [(r.stats.records_in, r.stats.rows_loaded, r.state, sum(n for n, _ in r.buffered.values()))
                for r in snap.routes]
        idle = seen == self._seen
        rate = (rows - self._rows) / dt
        loads = {t.table: t.stats.loads for t in snap.tables}
        per_s = {t: (n - self._loads.get(t, 0)) / dt for t, n in loads.items()}
        self._t, self._rows, self._seen, self._loads = now, rows, seen, loads
        if idle and not final and now - self._logged_at < IDLE_INTERVAL_S:
            return []
        self._logged_at = now
        out = []
        for r in snap.routes:
            st = r.stats
            out.append(
                f"progress{' (final)' if final else ''} route={r.name} records_in={st.records_in} rows_loaded={st.rows_loaded} loads={st.loads} "
                f"buffered={sum(n for n, _ in r.buffered.values())} retries={st.load_retries} "
                f"tombstones={st.tombstones} skipped_loaded={st.skipped_loaded} redelivered={st.redelivered} "
                f"stale={st.dropped_stale} dead_lettered={sum(st.dead_lettered.values())} "
                f"skipped_bad={sum(st.skipped_bad.values())} rows_filtered={st.rows_filtered} rows_per_s={rate:.0f}"
                + "".join(f" {kind}_skipped={n}" for kind, n in sorted(st.events_skipped.items()))
                + ("" if r.state == "RUNNING" else f" {r.state}"))
        for t in snap.tables:
            ts = t.stats
            backoffs = ",".join(f"{k}:{v}" for k, v in sorted(ts.backoffs.items())) or "0"
            out.append(
                f"progress{' (final)' if final else ''} table={t.table} loads={ts.loads} loads_per_s={per_s.get(t.table, 0.0):.2f} "
                f"rows_loaded={ts.rows_loaded} rows_per_load={ts.rows_loaded / max(1, ts.loads):.0f} "
                f"buffered={t.buffered_rows} interval_s={t.interval_s:g} backoffs={backoffs} retries={ts.load_retries}")
        return out
