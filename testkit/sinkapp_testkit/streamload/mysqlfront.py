"""The MySQL protocol front of the emulator (the FE's query port, 9030 on a real cluster; MYSQL.md).

mysql-mimic speaks the server side of the protocol (handshake, ``mysql_native_password``, COM_QUERY,
result sets, ERR packets); each COM_QUERY is split into statements by sqlglot's tokenizer (quotes and
backquoted names respected), every statement is appended to the statement log *before* it runs, then
parsed by sqlglot's StarRocks dialect and run by :mod:`.sqlexec`. What drivers send on connect
(``SET ...``, ``SELECT @@...``, ``SHOW VARIABLES``) is answered by mysql-mimic's session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any, cast

import sqlglot
from mysql_mimic import MysqlServer, Session
from mysql_mimic.auth import (
    AuthInfo,
    Decision,
    Forbidden,
    IdentityProvider,
    NativePasswordAuthPlugin,
    Success,
    User,
)
from mysql_mimic.errors import ErrorCode, MysqlError
from mysql_mimic.utils import nonce
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from . import sqlexec
from .sqlcatalog import SqlCatalog
from .sqlddl import DIALECT, is_add_columns_multi, syntax_error
from .sqlnames import SqlError, check_db_name

SERVER_VERSION = "5.1.0"      # what StarRocks' FE reports as the MySQL server version
VERSION_COMMENT = "StarRocks emulator (sinkapp)"


class _QuietFallback(logging.Filter):
    """sqlglot warns when it keeps a statement as an opaque command (``SHOW ALTER TABLE COLUMN``,
    ``ADD COLUMN (...)``): expected here, parsed from the tokens instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_QuietFallback())


def split_statements(sql: str) -> list[str]:
    """The statements of one COM_QUERY, split at semicolons outside quotes, names and comments."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(sql)
    except TokenError as exc:
        raise syntax_error(sql, exc) from None
    out, begin, seen = [], 0, False
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            if seen:
                out.append(sql[begin:tok.start].strip())
            begin, seen = tok.end + 1, False
        else:
            seen = True
    if seen:
        out.append(sql[begin:].strip())
    return out


class _Password(NativePasswordAuthPlugin):
    """``mysql_native_password`` against the emulator's one user; StarRocks' 1045 text on failure."""

    def __init__(self, user: str) -> None:
        self.user = user

    async def auth(self, auth_info: AuthInfo | None = None) -> AsyncGenerator[Decision, AuthInfo]:
        if auth_info and auth_info.handshake_plugin_name == self.name and auth_info.handshake_auth_data:
            salt = auth_info.handshake_auth_data.rstrip(b"\x00")
        else:
            salt = nonce(20)
            auth_info = yield salt + b"\x00"
        assert auth_info is not None
        if auth_info.username == self.user and self.password_matches(auth_info.user, auth_info.data, salt):
            yield Success(auth_info.user.name)
        else:
            used = "YES" if auth_info.data else "NO"
            yield Forbidden(f"Access denied for user '{auth_info.username}' (using password: {used})")


class _Identity(IdentityProvider):
    def __init__(self, user: str, password: str) -> None:
        self.plugin = _Password(user)
        self.auth_string = NativePasswordAuthPlugin.create_auth_string(password) if password else None

    def get_plugins(self) -> list[Any]:
        return [self.plugin]

    async def get_user(self, username: str) -> User | None:
        return User(name=username, auth_string=self.auth_string, auth_plugin=self.plugin.name)


class _Session(Session):
    def __init__(self, front: MysqlFront) -> None:
        super().__init__()
        self.front = front
        self.variables.set("version", SERVER_VERSION, force=True)
        self.variables.set("version_comment", VERSION_COMMENT, force=True)

    async def init(self, connection: Any) -> None:
        await super().init(connection)
        self.front.sessions.add(self)

    async def close(self) -> None:
        self.front.sessions.discard(self)
        await super().close()

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> Any:
        cat = self.front.catalog
        try:
            statements = split_statements(sql)
        except SqlError as exc:
            cat.record(sql, self.username or "", self.database, self.connection.connection_id).error = exc.message
            raise MysqlError(exc.message, cast(ErrorCode, exc.code)) from None
        recs = [cat.record(text, self.username or "", self.database, self.connection.connection_id)
                for text in statements]        # all logged first: an injected statement shows even unrun
        result = None
        for i, (text, rec) in enumerate(zip(statements, recs, strict=True)):
            try:
                result = await self._one(text, attrs)
            except (SqlError, MysqlError) as exc:
                rec.error = exc.message if isinstance(exc, SqlError) else exc.msg
                for later in recs[i + 1:]:
                    later.error = "emulator: not run, an earlier statement of the same query failed"
                if isinstance(exc, SqlError):
                    raise MysqlError(exc.message, cast(ErrorCode, exc.code)) from None
                raise
        return result

    async def _one(self, text: str, attrs: dict[str, str]) -> Any:
        self.front.catalog.jobs.advance()
        try:
            tokens: list[Token] = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(text)
            tree = (exp.Command(this="ALTER") if is_add_columns_multi(tokens)
                    else sqlglot.parse_one(text, read=DIALECT))
        except (ParseError, TokenError) as exc:
            raise syntax_error(text, exc) from None
        if isinstance(tree, exp.Use):
            await self.use(tree.this.name)
            return [], []
        got = await sqlexec.run(self.front.catalog, text, cast(exp.Expression, tree), tokens, self.database)
        if got is None:
            return await super().handle_query(text, attrs)
        return got

    async def use(self, database: str) -> None:
        self.database = self.front.catalog.check_db(check_db_name(database))

    async def query(self, expression: exp.Expression, sql: str, attrs: dict[str, str]) -> Any:
        raise MysqlError(f"emulator: statement not supported: {sql[:60]}", ErrorCode.NOT_SUPPORTED_YET)


class MysqlFront:
    """The listening MySQL port of one emulator (``emu.mysql_port``)."""

    def __init__(self, catalog: SqlCatalog, *, user: str, password: str, host: str, port: int) -> None:
        self.catalog = catalog
        self.host, self.port = host, port
        self.sessions: set[_Session] = set()
        self.server = MysqlServer(session_factory=lambda: _Session(self),
                                  identity_provider=_Identity(user, password))

    async def start(self) -> None:
        await self.server.start_server(host=self.host, port=self.port)
        self.port = self.server.sockets()[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        for s in list(self.sessions):
            s.connection.kill()
        for _ in range(100):            # each killed connection sends its ERR and closes
            if not self.sessions:
                break
            await asyncio.sleep(0.01)
        await self.server.wait_closed()

