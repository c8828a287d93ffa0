"""The parent's pages, merged from what each child's own pages answered. Pure functions of text and
JSON (tests/test_supervise.py feeds them fakes).

Who calls: :mod:`sinkapp.supervise.pages`, per request, with one :class:`ChildView` per child.

Metrics: every sample of a child gets the label ``process="p<i>"`` (the child's index, kept across
its restarts); families keep one ``# HELP`` / ``# TYPE`` each. Summing the children into one sample
would break Prometheus' counters: a restarted child starts from zero, so the sum would drop and
``rate()`` would read the drop as a reset and count the whole remainder again. With the label each
child's counter resets on its own, which ``rate()`` handles, and the dashboards' queries, which
aggregate by route/table/topic (``sum by``, ``max by``, ``min by``), read the same as over one worker.
The parent adds ``sinkapp_process_up{process}`` and ``sinkapp_process_restarts_total{process}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PROCESS_LABEL = "process"
MAX_FIELDS = frozenset({"interval_s"})      # per-table fields that do not add up across processes


@dataclass
class ChildView:
    """One child as the parent sees it at a request: its supervision state and its pages' answers
    (``None`` where the page did not answer)."""
    name: str                          # p0, p1, ...
    pid: int | None
    state: str                         # starting | running | restarting | stopping | stopped | failed
    restarts: int
    last_exit: str | None = None
    web_port: int | None = None
    metrics: str | None = None
    ready: tuple[int, dict[str, Any]] | None = None     # (HTTP status, body) of /health/ready
    status: dict[str, Any] | None = None                # its /status
    extra: dict[str, Any] = field(default_factory=dict)


def _labelled(sample: str, name: str) -> str:
    """``metric{a="b"} 1`` → ``metric{process="p0",a="b"} 1`` (a sample without labels gets braces)."""
    head, sep, rest = sample.partition("{")
    if sep and " " not in head:
        return f'{head}{{{PROCESS_LABEL}="{name}",{rest}' if not rest.startswith("}") else \
            f'{head}{{{PROCESS_LABEL}="{name}"{rest}'
    metric, _, value = sample.partition(" ")
    return f'{metric}{{{PROCESS_LABEL}="{name}"}} {value}'


def merge_metrics(pages: Sequence[tuple[str, str]]) -> str:
    """Merge ``(child name, Prometheus text)`` pages into one page (see the module docstring)."""
    heads: dict[str, list[str]] = {}           # family → its HELP and TYPE lines (the first child's)
    samples: dict[str, list[str]] = {}
    for name, text in pages:
        current = None
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                current = line.split(" ", 3)[2]
                head = heads.setdefault(current, [])
                samples.setdefault(current, [])
                if not any(h.startswith(line[:7]) for h in head):
                    head.append(line)
            elif line.startswith("#"):
                continue
            else:
                fam = current if current is not None else line.split("{", 1)[0].split(" ", 1)[0]
                samples.setdefault(fam, []).append(_labelled(line, name))
    out: list[str] = []
    for fam, lines in samples.items():
        out += heads.get(fam, [])
        out += lines
    return "\n".join(out) + "\n" if out else ""


def process_metrics(children: Sequence[ChildView]) -> str:
    """The parent's own families: each child up (serving its pages) and restarted how often."""
    up = ["# HELP sinkapp_process_up 1 while the worker process runs and serves its pages",
          "# TYPE sinkapp_process_up gauge"]
    restarts = ["# HELP sinkapp_process_restarts_total times the parent restarted the worker process",
                "# TYPE sinkapp_process_restarts_total counter"]
    for c in children:
        up.append(f'sinkapp_process_up{{{PROCESS_LABEL}="{c.name}"}} {1 if c.metrics is not None else 0}')
        restarts.append(f'sinkapp_process_restarts_total{{{PROCESS_LABEL}="{c.name}"}} {c.restarts}')
    return "\n".join(up + restarts) + "\n"


def readiness(children: Sequence[ChildView], gave_up: str | None = None) -> tuple[bool, list[str]]:
    """Ready when every child runs and its own ``/health/ready`` answers 200; else the reasons,
    each naming its child."""
    reasons = [f"stopping: {gave_up}"] if gave_up else []
    for c in children:
        if c.state != "running":
            reasons.append(f"{c.name} {c.state}" + (f" ({c.last_exit})" if c.last_exit else ""))
        elif c.ready is None:
            reasons.append(f"{c.name} not serving its pages yet")
        elif c.ready[0] != 200:
            reasons += [f"{c.name}: {r}" for r in c.ready[1].get("reasons", [])] or [f"{c.name}: not ready"]
    return not reasons, reasons


def _sum_rows(docs: Sequence[list[dict[str, Any]]], key: str) -> list[dict[str, Any]]:
    """Per-route (``key``=route) or per-table counters of every child, numbers and count dicts summed."""
    merged: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for row in doc:
            into = merged.setdefault(row[key], {})
            for k, v in row.items():
                if isinstance(v, bool) or k == key:
                    into.setdefault(k, v)
                elif k in MAX_FIELDS:
                    into[k] = max(into.get(k) or 0, v or 0)
                elif isinstance(v, int | float) and isinstance(into.get(k, 0), int | float):
                    into[k] = into.get(k, 0) + v
                elif isinstance(v, dict):
                    d = into.setdefault(k, {})
                    for kk, n in v.items():
                        d[kk] = d.get(kk, 0) + n
                elif v is not None or k not in into:
                    into[k] = v
    for into in merged.values():
        if "rows_per_load" in into:
            into["rows_per_load"] = round(into.get("rows_loaded", 0) / max(1, into.get("loads", 0)))
    return list(merged.values())


def status(children: Sequence[ChildView], name: str, worker_id: str, version: str,
           gave_up: str | None = None) -> dict[str, Any]:
    """``/status`` of the parent: Kafka Connect's shape over every child's tasks (each with its
    ``process``), the partitions they hold, their counters summed, and ``processes``: each child's
    pid, state, restarts, last exit and its own ``/status``."""
    docs = [c.status for c in children if c.status is not None]
    tasks = [{**t, PROCESS_LABEL: c.name} for c in children if c.status for t in c.status.get("tasks", [])]
    states = {t["state"] for t in tasks}
    failed = gave_up is not None or any(c.state == "failed" for c in children) or (bool(states) and
                                                                                   states == {"FAILED"})
    return {"name": name, "type": "sink", "version": version,
            "connector": {"state": "FAILED" if failed else "RUNNING", "worker_id": worker_id},
            "tasks": tasks,
            "partitions_assigned": sorted({p for d in docs for p in d.get("partitions_assigned", [])}),
            "routes": _sum_rows([d.get("routes", []) for d in docs], "route"),
            "tables": _sum_rows([d.get("tables", []) for d in docs], "table"),
            "processes": [{PROCESS_LABEL: c.name, "pid": c.pid, "state": c.state, "restarts": c.restarts,
                           "last_exit": c.last_exit, "web_port": c.web_port,
                           "ready": c.ready is not None and c.ready[0] == 200, "status": c.status}
                          for c in children],
            **({"stopping": gave_up} if gave_up else {})}
