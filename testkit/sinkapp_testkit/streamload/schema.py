"""Minimal StarRocks DDL parsing for the emulator: ``CREATE TABLE`` → :class:`TableSchema`.

Understood: column definitions with the types of :mod:`.coltypes` (BOOLEAN, TINYINT, SMALLINT, INT,
BIGINT, LARGEINT, FLOAT, DOUBLE, DECIMAL(p,s), CHAR(n), VARCHAR(n), STRING, DATE, DATETIME, JSON,
ARRAY<T>, MAP<K,V>, STRUCT<...>; case-insensitive, plus a few aliases), ``NULL`` / ``NOT NULL``,
``DEFAULT <literal>`` or ``DEFAULT CURRENT_TIMESTAMP``, ``COMMENT '...'``; the key clause
``DUPLICATE KEY(...)`` / ``PRIMARY KEY(...)`` / ``UNIQUE KEY(...)`` (no clause = duplicate) and the sort
key ``ORDER BY (...)``. Everything else after the column list (ENGINE, PARTITION BY, DISTRIBUTED BY,
PROPERTIES, COMMENT) is ignored. Other statements (CREATE DATABASE, USE, ...) are skipped.

Called by the emulator when tables are added; raises :class:`DdlError` naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .coltypes import STRING_MAX_BYTES, TYPES, Column, build_column, not_null, parse_type
from .errors import DdlError

__all__ = ["STRING_MAX_BYTES", "TYPES", "Column", "TableSchema", "build_column", "parse_ddl"]


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    keys_type: str = "DUPLICATE"   # DUPLICATE | PRIMARY | UNIQUE
    key_columns: tuple[str, ...] = ()
    database: str | None = None    # set when the DDL qualified the name (db.table)
    sort_key: tuple[str, ...] = ()  # ORDER BY (...) of the DDL; empty: the key columns sort
    index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.index.update({c.name.lower(): i for i, c in enumerate(self.columns)})

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def is_primary(self) -> bool:
        return self.keys_type in ("PRIMARY", "UNIQUE")

    @property
    def own_sort_key(self) -> bool:
        """An ORDER BY that is not the key columns (what column-mode partial updates refuse)."""
        return bool(self.sort_key) and [k.lower() for k in self.sort_key] != [k.lower() for k in self.key_columns]

    def key_indexes(self) -> tuple[int, ...]:
        return tuple(self.index[k.lower()] for k in self.key_columns)


def _blank_comments(text: str) -> str:
    """Replace comments by spaces (keeping newlines) so offsets still map to lines."""
    out = list(text)
    i, n, quote = 0, len(text), ""
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif text.startswith("--", i) or ch == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out[i:j] = " " * (j - i)
            i = j
            continue
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out[i:j] = [c if c == "\n" else " " for c in text[i:j]]
            i = j
            continue
        i += 1
    return "".join(out)


def _split_top(text: str, sep: str, start: int = 0) -> list[tuple[int, str]]:
    """Split at ``sep`` outside quotes and parentheses; returns (offset, piece) pairs."""
    pieces: list[tuple[int, str]] = []
    depth, quote, begin = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch in "(<":
            depth += 1
        elif ch in ")>":
            depth -= 1
        elif ch == sep and depth == 0:
            pieces.append((start + begin, text[begin:i]))
            begin = i + 1
    pieces.append((start + begin, text[begin:]))
    return pieces


def _ident(name: str) -> str:
    name = name.strip()
    if len(name) > 1 and name[0] == name[-1] == "`":
        return name[1:-1].replace("``", "`")      # a backquote inside a name is doubled
    return name.strip("`\"")


_CREATE = re.compile(r"\s*CREATE\s+(?:EXTERNAL\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                     r"((?:`(?:[^`]|``)+`|[\w$]+)(?:\s*\.\s*(?:`(?:[^`]|``)+`|[\w$]+))?)\s*\(", re.I)
_COLTYPE = re.compile(r"\s*(`(?:[^`]|``)+`|[\w$]+)\s+([A-Za-z_][\w]*)\s*(?:\(([^)]*)\))?(.*)\Z", re.I | re.S)
_KEYS = re.compile(r"\b(DUPLICATE|PRIMARY|UNIQUE|AGGREGATE)\s+KEY\s*\(([^)]*)\)", re.I)
_DEFAULT = re.compile(r"\bDEFAULT\s+('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,]+)", re.I)
_ORDER = re.compile(r"\bORDER\s+BY\s*\(([^)]*)\)", re.I)
_COMMENT = re.compile(r"\bCOMMENT\s+('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")", re.I | re.S)


def parse_ddl(text: str) -> list[TableSchema]:
    """Parse every ``CREATE TABLE`` in ``text``; other statements are skipped."""
    clean = _blank_comments(text)
    tables = []
    for offset, stmt in _split_top(clean, ";"):
        if not stmt.strip():
            continue
        m = _CREATE.match(stmt)
        if m is None:
            if re.match(r"\s*CREATE\s+TABLE", stmt, re.I):
                raise DdlError(f"line {_line(clean, offset + len(stmt) - len(stmt.lstrip()))}: "
                               "cannot parse CREATE TABLE statement")
            continue
        tables.append(_parse_create(clean, offset, stmt, m))
    return tables


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _parse_create(clean: str, offset: int, stmt: str, m: re.Match[str]) -> TableSchema:
    qual = [_ident(p) for p in m.group(1).split(".")]
    db, name = (qual[0], qual[1]) if len(qual) == 2 else (None, qual[0])
    open_at = m.end() - 1
    depth = 0
    close_at = -1
    for i in range(open_at, len(stmt)):
        if stmt[i] == "(":
            depth += 1
        elif stmt[i] == ")":
            depth -= 1
            if depth == 0:
                close_at = i
                break
    if close_at < 0:
        raise DdlError(f"line {_line(clean, offset + open_at)}: unbalanced parentheses in CREATE TABLE {name}")
    columns: list[Column] = []
    inline_keys: tuple[str, tuple[str, ...]] | None = None
    for item_off, item in _split_top(stmt[open_at + 1:close_at], ",", offset + open_at + 1):
        if not item.strip():
            continue
        line = _line(clean, item_off + len(item) - len(item.lstrip()))
        head = item.strip().split(None, 1)[0].upper()
        if head in ("INDEX", "KEY", "CONSTRAINT", "PRIMARY", "UNIQUE"):
            km = re.search(r"\bKEY\s*\(([^)]*)\)", item, re.I)
            if head in ("PRIMARY", "UNIQUE") and km:
                inline_keys = (head, tuple(_ident(k) for k in km.group(1).split(",")))
            continue
        columns.append(_parse_column(item, line, name))
    if not columns:
        raise DdlError(f"line {_line(clean, offset + open_at)}: table {name} has no columns")
    keys_type: str = "DUPLICATE"
    key_cols: tuple[str, ...] = ()
    km = _KEYS.search(stmt, close_at)
    if km:
        keys_type = km.group(1).upper()
        key_cols = tuple(_ident(k) for k in km.group(2).split(",") if k.strip())
    elif inline_keys:
        keys_type, key_cols = inline_keys
    if keys_type == "AGGREGATE":
        raise DdlError(f"line {_line(clean, offset + km.start() if km else offset)}: "
                       f"AGGREGATE KEY tables are not supported by the emulator ({name})")
    known = {c.name.lower() for c in columns}
    for k in key_cols:
        if k.lower() not in known:
            raise DdlError(f"line {_line(clean, offset + (km.start() if km else 0))}: "
                           f"key column {k!r} is not a column of {name}")
    if keys_type != "DUPLICATE":  # key columns of PK/UNIQUE tables are NOT NULL
        keys_lower = {k.lower() for k in key_cols}
        columns = [not_null(c) if c.name.lower() in keys_lower else c for c in columns]
    sm = _ORDER.search(stmt, close_at)
    sort_key = tuple(_ident(k) for k in sm.group(1).split(",") if k.strip()) if sm else ()
    return TableSchema(name, tuple(columns), keys_type, key_cols, db, sort_key)


def _parse_column(item: str, line: int, table: str) -> Column:
    m = _COLTYPE.match(item)
    if m is None:
        raise DdlError(f"line {line}: cannot parse column definition {item.strip()!r} of table {table}")
    name, raw_type, args, rest = _ident(m.group(1)), m.group(2), m.group(3), m.group(4)
    nested = None
    if args is None and rest.lstrip().startswith("<"):     # ARRAY<...>, MAP<...>, STRUCT<...>
        end = _angle_end(rest)
        if end < 0:
            raise DdlError(f"line {line}: unbalanced <> in the type of column {name!r} of table {table}")
        nested, rest = raw_type + rest[:end + 1], rest[end + 1:]
    nums: list[int] = []
    if args is not None and args.strip():
        try:
            nums = [int(a) for a in args.split(",")]
        except ValueError:
            raise DdlError(f"line {line}: bad type arguments ({args}) for column {name!r}") from None
    rest_wo_comment = _COMMENT.sub(" ", rest)
    nullable = not re.search(r"\bNOT\s+NULL\b", rest_wo_comment, re.I)
    dm = _DEFAULT.search(rest_wo_comment)
    default = None
    if dm:
        default = dm.group(1)
        if default[:1] in "'\"" and default[-1:] == default[:1]:
            default = default[1:-1]
        elif default.upper() == "NULL":
            default = None
    if nested is not None:
        return parse_type(name, nested, nullable=nullable, default=default, where=f"line {line}: ", table=table)
    return build_column(name, raw_type, nums, nullable, default, where=f"line {line}: ", table=table)


def _angle_end(text: str) -> int:
    """Index of the ``>`` closing the ``<`` that ``text`` starts with (after blanks), -1 if none."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
            if depth == 0:
                return i
    return -1
