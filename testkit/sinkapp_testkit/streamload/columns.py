"""The ``columns`` and ``where`` headers (docs/streamload-protocol.md §2), in the subset the emulator evaluates.

``columns``: a comma list of items, each parsed by sqlglot's StarRocks dialect: a source name (``col``,
```my col```) or a mapping ``name = expr`` where ``expr`` is a column reference (``__op = temp``), a
literal (``__op = 'delete'``, ``k = 7``, ``NULL``), ``ifnull(col, literal)`` / ``coalesce(col, literal)``
or ``now()`` / ``current_timestamp()``. ``where``: comparisons ``col <op> literal`` or
``col IS [NOT] NULL`` joined by ``AND``. Anything else fails the load with a message that says the
emulator does not support it (real StarRocks supports full SQL expressions here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from .errors import LoadFailure

DIALECT = "starrocks"


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Literal:
    value: str | None


@dataclass(frozen=True)
class IfNull:
    ref: Ref
    fallback: Literal


@dataclass(frozen=True)
class Now:
    """``now()`` / ``current_timestamp()``: the load's start time (one value for every row)."""


Expr = Ref | Literal | IfNull | Now


@dataclass(frozen=True)
class ColumnItem:
    name: str
    expr: Expr | None = None   # None: a source column filled from the data


@dataclass(frozen=True)
class Condition:
    column: str
    op: str                    # = != < <= > >= ISNULL NOTNULL
    literal: str | None


@dataclass(frozen=True)
class WhereClause:
    conditions: tuple[Condition, ...]


def _split(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


_IDENT = r"`?([A-Za-z_][\w$]*)`?"
_LITERAL = r"'((?:[^']|'')*)'|\"((?:[^\"]|\"\")*)\"|([+-]?\d+(?:\.\d+)?)|(NULL)"


def _literal(m: re.Match[str], base: int) -> Literal:
    s1, s2, num, null = m.group(base), m.group(base + 1), m.group(base + 2), m.group(base + 3)
    if null is not None:
        return Literal(None)
    if s1 is not None:
        return Literal(s1.replace("''", "'"))
    if s2 is not None:
        return Literal(s2.replace('""', '"'))
    return Literal(num)


_NOW = {"NOW", "CURRENT_TIMESTAMP", "CURRENTTIMESTAMP", "LOCALTIME", "LOCALTIMESTAMP"}


def _expr(e: exp.Expression, header: str) -> Expr:
    if isinstance(e, exp.Column) and not e.table:
        return Ref(e.name)
    if isinstance(e, exp.Null):
        return Literal(None)
    if isinstance(e, exp.Literal):
        return Literal(e.this)
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal) and not e.this.is_string:
        return Literal("-" + e.this.this)
    if isinstance(e, exp.Coalesce) and isinstance(e.this, exp.Column) and len(e.expressions) == 1:
        fallback = _expr(e.expressions[0], header)
        if isinstance(fallback, Literal):
            return IfNull(Ref(e.this.name), fallback)
    name = e.name.upper() if isinstance(e, exp.Anonymous) else type(e).__name__.upper()
    if name in _NOW and not e.expressions:
        return Now()
    raise LoadFailure(f"emulator: unsupported expression in columns header: {e.sql(DIALECT)!r} (columns: {header})")


def parse_columns(header: str) -> tuple[ColumnItem, ...]:
    """Items of the ``columns`` header, each parsed by sqlglot (backquoted names, any spacing)."""
    items = []
    for part in _split(header):
        try:
            tree = sqlglot.parse_one(f"SELECT {part}", read=DIALECT) if part.strip() else None
        except (ParseError, TokenError):
            tree = None
        node = tree.expressions[0] if isinstance(tree, exp.Select) and len(tree.expressions) == 1 else None
        if isinstance(node, exp.Column) and not node.table:
            items.append(ColumnItem(node.name))
        elif isinstance(node, exp.EQ) and isinstance(node.this, exp.Column) and not node.this.table:
            items.append(ColumnItem(node.this.name, _expr(node.expression, header)))
        elif node is None and re.match(r"\s*`?[^`=]+`?\s*=\s*\S", part):   # name = <what sqlglot cannot read>
            raise LoadFailure(f"emulator: unsupported expression in columns header: {part.strip()!r} "
                              f"(columns: {header})")
        else:
            raise LoadFailure(f"parse columns header failed: {header}")
    return tuple(items)


_COND = re.compile(r"\s*" + _IDENT + r"\s*(?:(=|!=|<>|<=|>=|<|>)\s*(?:" + _LITERAL + r")|IS\s+(NOT\s+)?NULL)\s*",
                   re.I)


def parse_where(header: str) -> WhereClause:
    conds = []
    for part in re.split(r"\s+AND\s+", header.strip(), flags=re.I):
        m = _COND.fullmatch(part)
        if m is None:
            raise LoadFailure(f"emulator: unsupported where predicate: {part.strip()!r}")
        if m.group(2) is None:
            conds.append(Condition(m.group(1), "NOTNULL" if m.group(7) else "ISNULL", None))
        else:
            op = "!=" if m.group(2) == "<>" else m.group(2)
            conds.append(Condition(m.group(1), op, _literal(m, 3).value))
    return WhereClause(tuple(conds))
