"""Identifier safety: which names StarRocks takes, and the one way a name reaches SQL text.

Who calls: every mapper in :mod:`sinkapp.tableshape` (each field name becomes a column name) and
:mod:`sinkapp.tableshape.ddl` (database, table and column names of a statement).

The rules are the FE's, not the docs' stricter convention:

- docs.starrocks.io ``reference/System_limit`` ("Naming conventions"): names of letters, digits and
  ``_``; database names at most 256 characters, table and column names at most 1024; column names
  case-insensitive, other names case-sensitive. That is what a person should type; records carry
  other names (``prix_€``, ``名前``, ``order-id``) and StarRocks takes them backquoted.
- StarRocks ``fe-core/.../common/FeNameFormat.java`` (what the FE enforces; also traced in
  ``testkit/sinkapp_testkit/streamload/MYSQL.md`` [FE-NAME]): database ``^[a-zA-Z]\\w{0,255}$`` or
  ``^_[a-zA-Z0-9]\\w{0,254}$``; table ``^[^\\0]{1,1024}$``; column ``^[^\\0=<>!*]{1,1024}$`` and not
  starting with ``__starrocks_shadow_`` / ``__doris_shadow_`` (schema-change shadow columns).

On top of the FE's rules sinkapp refuses, in table and column names, every control character
(Unicode category Cc: they survive neither logs nor the MySQL client), and the column ``__op``
(StarRocks reads a load's ``__op`` as the upsert/delete flag of a PRIMARY KEY table, so it can
never be a data column). A backquote inside a name is allowed and doubled by :func:`quote`
(StarRocks' lexer reads ``````  inside a backquoted name as one backquote); nothing else needs
escaping inside backquotes, so ``a`; DROP TABLE t; --`` stays one name.
"""

from __future__ import annotations

import re
import unicodedata

from sinkapp.errors import SchemaMappingError

MAX_NAME = 1024                    # table and column names (System_limit, FeNameFormat)
_DB_NAME = re.compile(r"[a-zA-Z]\w{0,255}|_[a-zA-Z0-9]\w{0,254}", re.ASCII)
_COLUMN_FORBIDDEN = frozenset("=<>!*")
_SHADOW = ("__starrocks_shadow_", "__doris_shadow_")
OP_COLUMN = "__op"
WHATS = ("database", "table", "column")


def _shown(name: str) -> str:
    return repr(name if len(name) <= 60 else name[:60] + "…")


def check_identifier(name: str, what: str) -> str:
    """``name`` when StarRocks takes it as a ``what`` (``database``, ``table`` or ``column``) name;
    else :class:`SchemaMappingError` naming it (``field`` = the name) and the rule it breaks."""
    if what not in WHATS:
        raise ValueError(f"what must be one of {WHATS}, not {what!r}")
    if not isinstance(name, str):
        raise SchemaMappingError(f"{what} name {name!r} is not text", field=str(name))
    why = _why_not(name, what)
    if why:
        hint = ("rename the field (a transform such as ReplaceField/rename, or in the producer's schema)"
                if what == "column" else f"choose another {what} name (topic2table map)")
        raise SchemaMappingError(f"{what} name {_shown(name)} cannot be used in StarRocks: {why}; {hint}",
                                 field=name)
    return name


def _why_not(name: str, what: str) -> str:
    if not name:
        return "it is empty"
    if what == "database":
        return "" if _DB_NAME.fullmatch(name) else (
            "database names are an ASCII letter then letters, digits or _ (up to 256), or _ then a letter "
            "or digit (FeNameFormat)")
    if len(name) > MAX_NAME:
        return f"it has {len(name)} characters, StarRocks allows at most {MAX_NAME}"
    bad = next((c for c in name if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        return f"it contains the control character {bad!r}"
    if what == "column":
        forbidden = sorted(_COLUMN_FORBIDDEN.intersection(name))
        if forbidden:
            return f"column names cannot contain {' '.join(forbidden)} (FeNameFormat)"
        if name.startswith(_SHADOW):
            return "names starting with __starrocks_shadow_ / __doris_shadow_ are schema-change shadow columns"
        if name.lower() == OP_COLUMN:
            return "__op is StarRocks' load-time upsert/delete flag, not a column"
    return ""


def quote(name: str) -> str:
    """```name``` with each backquote inside doubled: the only form a name takes in SQL text."""
    return "`" + name.replace("`", "``") + "`"
