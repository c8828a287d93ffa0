"""aiohttp front end of the Schema Registry emulator: :class:`RegistryEmulator` and :class:`RegistryThread`.

Tests start a ``RegistryEmulator`` (async) or a ``RegistryThread`` (sync code, other processes) and
point python-schema-registry-client or a Confluent serializer at ``.url``.  Every REST call is
answered from a :class:`~sinkapp_testkit.registry.store.SchemaStore`; errors use Confluent's
``{"error_code", "message"}`` body and ``application/vnd.schemaregistry.v1+json``.

Endpoints: ``GET /``, ``GET /schemas/types``, ``GET /schemas/ids/{id}[/schema|/versions]``,
``GET /subjects``, ``GET|POST /subjects/{s}/versions``, ``GET /subjects/{s}/versions/{v}[/schema]``,
``POST|DELETE /subjects/{s}``, ``DELETE /subjects/{s}/versions/{v}``, ``GET|PUT /config[/{s}]``,
``POST /compatibility/subjects/{s}/versions[/{v}]``.

Fault injection: ``await down()`` stops listening and drops open connections (clients get
"connection refused", like an outage); ``await down(refuse=False)`` keeps the port and answers
503; ``fail_next(n, status)`` makes the next *n* requests fail with *status*.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from .api import Api, error_reply
from .store import RegistryError, SchemaStore, StoredSchema

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RegistryEmulator:
    """A Confluent-compatible Schema Registry on 127.0.0.1 for tests (``port=0`` picks a free port).

    ``user_info="key:secret"`` enables HTTP Basic auth (401 ``{"error_code":401,...}`` otherwise).
    Use ``async with RegistryEmulator() as sr:`` or ``await start()`` / ``await stop()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        user_info: str | None = None,
        store: SchemaStore | None = None,
        ssl_context: Any = None,
    ) -> None:
        self.host = host
        self.ssl_context = ssl_context           # HTTPS (tests of the registry CA setting)
        self.port = port
        self.store = store or SchemaStore()
        self.request_log: list[tuple[str, str]] = []
        self._auth = "Basic " + base64.b64encode(user_info.encode()).decode() if user_info else None
        self._fault_lock = threading.Lock()
        self._fail_remaining = 0
        self._fail_status = 500
        self._unavailable = False
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (valid after ``start()``)."""
        return f"{'https' if self.ssl_context is not None else 'http'}://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(Api(self.store).routes())
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await self._listen()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._site = None

    async def __aenter__(self) -> RegistryEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _listen(self) -> None:
        assert self._runner is not None, "start() first"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._site = web.SockSite(self._runner, sock, ssl_context=self.ssl_context)
        await self._site.start()

    # -- test conveniences ---------------------------------------------------------------------
    def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        """Register directly in the store (test setup); same rules as ``POST /subjects/{s}/versions``."""
        return self.store.register(subject, schema_str, schema_type)

    @property
    def schemas(self) -> dict[int, StoredSchema]:
        """Snapshot of registered schemas by global id."""
        return self.store.schemas

    async def down(self, refuse: bool = True) -> None:
        """Simulate an outage: stop listening and drop connections, or (``refuse=False``) answer 503."""
        if not refuse:
            self._unavailable = True
            return
        if self._site is not None:
            await self._site.stop()
            self._site = None
        server = self._runner.server if self._runner else None
        for conn in server.connections if server else []:
            conn.force_close()

    async def up(self) -> None:
        """End an outage started by :meth:`down` (same port)."""
        self._unavailable = False
        if self._site is None and self._runner is not None:
            await self._listen()

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next *n* requests with *status* (Confluent-style body, e.g. 50001 for 500)."""
        with self._fault_lock:
            self._fail_remaining, self._fail_status = n, status

    # -- request pipeline ----------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.request_log.append((request.method, request.path_qs))
        with self._fault_lock:
            failing = self._fail_remaining > 0
            if failing:
                self._fail_remaining -= 1
            status = self._fail_status
        if failing:
            return error_reply(status, status * 100 + 1 if status >= 500 else status, "Injected failure")
        if self._unavailable:
            return error_reply(503, 50301, "Service Unavailable")
        if self._auth is not None and not self._authorized(request.headers.get("Authorization", "")):
            resp = error_reply(401, 401, "Unauthorized")
            resp.headers["WWW-Authenticate"] = 'Basic realm="SchemaRegistry"'
            return resp
        try:
            return await handler(request)
        except RegistryError as exc:
            return error_reply(exc.status, exc.error_code, exc.message)
        except web.HTTPException as exc:  # unknown route / method: keep the body JSON
            return error_reply(exc.status, exc.status, f"HTTP {exc.status} {exc.reason}")

    def _authorized(self, header: str) -> bool:
        assert self._auth is not None
        try:
            scheme, _, token = header.partition(" ")
            normalized = f"{scheme.capitalize()} {base64.b64encode(base64.b64decode(token)).decode()}"
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(normalized, self._auth)


class RegistryThread:
    """The same emulator on a background thread with its own event loop (sync tests, subprocesses).

    ``with RegistryThread() as sr: client = SchemaRegistryClient(sr.url)``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, user_info: str | None = None,
                 ssl_context: Any = None) -> None:
        self.emulator = RegistryEmulator(host, port, user_info=user_info, ssl_context=ssl_context)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.emulator.url

    @property
    def schemas(self) -> dict[int, StoredSchema]:
        return self.emulator.schemas

    def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        return self.emulator.register(subject, schema_str, schema_type)

    def fail_next(self, n: int, status: int = 500) -> None:
        self.emulator.fail_next(n, status)

    def down(self, refuse: bool = True) -> None:
        self._call(self.emulator.down(refuse))

    def up(self) -> None:
        self._call(self.emulator.up())

    def start(self) -> RegistryThread:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.emulator.start())
            except BaseException as exc:  # surfaced to the caller of start()
                failure.append(exc)
                return
            finally:
                started.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="schema-registry-emulator", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            loop.close()
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._call(self.emulator.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> RegistryThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None, "start() first"
        asyncio.run_coroutine_threadsafe(coro, self._loop).result()
