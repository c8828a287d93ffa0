"""Bulk-run figures (one :class:`Result` per consumer run), their medians and the table printed."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

RAW = "aiokafka raw (json topic)"
MIN_STEADY_S = 1.0


@dataclass
class Result:
    consumer: str
    round: int                    # 1..rounds; 0 = the extra two-worker run
    n: int
    e2e_s: float = 0.0
    steady_rows_s: float | None = None
    cpu_s: float = 0.0
    rss_kb: int = 0
    emu_cpu_s: float | None = None
    ok: bool = True
    error: str = ""
    timing: str = ""              # what the end-to-end time is measured from/to
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_s(self) -> float:
        return self.n / self.e2e_s if self.e2e_s > 0 else 0.0

    @property
    def cpu_us_row(self) -> float:
        return self.cpu_s / self.n * 1e6

    def line(self, raw_rows_s: float | None) -> str:
        if not self.ok:
            return f"round {self.round} {self.consumer:34s} N={self.n:,}  FAILED: {self.error}"
        steady = f"{self.steady_rows_s:>10,.0f}" if self.steady_rows_s else f"{'-':>10s}"
        emu = f"  emulator {self.emu_cpu_s / self.n * 1e6:.2f} µs/row" if self.emu_cpu_s is not None else ""
        ratio = f"  ratio {self.rows_s / raw_rows_s:.3f}" if raw_rows_s else ""
        loads = f"  loads {self.extra['loads']}" if "loads" in self.extra else ""
        return (f"round {self.round} {self.consumer:34s} N={self.n:,}  {self.e2e_s:7.2f} s  "
                f"{self.rows_s:>10,.0f} rows/s  steady {steady} rows/s  CPU {self.cpu_us_row:7.2f} µs/row  "
                f"RSS {self.rss_kb / 1024:6.0f} MiB{loads}{emu}{ratio}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_s": self.rows_s, "cpu_us_row": self.cpu_us_row}


def steady_rate(points: list[list[float]], n: int) -> float | None:
    """Rows/s between the first points at or above 10 % and 90 % of n (``[[time, count], ...]``);
    ``None`` when they are less than a second apart (N too small to tell, e.g. ``--quick``)."""
    p10 = next((p for p in points if p[1] >= 0.1 * n), None)
    p90 = next((p for p in points if p[1] >= 0.9 * n), None)
    if p10 is None or p90 is None or p90[0] - p10[0] < MIN_STEADY_S:
        return None
    return (p90[1] - p10[1]) / (p90[0] - p10[0])


def medians(results: list[Result]) -> list[dict[str, Any]]:
    order: list[str] = []
    for r in results:
        if r.consumer not in order:
            order.append(r.consumer)
    raw_ok = [r.rows_s for r in results if r.consumer == RAW and r.ok]
    raw = statistics.median(raw_ok) if raw_ok else None
    table = []
    for name in order:
        ok = [r for r in results if r.consumer == name and r.ok]
        runs = sum(1 for r in results if r.consumer == name)
        if not ok:
            table.append({"consumer": name, "runs": runs, "ok": 0})
            continue
        steady = [r.steady_rows_s for r in ok if r.steady_rows_s]
        rows_s = statistics.median(r.rows_s for r in ok)
        loads = [r.extra["loads"] for r in ok if "loads" in r.extra]
        table.append({"consumer": name, "runs": runs, "ok": len(ok), "n": ok[0].n, "rows_s": rows_s,
                      "steady_rows_s": statistics.median(steady) if steady else None,
                      "cpu_us_row": statistics.median(r.cpu_us_row for r in ok),
                      "peak_rss_mib": statistics.median(r.rss_kb for r in ok) / 1024,
                      "loads": statistics.median(loads) if loads else None,
                      "ratio_to_raw": rows_s / raw if raw else None})
    return table


def print_table(table: list[dict[str, Any]]) -> None:
    head = (f"{'consumer':34s} {'runs':>5s} {'rows/s end-to-end':>18s} {'steady rows/s':>14s} "
            f"{'CPU µs/row':>11s} {'peak RSS MiB':>13s} {'loads':>6s} {'ratio to raw ceiling':>21s}")
    print(head)
    print("-" * len(head))
    for t in table:
        if not t["ok"]:
            print(f"{t['consumer']:34s} {t['runs']:>5d}   all runs failed")
            continue
        steady = f"{t['steady_rows_s']:,.0f}" if t["steady_rows_s"] else "-"
        ratio = f"{t['ratio_to_raw']:.3f}" if t["ratio_to_raw"] else "-"
        loads = f"{t['loads']:g}" if t["loads"] is not None else "-"
        runs = f"{t['ok']}" if t["ok"] == t["runs"] else f"{t['ok']}/{t['runs']}"
        print(f"{t['consumer']:34s} {runs:>5s} {t['rows_s']:>18,.0f} {steady:>14s} {t['cpu_us_row']:>11.2f} "
              f"{t['peak_rss_mib']:>13.0f} {loads:>6s} {ratio:>21s}")


def write_json(path: Any, args: Any, **doc: Any) -> None:
    """Every figure of a run as JSON (``--json-out``), with the options it ran with."""
    import json
    from pathlib import Path

    path.write_text(json.dumps({"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                                **doc}, indent=2))
    print(f"raw results written to {path}")


def failures(results: list[Any]) -> int:
    """Say which runs failed; the exit status (1 when any did)."""
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"\n{len(failed)} run(s) failed: " + "; ".join(f"{r.consumer} round {r.round}: {r.error}"
                                                            for r in failed))
    return 1 if failed else 0
