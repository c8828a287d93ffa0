"""The worker's web pages: health, a Kafka Connect shaped status, Prometheus metrics.

Who calls: :func:`sinkapp.worker.app.create_app` (``add_pages``); served by Faust's web server, bound to
``sinkapp.web.bind`` (127.0.0.1 by default: it has no authentication) on ``sinkapp.web.port``.

- ``GET /health/live``: 200 while the worker process serves requests.
- ``GET /health/ready``: 200 once the worker holds its first partition assignment and no route is
  stopped (a REMOVED one, whose topic was deleted, is not) or stalled (a dependency failing for over ``sinkapp.stall.timeout.ms``, default 60 s);
  else 503 with the reasons.
- ``GET /status``: shaped like Kafka Connect's ``GET /connectors/{name}/status``: ``name``,
  ``connector`` {state, worker_id}, ``tasks`` (one per route: id = route name, state RUNNING /
  DEGRADED / FAILED, or REMOVED when ``topics.regex`` routed a topic since deleted; worker_id, trace = the error), ``type: sink``, plus sinkapp's own fields
  (``version``: sinkapp's, as ``sinkapp --version`` prints it; partitions assigned, counters). Never record contents: a stop reason's first line, redacted.
- ``GET /metrics``: Prometheus text (:mod:`sinkapp.observe.metrics`).
- ``GET /sinkapp/status/``: the per-route and per-table counters (kept from 0.1).

Every page reads the :class:`~sinkapp.pipeline.stats.Snapshot` the app takes on request
(``app.snapshot()``), never the sink's or the consumer's own state.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from sinkapp import __version__
from sinkapp.observe import metrics, redact
from sinkapp.pipeline.stats import RouteView, Snapshot

STALL_AFTER_S = 60.0


def public_reason(reason: str | None) -> str | None:
    """A stop reason as pages show it: its first line (no ErrorURL row data), redacted."""
    if not reason:
        return None
    return redact.redact(reason.split("\n", 1)[0].split("; ErrorURL", 1)[0])


def route_state(r: RouteView, now: float | None = None, stall_after_s: float = STALL_AFTER_S) -> tuple[str, str | None]:
    """(RUNNING | DEGRADED | FAILED | REMOVED, why) of one route (REMOVED: its topic was deleted)."""
    now = time.time() if now is None else now
    if r.state == "REMOVED":
        return "REMOVED", public_reason(r.reason)
    if r.state != "RUNNING":
        return "FAILED", public_reason(r.reason)
    if r.trouble is not None and now - r.trouble[0] >= stall_after_s:
        return "DEGRADED", redact.redact(f"for {now - r.trouble[0]:.0f}s: {r.trouble[1]}")[:500]
    return "RUNNING", None


def readiness(snap: Snapshot, stall_after_s: float) -> tuple[bool, list[str]]:
    reasons = []
    if not snap.assigned_once:
        reasons.append("no partition assignment yet")
    for r in snap.routes:
        state, why = route_state(r, stall_after_s=stall_after_s)
        if state not in ("RUNNING", "REMOVED"):
            reasons.append(f"route {r.name} {state}: {why}")
    return not reasons, reasons


def counters(snap: Snapshot) -> list[dict[str, Any]]:
    routes = []
    for r in snap.routes:
        st = r.stats
        routes.append({"route": r.name, "table": r.table, "records_in": st.records_in, "rows_loaded": st.rows_loaded,
                       "rows_filtered": st.rows_filtered, "loads": st.loads, "retries": st.load_retries,
                       "tombstones": st.tombstones, "bytes_loaded": st.bytes_loaded,
                       "loads_confirmed_by_label": st.label_confirmed,
                       "buffered_rows": sum(n for n, _ in r.buffered.values()), "last_label": st.last_load_label,
                       "dead_lettered": dict(st.dead_lettered), "skipped_bad": dict(st.skipped_bad),
                       "events_skipped": dict(st.events_skipped),
                       "stopped": public_reason(r.reason) if r.state != "RUNNING" else None})
    return routes


def tables(snap: Snapshot) -> list[dict[str, Any]]:
    return [{"table": t.table, "loads": t.stats.loads, "rows_loaded": t.stats.rows_loaded,
             "rows_per_load": round(t.stats.rows_loaded / max(1, t.stats.loads)), "last_rows": t.stats.last_rows,
             "buffered_rows": t.buffered_rows, "buffered_bytes": t.buffered_bytes, "loading": t.loading,
             "interval_s": t.interval_s, "backoffs": dict(t.stats.backoffs), "retries": t.stats.load_retries,
             "last_label": t.stats.last_load_label} for t in snap.tables]


def status(snap: Snapshot) -> dict[str, Any]:
    """The 0.1 status document (``/sinkapp/status/``)."""
    return {"ok": all(r.state in ("RUNNING", "REMOVED") for r in snap.routes), "rebalancing": snap.rebalancing,
            "routes": counters(snap), "tables": tables(snap)}


def connect_status(snap: Snapshot, name: str, web_port: int, stall_after_s: float) -> dict[str, Any]:
    worker_id = f"{socket.gethostname()}:{web_port}"
    tasks = []
    for r in snap.routes:
        state, why = route_state(r, stall_after_s=stall_after_s)
        task: dict[str, Any] = {"id": r.name, "state": state, "worker_id": worker_id}
        if why:
            task["trace"] = why
        tasks.append(task)
    states = {t["state"] for t in tasks}
    assigned = sorted(f"{p.topic}[{p.partition}]" for p in snap.partitions)
    return {"name": name, "type": "sink", "version": __version__,
            "connector": {"state": "FAILED" if states == {"FAILED"} else "RUNNING", "worker_id": worker_id},
            "tasks": tasks, "partitions_assigned": assigned, "routes": counters(snap), "tables": tables(snap)}


def add_pages(app: Any) -> None:
    registry = metrics.make_registry(app.snapshot)

    @app.page("/sinkapp/status/")
    async def status_page(web: Any, request: Any) -> Any:
        doc = status(app.snapshot())
        return web.json(doc, status=200 if doc["ok"] else 503)

    @app.page("/status")
    async def connect_status_page(web: Any, request: Any) -> Any:
        return web.json(connect_status(app.snapshot(), app.sinkapp_name, app.conf.web_port, app.stall_after_s))

    @app.page("/health/live")
    async def live(web: Any, request: Any) -> Any:
        return web.json({"status": "UP"})

    @app.page("/health/ready")
    async def ready(web: Any, request: Any) -> Any:
        ok, reasons = readiness(app.snapshot(), app.stall_after_s)
        return web.json({"status": "UP" if ok else "DOWN", "reasons": reasons}, status=200 if ok else 503)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(registry), content_type=metrics.CONTENT_TYPE)
