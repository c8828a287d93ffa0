"""Loads per table from the emulator's per-load records: what a StarRocks table sees as versions.

A load is one committed Stream Load: a ``_stream_load`` answered Success (or Publish Timeout, also
committed), or a transaction (``/api/transaction/*``) whose prepare or BE-side commit answered OK
(the Java connector's way; one per label, at the first such answer). Its rows are the records'
``rows_loaded``. The emulator's timeline (one point per committed load) counts the same loads
independently; :func:`window_stats` reports both so a mismatch shows (a load at an edge of the
window may count on one side of it and its commit on the other: a difference of one or two is that).
"""

from __future__ import annotations

from typing import Any

STREAM_OK = ("Success", "Publish Timeout")
TXN_DONE = ("txn-prepare", "txn-commit")


def committed_loads(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"table", "label", "time", "rows"}, ...]`` in time order (see module docstring)."""
    out: list[dict[str, Any]] = []
    txn_seen: set[tuple[str, str]] = set()
    for r in sorted(records, key=lambda r: r["time"]):
        kind = r.get("kind", "stream")
        if kind == "stream" and r["status"] in STREAM_OK:
            pass
        elif kind in TXN_DONE and r["status"] == "OK":
            key = (r["db"], r["label"])
            if key in txn_seen:
                continue
            txn_seen.add(key)
        else:
            continue
        out.append({"table": f"{r['db']}.{r['table']}", "label": r["label"], "time": r["time"],
                    "rows": int(r["rows_loaded"])})
    return out


def window_stats(loads: list[dict[str, Any]], timeline: list[list[float]], ws: float, we: float,
                 table: str) -> dict[str, Any]:
    """Loads of ``table`` whose answer came in ``[ws, we)``: per second, rows per load, spread."""
    inside = [ld for ld in loads if ld["table"] == table and ws <= ld["time"] < we]
    rows = [ld["rows"] for ld in inside]
    span = we - ws
    commits = sum(1 for t, _ in timeline if ws <= t < we)
    return {"table": table, "window_s": span, "loads": len(inside), "rows": sum(rows),
            "loads_per_s": len(inside) / span if span > 0 else 0.0,
            "rows_per_load": sum(rows) / len(rows) if rows else 0.0,
            "min_rows_per_load": min(rows) if rows else 0, "max_rows_per_load": max(rows) if rows else 0,
            "timeline_commits": commits}
