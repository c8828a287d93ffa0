"""The parent's web server: the pages of one worker, answered for every child at once.

Who calls: :func:`sinkapp.supervise.run_processes`, when the workers serve pages (no ``--without-web``);
bound to ``sinkapp.web.bind``:``sinkapp.web.port`` (``--web-bind`` / ``--web-port``; the children
serve on loopback ports of their own, which ``/status`` lists).

- ``GET /metrics``: every child's ``/metrics`` with a ``process`` label, plus ``sinkapp_process_up`` and
  ``sinkapp_process_restarts_total`` (:func:`.merge.merge_metrics`).
- ``GET /health/live``: 200 while the parent serves.
- ``GET /health/ready``: 200 when every child runs and its own ``/health/ready`` is 200; else 503 with
  the reasons, each naming its child.
- ``GET /status``: Kafka Connect's shape over all children, and ``processes`` (:func:`.merge.status`).
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import aiohttp
from aiohttp import web

from sinkapp import __version__
from sinkapp.supervise.merge import ChildView, merge_metrics, process_metrics, readiness, status
from sinkapp.supervise.parent import Supervisor

CONTENT_TYPE = "text/plain; version=0.0.4"
FETCH_TIMEOUT_S = 5.0


class Pages:
    def __init__(self, sup: Supervisor, bind: str, port: int, name: str) -> None:
        self.sup, self.bind, self.port, self.name = sup, bind, port, name
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/health/live", self.live)
        app.router.add_get("/health/ready", self.ready)
        app.router.add_get("/status", self.status_page)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.bind, self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _get(self, port: int | None, path: str) -> tuple[int, str] | None:
        if port is None or self._http is None:
            return None
        try:
            async with self._http.get(f"http://127.0.0.1:{port}{path}") as r:
                return r.status, await r.text()
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None

    async def _fill(self, v: ChildView, paths: tuple[str, ...]) -> None:
        for path in paths:
            got = await self._get(v.web_port, path)
            if got is None:
                continue
            code, body = got
            if path == "/metrics" and code == 200:
                v.metrics = body
            elif path == "/health/ready":
                v.ready = (code, _json(body))
            elif path == "/status" and code == 200:
                v.status = _json(body)

    async def views(self, *paths: str) -> list[ChildView]:
        views = self.sup.views()
        await asyncio.gather(*(self._fill(v, paths) for v in views if v.state == "running"))
        return views

    async def metrics(self, request: web.Request) -> web.Response:
        views = await self.views("/metrics")
        text = merge_metrics([(v.name, v.metrics) for v in views if v.metrics is not None])
        return web.Response(body=(text + process_metrics(views)).encode(),
                            headers={"Content-Type": CONTENT_TYPE})

    async def live(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "UP"})

    async def ready(self, request: web.Request) -> web.Response:
        ok, reasons = readiness(await self.views("/health/ready"), self.sup.gave_up)
        return web.json_response({"status": "UP" if ok else "DOWN", "reasons": reasons}, status=200 if ok else 503)

    async def status_page(self, request: web.Request) -> web.Response:
        views = await self.views("/status", "/health/ready")
        doc = status(views, self.name, f"{socket.gethostname()}:{self.port}", __version__, self.sup.gave_up)
        return web.json_response(doc)


def _json(body: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
