"""The DDL connection: statements and catalog reads on the FE's MySQL port (``starrocks.jdbc.url``).

Who calls: :mod:`sinkapp.tableshape.shaper` (create, read columns, add and widen columns, await
schema change jobs) and ``sinkapp check --connect``. aiomysql is the driver (asyncio, so DDL never blocks
the worker's event loop; maintained by aio-libs, pure Python over PyMySQL). One connection, opened
on first use and opened again after an error; the FEs of the URL are tried in order. Logs and errors
never carry the password (it is a registered secret, :mod:`sinkapp.observe.redact`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from sinkapp.config.types import Secret
from sinkapp.errors import DdlError, DdlUnreachable, SchemaChangeRunning

log = logging.getLogger(__name__)

#: MySQL error numbers StarRocks' FE answers with (ErrorCode.java)
ACCESS_DENIED, TABLE_EXISTS, DUP_COLUMN, UNKNOWN_DB = 1045, 1050, 1060, 1049
SCHEMA_CHANGE_RUNNING = ("schema change operation is in progress", "state is not normal")


class TableColumn(NamedTuple):
    name: str
    type: str            # COLUMN_TYPE, e.g. bigint(20), varchar(65533), decimal(10,2)
    nullable: bool
    key: bool
    default: str | None = None     # COLUMN_DEFAULT (a MODIFY COLUMN must repeat it)
    comment: str = ""              # COLUMN_COMMENT (likewise)


class AlterJob(NamedTuple):
    job_id: str
    state: str           # PENDING WAITING_TXN RUNNING FINISHED CANCELLED
    msg: str


class DdlClient:
    def __init__(self, hosts: Sequence[tuple[str, int]], user: str, password: Secret | None,
                 connect_timeout_s: float = 5.0) -> None:
        self.hosts, self.user, self._password = tuple(hosts), user, password
        self.connect_timeout_s = connect_timeout_s
        self._conn: Any = None
        self._lock = asyncio.Lock()                   # one statement at a time on the connection

    @property
    def where(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.hosts)

    async def _connect(self) -> Any:
        import aiomysql
        import pymysql

        errors = []
        for host, port in self.hosts:
            try:
                return await aiomysql.connect(host=host, port=port, user=self.user,
                                              password=self._password.get() if self._password else "",
                                              connect_timeout=self.connect_timeout_s, autocommit=True)
            except pymysql.err.OperationalError as exc:
                code = exc.args[0] if exc.args else None
                if code == ACCESS_DENIED:
                    raise DdlError(f"the FE at {host}:{port} (starrocks.jdbc.url) refused starrocks.username="
                                   f"{self.user!r} / starrocks.password: {exc.args[-1]}", code=code) from None
                errors.append(f"{host}:{port}: {exc.args[-1] if exc.args else exc}")
            except OSError as exc:
                errors.append(f"{host}:{port}: {exc}")
        raise DdlUnreachable(f"no FE of starrocks.jdbc.url answered on its MySQL port ({'; '.join(errors)})")

    async def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for DDL). Raises DdlError with the MySQL error number."""
        import pymysql

        async with self._lock:
            if self._conn is None:
                self._conn = await self._connect()
            try:
                async with self._conn.cursor() as cur:
                    await cur.execute(sql, args)
                    return list(await cur.fetchall() or ())
            except pymysql.err.MySQLError as exc:
                code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
                text = exc.args[-1] if exc.args else str(exc)
                if code is None or code >= 2000:          # client side: the connection is gone
                    await self._drop()
                    raise DdlUnreachable(f"the FE connection ({self.where}) failed: {text}", code=code) from None
                running = any(t in str(text).lower() for t in SCHEMA_CHANGE_RUNNING)
                raise (SchemaChangeRunning if running else DdlError)(str(text), code=code) from None
            except (TimeoutError, OSError) as exc:
                await self._drop()
                raise DdlUnreachable(f"the FE connection ({self.where}) failed: {exc}") from None

    async def columns(self, database: str, table: str) -> list[TableColumn] | None:
        """The table's columns in order, or None when it does not exist."""
        rows = await self.query(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, COLUMN_DEFAULT, COLUMN_COMMENT "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (database, table))
        if not rows:
            return None
        return [TableColumn(str(r[0]), str(r[1]), str(r[2]).upper() == "YES", bool(r[3]),
                            None if r[4] is None else str(r[4]), str(r[5] or "")) for r in rows]

    async def last_alter_job(self, database: str, table: str) -> AlterJob | None:
        """The table's newest schema change job (``SHOW ALTER TABLE COLUMN``), or None. CreateTime has
        whole seconds, so two jobs of one second (a MODIFY COLUMN, then an ADD COLUMN) are told apart
        by JobId, which the FE hands out in increasing order."""
        from sinkapp.tableshape.ddl import quote

        rows = await self.query(f"SHOW ALTER TABLE COLUMN FROM {quote(database)} WHERE TableName = %s "
                                "ORDER BY CreateTime DESC LIMIT 10", (table,))
        if not rows:
            return None
        # JobId TableName CreateTime FinishTime ... State(9) Msg(10)
        r = max(rows, key=lambda r: (str(r[2]), int(r[0]) if str(r[0]).isdigit() else -1))
        return AlterJob(str(r[0]), str(r[9]).upper(), str(r[10] or ""))

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()
