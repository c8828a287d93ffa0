"""The conformance table: one block per R file (a line per case), then totals, all cases and sink-relevant."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .runner import FAIL, PASS, UNSUPPORTED, Outcome

MARK = {PASS: "pass", FAIL: "FAIL", UNSUPPORTED: "unsupported"}
REASON_CHARS = 160


@dataclass
class Totals:
    cases: int = 0
    passed: int = 0
    failed: int = 0
    unsupported: int = 0

    def add(self, o: Outcome) -> None:
        self.cases += 1
        self.passed += o.status == PASS
        self.failed += o.status == FAIL
        self.unsupported += o.status == UNSUPPORTED

    @property
    def rate(self) -> float:
        return 100.0 * self.passed / self.cases if self.cases else 100.0

    def line(self, title: str) -> str:
        return (f"{title}: {self.passed}/{self.cases} pass ({self.rate:.0f}%), {self.failed} fail, "
                f"{self.unsupported} unsupported")


def totals(outcomes: Iterable[Outcome], *, sink_only: bool = False) -> Totals:
    t = Totals()
    for o in outcomes:
        if o.sink or not sink_only:
            t.add(o)
    return t


def render(outcomes: list[Outcome], *, seconds: float | None = None) -> str:
    lines: list[str] = []
    files: dict[str, list[Outcome]] = {}
    for o in outcomes:
        files.setdefault(o.file, []).append(o)
    width = max((len(o.case) for o in outcomes), default=10) + 2
    for name, group in files.items():
        t = totals(group)
        lines.append(f"{name}  ({t.passed}/{t.cases} pass)")
        for o in group:
            sink = "sink" if o.sink else "    "
            reason = o.reason if len(o.reason) <= REASON_CHARS else o.reason[:REASON_CHARS - 3] + "..."
            detail = f"  {reason}" if reason else ""
            lines.append(f"  {MARK[o.status]:<12}{sink}  {o.case:<{width}}{detail}")
        lines.append("")
    lines.append(totals(outcomes).line("all cases"))
    lines.append(totals(outcomes, sink_only=True).line("sink-relevant"))
    if seconds is not None:
        lines.append(f"replayed {len(outcomes)} cases of {len(files)} files in {seconds:.1f} s")
    return "\n".join(lines)


def markdown(outcomes: list[Outcome]) -> str:
    """Per-file counts as a Markdown table (README, the issue's note)."""
    files: dict[str, list[Outcome]] = {}
    for o in outcomes:
        files.setdefault(o.file, []).append(o)
    rows = ["| file | cases | pass | fail | unsupported | sink-relevant pass |", "|---|---|---|---|---|---|"]
    for name, group in files.items():
        t, s = totals(group), totals(group, sink_only=True)
        rows.append(f"| {name} | {t.cases} | {t.passed} | {t.failed} | {t.unsupported} | "
                    f"{f'{s.passed}/{s.cases}' if s.cases else '-'} |")
    t, s = totals(outcomes), totals(outcomes, sink_only=True)
    rows.append(f"| **total** | {t.cases} | {t.passed} | {t.failed} | {t.unsupported} | {s.passed}/{s.cases} |")
    return "\n".join(rows)
