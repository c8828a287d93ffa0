"""Route targets that may name their database: ``table`` or ``db.table``.

Who calls: :func:`sinkapp.config.parse.parse_settings` (``starrocks.topic2table.map`` values),
:func:`sinkapp.config.routes.route_for`, the RegexRouter step of
:func:`sinkapp.worker.startup.routes_with_transforms`, and every caller that finalises routes
(:func:`check_targets`: start-up, ``sinkapp check``). Pure functions; no IO.

A target without a database part is in ``starrocks.database.name`` (the *home* database). That key
is optional when every target names its database; a route whose target does not, while it is
unset, is a :class:`~sinkapp.errors.ConfigError` that says so. TableByField values are split the
same way per row (:mod:`sinkapp.pipeline.encode`); with no home database a bare value is a bad record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from sinkapp.errors import ConfigError

TABLE_RE = re.compile(r"^[_a-zA-Z][_$a-zA-Z0-9]*$")
DATABASE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,255}$")


def split_target(text: str, home: str, where: str) -> tuple[str, str]:
    """``db.table`` → (db, table); ``table`` → (``home``, table), ``home`` possibly "" (not set).
    ``where`` names the setting the text came from, for the error."""
    db, dot, table = text.strip().partition(".")
    if not dot:
        db, table = home, db
    elif not DATABASE_RE.match(db):
        raise ConfigError(f"{where}: {text!r}: {db!r} is not a StarRocks database name (a letter, then "
                          "letters, digits or _); a target is table or database.table")
    if not TABLE_RE.match(table):
        raise ConfigError(f"{where}: {text!r}: {table!r} is not a valid table name; a target is table or "
                          "database.table")
    return db, table


class _Target(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def database(self) -> str: ...
    @property
    def table(self) -> str: ...


def check_targets(routes: Iterable[_Target], per_row: bool = False) -> None:
    """Every route's target has a database: its own ``db.`` part or ``starrocks.database.name``.
    ``per_row``: a TableByField transform picks each row's table, so a route's own target is not used."""
    if per_row:
        return
    bare = sorted({f"{r.topic} -> {r.table}" for r in routes if not r.database})
    if bare:
        raise ConfigError(
            f"starrocks.database.name is not set, and {len(bare)} route(s) name no database: {', '.join(bare[:5])}"
            f"{' ...' if len(bare) > 5 else ''}. Set starrocks.database.name (the database of targets without "
            "a db. part), or give every target its database: starrocks.topic2table.map=topic:db.table, or a "
            "RegexRouter replacement of the form db.table")
