"""Admin HTTP API under ``/_emulator/`` so another process can query and drive the emulator.

Served on the admin port (``emu.admin_url``, stays up when FEs go down) and on every FE port.

    GET    /_emulator/info                       {"fe_urls": [...], "be_urls": [...], "admin_url": ...,
                                                 "mysql_port": n | null, "jdbc_url": "jdbc:mysql://..." | null}
    GET    /_emulator/statements                 [ {"time", "sql", "user", "database", "connection_id",
                                                 "error"}, ... ] every statement of the MySQL front, in order
    GET    /_emulator/rows?db=&table=            [ {col: value, ...}, ... ]  (DDL column order)
    GET    /_emulator/count?db=&table=           {"count": n}
    GET    /_emulator/timeline?db=&table=[&since=]  [[time.time(), count], ...] one point per committed load
    GET    /_emulator/loads[?db=&table=]         [ LoadRecord as dict, ... ]
    GET    /_emulator/label_state?db=&label=     {"state": "VISIBLE"}
    GET    /_emulator/faults                     armed faults
    POST   /_emulator/faults                     {"fault": "<Faults method>", ...keyword args} or a list
    DELETE /_emulator/faults                     clear armed faults
    POST   /_emulator/tables                     {"db": "...", "ddl": "CREATE TABLE ..."}
    POST   /_emulator/truncate?db=&table=        delete all rows of a table
    GET    /_emulator/versions?db=&table=        {"db", "table", "tablet_id", "count", "limit", "refused",
                                                 "compaction_per_s"}: versions now, loads refused (docs/streamload-protocol.md §8a)
    GET    /_emulator/versions                   {"max_versions": 1000, "compaction_per_s": 10.0, "style": "current"}
    POST   /_emulator/versions                   {"max_versions": n, "compaction_per_s": x, "style": s} (any
                                                 subset) → the settings; 400 for a bad value (:mod:`.versions`)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sinkapp.errors import SinkError

if TYPE_CHECKING:
    from .emulator import StreamLoadEmulator

FAULT_METHODS = frozenset({
    "fail_next", "fail_message_next", "shutting_down_next", "concurrency_limit_next", "txn_num_per_be_next",
    "commit_unknown_next",
    "txn_timeout_next", "reset_next", "hang_next", "publish_timeout_next", "label_running", "clear",
    "be_down", "be_up", "fe_down", "fe_up"})
VERSION_SETTINGS = frozenset({"max_versions", "compaction_per_s", "style"})


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, default=str), status=status, content_type="application/json")


def add_admin_routes(app: web.Application, emu: StreamLoadEmulator) -> None:
    """Every ``/_emulator/`` route of the module docstring on ``app``."""
    _add_read_routes(app, emu)
    _add_fault_routes(app, emu)
    _add_table_routes(app, emu)
    _add_versions_routes(app, emu)
    _add_statements_route(app, emu)


def _q(request: web.Request, key: str) -> str:
    value = request.query.get(key)
    if not value:
        raise web.HTTPBadRequest(text=f"missing query parameter {key}")
    return value


def _add_read_routes(app: web.Application, emu: StreamLoadEmulator) -> None:
    """``info``, ``rows``, ``count``, ``timeline``, ``loads``, ``label_state``."""

    async def info(request: web.Request) -> web.Response:
        return _json({"fe_urls": emu.fe_urls, "be_urls": emu.be_urls, "admin_url": emu.admin_url,
                      "mysql_port": emu.mysql_port, "jdbc_url": emu.jdbc_url})

    async def rows(request: web.Request) -> web.Response:
        try:
            return _json(emu.rows(_q(request, "db"), _q(request, "table")))
        except SinkError as exc:
            return _json({"error": str(exc)}, 404)

    async def count(request: web.Request) -> web.Response:
        try:
            return _json({"count": emu.count(_q(request, "db"), _q(request, "table"))})
        except SinkError as exc:
            return _json({"error": str(exc)}, 404)

    async def timeline(request: web.Request) -> web.Response:
        try:
            since = float(request.query.get("since") or 0)
        except ValueError:
            return _json({"error": "since must be a number (seconds since the epoch)"}, 400)
        try:
            return _json([list(pt) for pt in emu.timeline(_q(request, "db"), _q(request, "table"), since)])
        except SinkError as exc:
            return _json({"error": str(exc)}, 404)

    async def loads(request: web.Request) -> web.Response:
        recs = emu.loads(request.query.get("db"), request.query.get("table"))
        return _json([r.to_dict() for r in recs])

    async def label_state(request: web.Request) -> web.Response:
        return _json({"state": emu.label_state(_q(request, "db"), _q(request, "label"))})

    r = app.router
    r.add_get("/_emulator/info", info)
    r.add_get("/_emulator/rows", rows)
    r.add_get("/_emulator/count", count)
    r.add_get("/_emulator/timeline", timeline)
    r.add_get("/_emulator/loads", loads)
    r.add_get("/_emulator/label_state", label_state)


def _add_fault_routes(app: web.Application, emu: StreamLoadEmulator) -> None:
    """``GET``/``POST``/``DELETE /_emulator/faults``: armed faults, arm some, clear them."""

    async def faults_get(request: web.Request) -> web.Response:
        return _json(emu.faults.pending())

    async def faults_post(request: web.Request) -> web.Response:
        payload = await request.json()
        items = payload if isinstance(payload, list) else [payload]
        for item in items:
            kwargs = dict(item)
            name = kwargs.pop("fault", None)
            if name not in FAULT_METHODS:
                return _json({"error": f"unknown fault {name!r}", "known": sorted(FAULT_METHODS)}, 400)
            try:
                getattr(emu.faults, name)(**kwargs)
            except (TypeError, ValueError, SinkError) as exc:
                return _json({"error": str(exc)}, 400)
        return _json(emu.faults.pending())

    async def faults_delete(request: web.Request) -> web.Response:
        emu.faults.clear()
        return _json([])

    app.router.add_get("/_emulator/faults", faults_get)
    app.router.add_post("/_emulator/faults", faults_post)
    app.router.add_delete("/_emulator/faults", faults_delete)


def _add_table_routes(app: web.Application, emu: StreamLoadEmulator) -> None:
    """``POST /_emulator/tables`` (a CREATE TABLE) and ``POST /_emulator/truncate``."""

    async def tables(request: web.Request) -> web.Response:
        payload = await request.json()
        try:
            names = emu.add_table(payload["db"], payload["ddl"])
        except (KeyError, SinkError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"tables": names})

    async def truncate(request: web.Request) -> web.Response:
        try:
            emu.truncate(_q(request, "db"), _q(request, "table"))
        except SinkError as exc:
            return _json({"error": str(exc)}, 404)
        return _json({"ok": True})

    app.router.add_post("/_emulator/tables", tables)
    app.router.add_post("/_emulator/truncate", truncate)


def _add_statements_route(app: web.Application, emu: StreamLoadEmulator) -> None:
    """``GET /_emulator/statements``: the MySQL front's statement log, in order (MYSQL.md §2)."""

    async def statements(request: web.Request) -> web.Response:
        return _json([s.to_dict() for s in emu.statements()])

    app.router.add_get("/_emulator/statements", statements)


def _add_versions_routes(app: web.Application, emu: StreamLoadEmulator) -> None:
    """``GET``/``POST /_emulator/versions``: version counts and their settings (§8a, :mod:`.versions`)."""

    async def versions_get(request: web.Request) -> web.Response:
        if "db" not in request.query and "table" not in request.query:
            return _json(emu.set_versions())                    # no change: the settings
        db, table = request.query.get("db"), request.query.get("table")
        if not db or not table:
            return _json({"error": "give both db and table, or neither"}, 400)
        try:
            return _json(emu.versions(db, table))
        except SinkError as exc:
            return _json({"error": str(exc)}, 404)

    async def versions_post(request: web.Request) -> web.Response:
        try:
            payload = await request.json()
            if not isinstance(payload, dict) or not set(payload) <= VERSION_SETTINGS:
                raise ValueError(f"expected an object with keys among {sorted(VERSION_SETTINGS)}")
            return _json(emu.set_versions(**payload))
        except ValueError as exc:                               # json.JSONDecodeError included
            return _json({"error": str(exc)}, 400)

    app.router.add_get("/_emulator/versions", versions_get)
    app.router.add_post("/_emulator/versions", versions_post)
