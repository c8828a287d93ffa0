"""The worker's web pages: health, a Kafka Connect shaped status, Prometheus metrics.

Who calls: :func:`sinkapp.app.create_app` (``add_pages``); served by Faust's web server, bound to
``sinkapp.web.bind`` (127.0.0.1 by default: it has no authentication) on ``sinkapp.web.port``.

- ``GET /health/live``: 200 while the worker process serves requests.
- ``GET /health/ready``: 200 once the worker holds its first partition assignment and no route is
  stopped or stalled (a dependency failing for over ``sinkapp.stall.timeout.ms``, default 60 s);
  else 503 with the reasons.
- ``GET /status``: shaped like Kafka Connect's ``GET /connectors/{name}/status``: ``name``,
  ``connector`` {state, worker_id}, ``tasks`` (one per route: id = route name, state RUNNING /
  DEGRADED / FAILED, worker_id, trace = the error), ``type: sink``, plus sinkapp's own fields
  (partitions assigned, counters). Never record contents: a stop reason's first line, redacted.
- ``GET /metrics``: Prometheus text (:mod:`sinkapp.metrics`).
- ``GET /sinkapp/status/``: the per-route counters (kept from 0.1).
"""

from __future__ import annotations

import socket
import time
from typing import Any

from sinkapp import metrics, redact

STALL_AFTER_S = 60.0


def public_reason(reason: str | None) -> str | None:
    """A stop reason as pages show it: its first line (no ErrorURL row data), redacted."""
    if not reason:
        return None
    return redact.redact(reason.split("\n", 1)[0].split("; ErrorURL", 1)[0])


def route_state(sink: Any, now: float | None = None, stall_after_s: float = STALL_AFTER_S) -> tuple[str, str | None]:
    """(RUNNING | DEGRADED | FAILED, why) of one route."""
    now = time.time() if now is None else now
    if sink.stats.failed or sink.halting:
        return "FAILED", public_reason(sink.stats.failed or sink.halting)
    for trouble in (sink.trouble, getattr(sink.converter, "trouble", None)):
        if trouble is not None and now - trouble[0] >= stall_after_s:
            return "DEGRADED", redact.redact(f"for {now - trouble[0]:.0f}s: {trouble[1]}")[:500]
    return "RUNNING", None


def readiness(app: Any) -> tuple[bool, list[str]]:
    reasons = []
    consumer = getattr(app, "_consumer", None)
    if consumer is None or not getattr(consumer, "assigned_once", False):
        reasons.append("no partition assignment yet")
    for s in app.sinks:
        state, why = route_state(s, stall_after_s=app.stall_after_s)
        if state != "RUNNING":
            reasons.append(f"route {s.route.name} {state}: {why}")
    return not reasons, reasons


def counters(app: Any) -> list[dict[str, Any]]:
    routes = []
    for s in app.sinks:
        st = s.stats
        routes.append({"route": s.route.name, "records_in": st.records_in, "rows_loaded": st.rows_loaded,
                       "rows_filtered": st.rows_filtered, "loads": st.loads, "retries": st.load_retries,
                       "tombstones": st.tombstones, "bytes_loaded": st.bytes_loaded,
                       "loads_confirmed_by_label": st.label_confirmed,
                       "buffered_rows": s.buffered_rows, "last_label": st.last_load_label,
                       "dead_lettered": dict(st.dead_lettered), "skipped_bad": dict(st.skipped_bad),
                       "stopped": public_reason(st.failed or s.halting)})
    return routes


def status(app: Any) -> dict[str, Any]:
    """The 0.1 status document (``/sinkapp/status/``)."""
    return {"ok": not any(s.stats.failed or s.halting for s in app.sinks), "rebalancing": bool(app.rebalancing),
            "routes": counters(app)}


def connect_status(app: Any) -> dict[str, Any]:
    worker_id = f"{socket.gethostname()}:{app.conf.web_port}"
    tasks = []
    for s in app.sinks:
        state, why = route_state(s, stall_after_s=app.stall_after_s)
        task: dict[str, Any] = {"id": s.route.name, "state": state, "worker_id": worker_id}
        if why:
            task["trace"] = why
        tasks.append(task)
    states = {t["state"] for t in tasks}
    consumer = getattr(app, "_consumer", None)
    assigned = sorted(f"{tp.topic}[{tp.partition}]" for tp in consumer.assignment()) if consumer else []
    return {"name": app.sinkapp_name, "type": "sink",
            "connector": {"state": "FAILED" if states == {"FAILED"} else "RUNNING", "worker_id": worker_id},
            "tasks": tasks, "partitions_assigned": assigned, "routes": counters(app)}


def lag(app: Any) -> list[tuple[str, int, int]]:
    """(topic, partition, records not yet loaded) for the partitions assigned here."""
    consumer = getattr(app, "_consumer", None)
    if consumer is None:
        return []
    out = []
    for tp in sorted(consumer.assignment()):
        try:
            end = consumer.highwater(tp)
        except Exception:
            continue
        if end is None:
            continue
        loaded = consumer.loaded.get(tp)
        committed = consumer._committed_offset.get(tp)
        done = loaded + 1 if loaded is not None else (committed or 0)
        out.append((tp.topic, tp.partition, max(0, end - done)))
    return out


def add_pages(app: Any) -> None:
    registry = metrics.make_registry(lambda: app.sinks, lambda: lag(app))

    @app.page("/sinkapp/status/")
    async def status_page(web: Any, request: Any) -> Any:
        doc = status(app)
        return web.json(doc, status=200 if doc["ok"] else 503)

    @app.page("/status")
    async def connect_status_page(web: Any, request: Any) -> Any:
        return web.json(connect_status(app))

    @app.page("/health/live")
    async def live(web: Any, request: Any) -> Any:
        return web.json({"status": "UP"})

    @app.page("/health/ready")
    async def ready(web: Any, request: Any) -> Any:
        ok, reasons = readiness(app)
        return web.json({"status": "UP" if ok else "DOWN", "reasons": reasons}, status=200 if ok else 503)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(registry), content_type=metrics.CONTENT_TYPE)
