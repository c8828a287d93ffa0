"""Names and errors of the emulator's MySQL front (MYSQL.md §3, §6).

:class:`SqlError` is what a statement fails with: a MySQL error number and StarRocks' text, turned
into an ERR packet by :mod:`.mysqlfront`. The name checks are StarRocks' ``FeNameFormat``:

- database: ``^[a-zA-Z]\\w{0,255}$|^_[a-zA-Z0-9]\\w{0,254}$`` (``\\w`` is ASCII in Java), else 1102
  ``Incorrect database name '<name>'``;
- table: 1 to 1024 characters, no NUL, else 1104 ``Incorrect table name '<name>'``;
- column: 1 to 1024 characters, none of NUL ``= < > ! *``, not starting with ``__starrocks_shadow_``
  or ``__doris_shadow_`` (the shadow columns of a schema change), else 1166 ``Incorrect column name
  '<name>'``.

Anything else (quotes, semicolons, spaces, non-ASCII) is a valid table or column name once
backquoted: :func:`quote` backquotes a name and doubles a backquote inside it.
"""

from __future__ import annotations

import re

ERR_DB_CREATE_EXISTS = 1007
ERR_DB_DROP_EXISTS = 1008
ERR_ACCESS_DENIED = 1045
ERR_NO_DB = 1046
ERR_BAD_DB = 1049
ERR_TABLE_EXISTS = 1050
ERR_BAD_TABLE = 1051
ERR_DUP_FIELDNAME = 1060
ERR_PARSE = 1064           # StarRocks reports syntax and most analysis/DDL errors as 1064 (HY000)
ERR_WRONG_DB_NAME = 1102
ERR_WRONG_TABLE_NAME = 1104
ERR_WRONG_COLUMN_NAME = 1166
ERR_NOT_SUPPORTED = 1235

_DB_NAME = re.compile(r"[a-zA-Z]\w{0,255}|_[a-zA-Z0-9]\w{0,254}", re.ASCII)
_BAD_COLUMN_CHARS = frozenset("\0=<>!*")
SHADOW_PREFIXES = ("__starrocks_shadow_", "__doris_shadow_")
MAX_NAME = 1024


class SqlError(Exception):
    """A statement failed: MySQL error ``code`` and ``message`` (StarRocks' text, MYSQL.md §6)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unsupported(what: str) -> SqlError:
    """Something StarRocks does that the emulator does not (the message starts with ``emulator:``)."""
    return SqlError(ERR_NOT_SUPPORTED, f"emulator: {what} is not supported")


def check_db_name(name: str) -> str:
    if not _DB_NAME.fullmatch(name):
        raise SqlError(ERR_WRONG_DB_NAME, f"Incorrect database name '{name}'")
    return name


def check_table_name(name: str) -> str:
    if not name or len(name) > MAX_NAME or "\0" in name:
        raise SqlError(ERR_WRONG_TABLE_NAME, f"Incorrect table name '{name}'")
    return name


def check_column_name(name: str) -> str:
    if (not name or len(name) > MAX_NAME or not _BAD_COLUMN_CHARS.isdisjoint(name)
            or name.startswith(SHADOW_PREFIXES)):
        raise SqlError(ERR_WRONG_COLUMN_NAME, f"Incorrect column name '{name}'")
    return name


def quote(name: str) -> str:
    """```name``` with a backquote inside doubled: the only way a name reaches SQL text."""
    return "`" + name.replace("`", "``") + "`"
