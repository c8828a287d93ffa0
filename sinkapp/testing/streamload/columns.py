"""The ``columns`` and ``where`` headers (spec §2), in the subset the emulator evaluates.

``columns``: a comma list of items, each a source name (``col``) or a mapping ``name = expr`` where
``expr`` is a column reference (``__op = temp``), a literal (``__op = 'delete'``, ``k = 7``, ``NULL``) or
``ifnull(col, literal)`` / ``coalesce(col, literal)``. ``where``: comparisons ``col <op> literal`` or
``col IS [NOT] NULL`` joined by ``AND``. Anything else fails the load with a message that says the
emulator does not support it (real StarRocks supports full SQL expressions here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import LoadFailure


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


Expr = Ref | Literal | IfNull


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


def _expr(text: str, header: str) -> Expr:
    t = text.strip()
    m = re.fullmatch(_IDENT, t)
    if m and m.group(1).upper() != "NULL":
        return Ref(m.group(1))
    m = re.fullmatch(_LITERAL, t, re.I)
    if m:
        return _literal(m, 1)
    m = re.fullmatch(r"(?:ifnull|coalesce)\s*\(\s*" + _IDENT + r"\s*,\s*(?:" + _LITERAL + r")\s*\)", t, re.I)
    if m:
        return IfNull(Ref(m.group(1)), _literal(m, 2))
    raise LoadFailure(f"emulator: unsupported expression in columns header: {t!r} (columns: {header})")


def parse_columns(header: str) -> tuple[ColumnItem, ...]:
    items = []
    for part in _split(header):
        if not part.strip():
            raise LoadFailure(f"parse columns header failed: {header}")
        name, eq, expr = part.partition("=")
        m = re.fullmatch(r"\s*" + _IDENT + r"\s*", name)
        if m is None:
            raise LoadFailure(f"parse columns header failed: {header}")
        items.append(ColumnItem(m.group(1), _expr(expr, header) if eq else None))
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
