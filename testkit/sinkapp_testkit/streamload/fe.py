"""FE handlers: ``PUT /api/{db}/{table}/_stream_load`` (307 to a BE) and ``get_load_state`` (docs/streamload-protocol.md §1.3, §4, §7.1).

The FE never reads the request body and never sends ``100 Continue``: it answers the headers with a
final reply, so an RFC 7231 client does not send the body to the FE (§1.3). Every stream-load
reply carries ``Connection: close``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web
from aiohttp.http import HttpVersion11

from .be import reply
from .cluster import Cluster, parse_basic_auth, pretty

DDL_EXC = "class com.starrocks.common.DdlException: "


def rest_result(status: str, code: str, msg: str, message: str | None = None, **first: str) -> str:
    """FE ``RestBaseResult``: lower-case keys (§3.4); ``first`` keys (e.g. ``state``) come first."""
    return json.dumps({**first, "status": status, "code": code, "msg": msg,
                       "message": msg if message is None else message})


def check_auth(cluster: Cluster, request: web.Request) -> web.Response | None:
    """§7.1: missing/garbled → 401 ``Need auth information.``; wrong → 401 ``Access denied for u@ip``."""
    auth = parse_basic_auth(request.headers.get("Authorization"))
    if auth is None:
        msg = "Need auth information."
    elif auth != (cluster.user, cluster.password):
        msg = f"Access denied for {auth[0]}@{request.remote or '127.0.0.1'}"
    else:
        return None
    resp = web.Response(status=401, text=rest_result("FAILED", "1", msg), content_type="text/html",
                        headers={"WWW-Authenticate": 'Basic realm=""'})
    resp.force_close()
    return resp


def transaction_result(status: str, message: str) -> web.Response:
    """FE ``TransactionResult`` (§3.4), always with ``Connection: close`` on stream load (§1.3 step 2)."""
    return reply(pretty({"Status": status, "Message": message}), close=True, content_type="text/html")


class FeStreamLoad:
    def __init__(self, cluster: Cluster, index: int, pick_be: Callable[[], int | None],
                 be_url: Callable[[int], str]) -> None:
        self.cluster, self.index, self.pick_be, self.be_url = cluster, index, pick_be, be_url

    async def stream_load(self, request: web.Request) -> web.Response:
        db, table = request.match_info["db"], request.match_info["table"]
        fault = self.cluster.faults.take(("http_error",), db, table, request.headers.get("label"))
        if fault is not None:
            return reply(fault.params["body"], close=True, status=fault.params["http_status"])
        denied = check_auth(self.cluster, request)
        if denied is not None:
            return denied
        if request.version >= HttpVersion11 and \
                request.headers.get("Expect", "").lower() != "100-continue":
            return transaction_result("FAILED", DDL_EXC + "There is no 100-continue header")
        be = self.pick_be()
        if be is None:
            return transaction_result("FAILED", DDL_EXC + "No backend alive.")
        resp = web.Response(status=307, headers={"Location": self.be_url(be) + request.path_qs})
        resp.force_close()
        return resp

    async def get_load_state(self, request: web.Request) -> web.Response:
        denied = check_auth(self.cluster, request)
        if denied is not None:
            return denied
        db, label = request.match_info["db"], request.query.get("label", "")
        c = self.cluster
        with c.lock:
            known_db = db in c.catalog.dbs
            state = c.labels.state(db, label) if label else ""
        if not known_db:
            text = rest_result("FAILED", "1", f"unknown database, database={db}")
        elif not label:
            text = rest_result("FAILED", "1", "No label selected.")
        else:
            text = rest_result("OK", "0", "Success", "OK", state=state)
        return web.Response(text=text, content_type="text/html")
