"""The steady-rate table: per consumer, loads per second into the table and rows per load."""

from __future__ import annotations

import statistics
from typing import Any

from .steady import SteadyResult


def line(r: SteadyResult) -> str:
    if not r.ok:
        return f"round {r.round} {r.consumer:50s} FAILED: {r.error}"
    s = r.stats
    # a load at either edge of the window may have its answer inside and its commit outside, or back
    check = "" if abs(s["timeline_commits"] - s["loads"]) <= 2 else \
        f"  (MISMATCH: the emulator timeline has {s['timeline_commits']} commits in the window)"
    return (f"round {r.round} {r.consumer:50s} {s['table']}  {s['loads_per_s']:6.2f} loads/s  "
            f"{s['rows_per_load']:9,.0f} rows/load (min {s['min_rows_per_load']:,}, max {s['max_rows_per_load']:,})  "
            f"{s['loads']} loads, {s['rows']:,} rows in {s['window_s']:.0f} s  CPU {r.cpu_us_row:.2f} µs/row  "
            f"RSS {r.rss_kb / 1024:.0f} MiB  caught up after {r.startup_s:.1f} s{check}" + per_table(r))


def per_table(r: SteadyResult) -> str:
    """Each table's loads/s, when the run loaded several."""
    if len(r.table_stats) < 2:
        return ""
    return "\n    loads/s per table: " + ", ".join(f"{t['table']} {t['loads_per_s']:.2f}" for t in r.table_stats)


def medians(results: list[SteadyResult]) -> list[dict[str, Any]]:
    table = []
    for name in dict.fromkeys(r.consumer for r in results):
        runs = [r for r in results if r.consumer == name]
        ok = [r for r in runs if r.ok]
        row: dict[str, Any] = {"consumer": name, "scenario": runs[0].scenario, "runs": len(runs), "ok": len(ok)}
        if ok:
            def med(key: str, rs: list[SteadyResult] = ok) -> float:
                return float(statistics.median(r.stats[key] for r in rs))
            row.update({"table": ok[0].stats["table"], "loads_per_s": med("loads_per_s"),
                        "rows_per_load": med("rows_per_load"), "rows_s": med("rows") / ok[0].window_s,
                        "cpu_us_row": statistics.median(r.cpu_us_row for r in ok),
                        "peak_rss_mib": statistics.median(r.rss_kb for r in ok) / 1024})
        table.append(row)
    return table


def print_table(table: list[dict[str, Any]]) -> None:
    head = (f"{'consumer':50s} {'runs':>5s} {'table':>13s} {'loads/s':>8s} {'rows/load':>10s} "
            f"{'rows/s':>8s} {'CPU µs/row':>11s} {'peak RSS MiB':>13s}")
    print(head)
    print("-" * len(head))
    for t in table:
        if not t["ok"]:
            print(f"{t['consumer']:50s} {t['runs']:>5d}   all runs failed")
            continue
        runs = f"{t['ok']}" if t["ok"] == t["runs"] else f"{t['ok']}/{t['runs']}"
        print(f"{t['consumer']:50s} {runs:>5s} {t['table']:>13s} {t['loads_per_s']:>8.2f} "
              f"{t['rows_per_load']:>10,.0f} {t['rows_s']:>8,.0f} {t['cpu_us_row']:>11.2f} "
              f"{t['peak_rss_mib']:>13.0f}")
