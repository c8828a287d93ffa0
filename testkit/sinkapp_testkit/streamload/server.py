"""aiohttp apps of the FE and BE nodes and the :class:`Node` that serves one on its own port.

A node listens on a socket it binds itself, so that ``down()`` (the port then refuses connections)
and ``up()`` (listening again on the same port) take effect synchronously on the loop thread.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

from aiohttp import web

from .be import BeStreamLoad, error_log, no_expect
from .cluster import Cluster
from .fe import FeStreamLoad
from .txn import BeTxn, FeTxn

STREAM_LOAD = "/api/{db}/{table}/_stream_load"
TXN = "/api/transaction/{op}"


def build_fe_app(cluster: Cluster, index: int, pick_be: Callable[[], int | None],
                 be_url: Callable[[int], str]) -> tuple[web.Application, FeTxn]:
    fe = FeStreamLoad(cluster, index, pick_be, be_url)
    txn = FeTxn(cluster, pick_be, be_url)

    async def txn_handler(request: web.Request) -> web.Response:
        from .fe import check_auth
        return check_auth(cluster, request) or txn.handle(request)

    app = web.Application()
    app.router.add_route("PUT", STREAM_LOAD, fe.stream_load, expect_handler=no_expect)
    app.router.add_get("/api/{db}/get_load_state", fe.get_load_state)
    for method in ("POST", "PUT"):
        app.router.add_route(method, TXN, txn_handler, expect_handler=no_expect)
    return app, txn


def build_be_app(cluster: Cluster, index: int, base_url: Callable[[], str]) -> web.Application:
    app = web.Application()
    sl = BeStreamLoad(cluster, index, "")
    txn = BeTxn(cluster, index, "")

    async def on_startup(_app: web.Application) -> None:
        sl.base_url = txn.base_url = base_url()

    async def log_handler(request: web.Request) -> web.Response:
        return await error_log(cluster, request)

    app.on_startup.append(on_startup)
    app.router.add_route("PUT", STREAM_LOAD, sl.handle, expect_handler=no_expect)
    for method in ("POST", "PUT"):
        app.router.add_route(method, TXN, txn.handle, expect_handler=no_expect)
    app.router.add_get("/api/_load_error_log", log_handler)   # GET also answers HEAD
    return app


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class Node:
    """One FE, BE or admin endpoint: an AppRunner plus a listening socket it controls."""

    def __init__(self, name: str, app: web.Application, host: str, port: int, advertise_host: str,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.name, self.app, self.host, self.port = name, app, host, port
        self.ssl_context = ssl_context            # HTTPS (tests of a StarRocks CA-file setting)
        self.advertise_host = advertise_host
        self.alive = False
        self.on_down: Callable[[], None] | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._starting: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.advertise_host}:{self.port}"

    def bind(self) -> socket.socket:
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        return sock

    async def start(self, sock: socket.socket) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0,
                                      lingering_time=0)  # unread bodies: close at once (docs/streamload-protocol.md §1.3)
        await self._runner.setup()
        await self._serve(sock)

    async def _serve(self, sock: socket.socket) -> None:
        assert self._runner is not None and self._runner.server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._runner.server, sock=sock, ssl=self.ssl_context)
        self.alive = True

    def down(self) -> None:
        """Stop listening and drop open connections now (loop thread only)."""
        self.alive = False
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None and self._runner.server is not None:
            for conn in self._runner.server.connections:
                if conn.transport is not None:
                    conn.transport.abort()
        if self.on_down is not None:
            self.on_down()

    def up(self) -> None:
        """Listen again on the same port; connections queue in the backlog until served (loop thread)."""
        if self.alive:
            return
        sock = _bind(self.host, self.port)
        self.alive = True
        self._starting = asyncio.get_running_loop().create_task(self._serve(sock))

    async def stop(self) -> None:
        if self._starting is not None:
            await self._starting
        if self._server is not None:
            self._server.close()
            self._server = None
        self.alive = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
