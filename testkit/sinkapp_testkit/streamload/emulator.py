"""Public entry point: :class:`StreamLoadEmulator` (asyncio); the sync wrapper is :mod:`.thread`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from .admin import add_admin_routes
from .cluster import Cluster, LoadRecord
from .errors import DdlError, EmulatorError
from .faults import Faults
from .labels import ABORTED, LABEL_KEEP_MAX_S, VISIBLE
from .schema import parse_ddl
from .server import Node, build_be_app, build_fe_app
from .sqlcatalog import SCHEMA_CHANGE_S, SqlCatalog, StatementRecord
from .versions import COMPACTION_PER_S, TABLET_MAX_VERSIONS, Versions

if TYPE_CHECKING:
    from .mysqlfront import MysqlFront

T = TypeVar("T")
DdlSource = str | Path


def _read_ddl(src: DdlSource) -> str:
    """DDL text, or a path to a file holding it (a str without parentheses is taken as a path)."""
    if isinstance(src, Path) or "(" not in src:
        try:
            return Path(src).read_text(encoding="utf-8")
        except OSError as exc:
            raise DdlError(f"cannot read DDL file {src}: {exc.strerror}") from None
    return src


def _ports(ports: int | Sequence[int], n: int) -> list[int]:
    if isinstance(ports, int):
        return [ports + i if ports else 0 for i in range(n)]
    if len(ports) != n:
        raise EmulatorError(f"{n} ports needed, got {list(ports)}")
    return list(ports)


class StreamLoadEmulator:
    """An emulated StarRocks cluster of ``n_fe`` FEs and ``n_be`` BEs on loopback (see package docs)."""

    def __init__(self, *, user: str = "root", password: str = "",
                 ddl: Mapping[str, DdlSource | Sequence[DdlSource]] | None = None,
                 databases: Iterable[str] = (), n_fe: int = 1, n_be: int = 1, host: str = "127.0.0.1",
                 fe_ports: int | Sequence[int] = 0, be_ports: int | Sequence[int] = 0, admin_port: int = 0,
                 advertise_host: str | None = None, store_rows: bool = True,
                 label_keep_max_s: float = LABEL_KEEP_MAX_S, streaming_load_max_mb: int = 102400,
                 json_max_mb: int = 100, empty_load_as_error: bool = True, count_only: bool = False,
                 ssl_context: Any = None, max_versions: int = TABLET_MAX_VERSIONS,
                 compaction_per_s: float = COMPACTION_PER_S, versions_style: str = "current",
                 mysql_port: int | None = None, schema_change_s: float = SCHEMA_CHANGE_S) -> None:
        if n_fe < 1 or n_be < 0:
            raise EmulatorError("an emulator needs at least one FE")
        try:
            versions = Versions(max_versions, compaction_per_s, versions_style)   # docs/streamload-protocol.md §8a
        except ValueError as exc:
            raise EmulatorError(str(exc)) from None
        if schema_change_s < 0:
            raise EmulatorError(f"schema_change_s must be >= 0, got {schema_change_s}")
        self.cluster = Cluster(user=user, password=password, store_rows=store_rows, count_only=count_only,
                               label_keep_max_s=label_keep_max_s,
                               max_body_bytes=streaming_load_max_mb * 1024 * 1024,
                               json_max_bytes=json_max_mb * 1024 * 1024,
                               empty_load_as_error=empty_load_as_error, versions=versions)
        self.cluster.faults._node_control = self._node_control
        self.sql = SqlCatalog(self.cluster, schema_change_s)    # MySQL front state (MYSQL.md)
        self._mysql_port = mysql_port
        self._mysql_front: MysqlFront | None = None
        for db in databases:
            self.cluster.catalog.add_database(db)
        for db, srcs in (ddl or {}).items():
            for src in ([srcs] if isinstance(srcs, str | Path) else srcs):
                self.add_table(db, src)
        advertise = advertise_host or ("127.0.0.1" if host in ("0.0.0.0", "", "::") else host)
        self._rr = itertools.count()
        self.bes = [Node(f"be{i}", build_be_app(self.cluster, i, self._be_url_getter(i)), host, port, advertise,
                         ssl_context) for i, port in enumerate(_ports(be_ports, n_be))]
        self.fes: list[Node] = []
        for i, port in enumerate(_ports(fe_ports, n_fe)):
            app, fe_txn = build_fe_app(self.cluster, i, self._pick_be, lambda b: self.bes[b].url)
            add_admin_routes(app, self)
            node = Node(f"fe{i}", app, host, port, advertise, ssl_context)
            node.on_down = fe_txn.routes.clear       # an FE restart loses label → BE routes (§5.1)
            self.fes.append(node)
        self.sql.backends = lambda: [(n.advertise_host, n.port, n.alive) for n in self.bes]
        admin_app = web.Application()
        add_admin_routes(admin_app, self)
        self.admin = Node("admin", admin_app, host, admin_port, advertise)
        self._host, self._advertise = host, advertise
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> StreamLoadEmulator:
        self._loop = asyncio.get_running_loop()
        if self._mysql_port is not None:
            await self._start_mysql(self._mysql_port)
        nodes = [*self.bes, *self.fes, self.admin]
        socks = []
        try:
            for node in nodes:
                socks.append(node.bind())
        except OSError as exc:
            for s in socks:
                s.close()
            await self._stop_mysql()
            raise EmulatorError(f"cannot listen on {nodes[len(socks)].host}:{nodes[len(socks)].port}: {exc}") from exc
        for node, sock in zip(nodes, socks, strict=True):
            await node.start(sock)
        self._started = True
        return self

    async def stop(self) -> None:
        for node in [*self.fes, *self.bes, self.admin]:
            await node.stop()
        await self._stop_mysql()
        self._started = False

    async def _start_mysql(self, port: int) -> None:
        from .mysqlfront import MysqlFront  # mysql-mimic only when the front is on
        front = MysqlFront(self.sql, user=self.cluster.user, password=self.cluster.password,
                           host=self._host, port=port)
        try:
            await front.start()
        except OSError as exc:
            raise EmulatorError(f"cannot listen on {self._host}:{port} (MySQL): {exc}") from exc
        self._mysql_front = front

    async def _stop_mysql(self) -> None:
        front, self._mysql_front = self._mysql_front, None
        if front is not None:
            await front.stop()

    async def __aenter__(self) -> StreamLoadEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def fe_url(self) -> str:
        return self.fes[0].url

    @property
    def fe_urls(self) -> list[str]:
        return [n.url for n in self.fes]

    @property
    def be_urls(self) -> list[str]:
        return [n.url for n in self.bes]

    @property
    def admin_url(self) -> str:
        return self.admin.url

    @property
    def mysql_port(self) -> int | None:
        """The MySQL front's port once started (``mysql_port=0`` picks one), None when off."""
        return self._mysql_front.port if self._mysql_front is not None else None

    @property
    def jdbc_url(self) -> str | None:
        port = self.mysql_port
        return None if port is None else f"jdbc:mysql://{self._advertise}:{port}"

    def statements(self) -> list[StatementRecord]:
        """Every statement the MySQL front received, in order (sql, user, database, error, ...)."""
        return self.sql.statements()

    def _be_url_getter(self, i: int) -> Callable[[], str]:
        return lambda: self.bes[i].url

    def _pick_be(self) -> int | None:
        """Round robin over alive BEs (§1.3 step 6)."""
        alive = [i for i, n in enumerate(self.bes) if n.alive]
        return alive[next(self._rr) % len(alive)] if alive else None

    def _node_control(self, role: str, i: int, up: bool) -> None:
        nodes = self.bes if role == "be" else self.fes
        if not 0 <= i < len(nodes):
            raise EmulatorError(f"no {role}{i}: the emulator has {len(nodes)} {role.upper()}(s)")
        node = nodes[i]
        self._call_in_loop(node.up if up else node.down)

    def _call_in_loop(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or not self._started:
            raise EmulatorError("the emulator is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn()
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                fut.set_exception(exc)
        loop.call_soon_threadsafe(run)
        return fut.result(timeout=10)

    # ------------------------------------------------------------------ tables and queries

    @property
    def faults(self) -> Faults:
        return self.cluster.faults

    def add_database(self, db: str) -> None:
        with self.cluster.lock:
            self.cluster.catalog.add_database(db)

    def add_table(self, db: str, ddl: DdlSource) -> list[str]:
        """Create the tables of ``ddl`` (text or file path) in ``db`` (a ``db.table`` name wins)."""
        text = _read_ddl(ddl)
        schemas = parse_ddl(text)
        if not schemas:
            raise DdlError(f"no CREATE TABLE statement in {ddl if isinstance(ddl, Path) else 'the DDL'}")
        with self.cluster.lock:
            for s in schemas:
                self.cluster.catalog.add_table(s.database or db, s)
                self.cluster.versions.reset(s.database or db, s.name)    # new tablets (§8a)
        self.sql.learn_ddl(db, text)      # PROPERTIES etc. for SHOW CREATE TABLE / ALTER
        return [s.name for s in schemas]

    def rows(self, db: str, table: str) -> list[dict[str, Any]]:
        with self.cluster.lock:
            return self.cluster.catalog.table(db, table).rows()

    def count(self, db: str, table: str) -> int:
        with self.cluster.lock:
            return self.cluster.catalog.table(db, table).count()

    def truncate(self, db: str, table: str) -> None:
        """Delete all rows of a table, its timeline and its versions (TRUNCATE makes new tablets, §8a)."""
        with self.cluster.lock:
            self.cluster.catalog.table(db, table).truncate()
            self.cluster.timelines.pop((db, table), None)
            self.cluster.versions.reset(db, table)

    def timeline(self, db: str, table: str, since: float = 0.0) -> list[tuple[float, int]]:
        """``(time.time(), table count)`` after every committed load since ``since`` (wall clock, so
        another process can compare it with its own timestamps); reset by :meth:`truncate`."""
        with self.cluster.lock:
            self.cluster.catalog.table(db, table)       # unknown table -> EmulatorError
            return [pt for pt in self.cluster.timelines.get((db, table), ()) if pt[0] >= since]

    def loads(self, db: str | None = None, table: str | None = None) -> list[LoadRecord]:
        with self.cluster.lock:
            return [r for r in self.cluster.records
                    if (db is None or r.db == db) and (table is None or r.table == table)]

    def open_labels(self, db: str, table: str) -> list[str]:
        """Labels of the table's transactions not yet VISIBLE or ABORTED: loads StarRocks still
        holds (a hang fault, a PREPARED or a COMMITTED-not-yet-visible one)."""
        with self.cluster.lock:
            return [t.label for t in self.cluster.labels.all() if t.db == db and t.table == table
                    and self.cluster.labels.refresh(t).state not in (VISIBLE, ABORTED)]

    def label_state(self, db: str, label: str) -> str:
        with self.cluster.lock:
            return self.cluster.labels.state(db, label)

    def versions(self, db: str, table: str) -> dict[str, Any]:
        """Version ``count`` now, ``limit``, loads ``refused`` so far, ``tablet_id`` ... (§8a, :mod:`.versions`)."""
        with self.cluster.lock:
            self.cluster.catalog.table(db, table)       # unknown table -> EmulatorError
            return self.cluster.versions.report(db, table)

    def set_versions(self, *, max_versions: int | None = None, compaction_per_s: float | None = None,
                     style: str | None = None) -> dict[str, Any]:
        """Change the limit, compaction rate or message style now (§8a); ValueError if bad; returns all."""
        with self.cluster.lock:
            return self.cluster.versions.configure(max_versions=max_versions, compaction_per_s=compaction_per_s,
                                                   style=style)
