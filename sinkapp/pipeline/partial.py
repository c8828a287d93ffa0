"""Rows with columns the source did not send: loaded as partial updates, never with a placeholder.

Who calls: the loader, for a batch whose body holds a row the Debezium transform marked (:data:`MARK`).
Debezium sends ``__debezium_unavailable_value`` (its ``unavailable.value.placeholder``) for a column
whose value it does not have: PostgreSQL with the default ``REPLICA IDENTITY`` leaves a TOASTed value
(a large text, bytea, JSON or array) out of an update that did not change it. Loading the placeholder
would overwrite the stored value with it. So the transform takes such columns out of the row and
marks it (``"__sinkapp_unavailable": {"columns": [...], "key": [...]}``), and the batch is loaded here:

1. the rows are folded per primary key in order (the key's columns come from the record key Debezium
   writes): a marked row after a complete row of the same key completes it from that row, a marked
   row after a marked one keeps the newer values; so each key ends as one row, complete or not, and
   rows of different keys commute;
2. complete rows load as the batch always does; marked rows load as partial updates
   (``partial_update: true``, ``columns`` = the columns they carry), one load per column set.

Without key columns (a record key that is not JSON) the rows are not folded: the batch loads as
consecutive runs of one column set each, in order (correct, in more loads). The partial loads go
first under their own labels (:func:`part_label`), the complete rows last under the batch's label, so
a label StarRocks reports VISIBLE means the whole batch is in. Pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from sinkapp.errors import ConfigError, DataRejected, TransformError
from sinkapp.transforms.base import UNAVAILABLE_KEY as MARK

OP = "__op"
_MARK_RE = re.compile(b'"' + MARK.encode() + b'":')


def marked(pieces: Sequence[bytes | memoryview]) -> bool:
    """Whether an encoded JSON body holds a marked row (a key, never a string value, can match)."""
    return any(_MARK_RE.search(p) for p in pieces)


@dataclass
class Part:
    """One load of the plan: ``columns`` is None for complete rows (the route's own headers)."""

    columns: tuple[str, ...] | None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def headers(self, base: Mapping[str, str]) -> dict[str, str]:
        """Stream Load headers: the route's, or a row-mode partial update of ``columns``."""
        if self.columns is None:
            return dict(base)
        out = {k: v for k, v in base.items() if k not in ("columns", "jsonpaths", "partial_update_mode")}
        out.update({"partial_update": "true", "columns": ",".join(f"`{c}`" for c in self.columns)})
        return out


def decode(pieces: Sequence[bytes | memoryview]) -> list[dict[str, Any]]:
    """The rows of a JSON body's pieces (each ``row,row,...``)."""
    rows: list[dict[str, Any]] = []
    for p in pieces:
        if len(p):
            rows.extend(orjson.loads(b"[" + bytes(p) + b"]"))
    return rows


def check_headers(headers: Mapping[str, str]) -> None:
    """A route whose rows may be partial must map JSON keys to columns by name: a ``columns`` header
    with expressions or ``jsonpaths`` that rename cannot be narrowed to the columns a row carries."""
    cols = [c.strip().strip("`") for c in headers.get("columns", "").split(",") if c.strip()]
    if any("=" in c for c in cols):
        raise ConfigError("sink.properties.columns computes columns (col=expr), so rows Debezium sent without "
                          "some columns cannot be loaded as partial updates; drop the expressions or set "
                          "REPLICA IDENTITY FULL on the source table")
    paths = headers.get("jsonpaths")
    if paths:
        parsed = orjson.loads(paths)
        if not isinstance(parsed, list) or len(parsed) != len(cols) or any(
                p != f"$.{c}" for p, c in zip(parsed, cols, strict=False)):
            raise ConfigError("sink.properties.jsonpaths maps JSON keys to other column names, so rows Debezium "
                              "sent without some columns cannot be loaded as partial updates; map by name or set "
                              "REPLICA IDENTITY FULL on the source table")


def _split(row: dict[str, Any]) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
    mark = row.pop(MARK, None)
    return row, mark if isinstance(mark, Mapping) else None


def plan(rows: list[dict[str, Any]], user_columns: Sequence[str] = ()) -> list[Part]:
    """The loads of a batch's rows, partial ones first, the complete rows last (see the module doc)."""
    split = [_split(r) for r in rows]
    keys = next((list(m["key"]) for _, m in split if m and m.get("key")), None)
    if keys is None:
        return _runs(split, user_columns)
    state: dict[tuple[Any, ...], tuple[dict[str, Any], frozenset[str] | None]] = {}
    for row, mark in split:
        k = tuple(orjson.dumps(row.get(c), option=orjson.OPT_SORT_KEYS) for c in keys)
        missing = frozenset(mark["columns"]) if mark else None
        if missing is not None and k in state:
            prev, prev_missing = state[k]
            if prev.get(OP) != 1:                    # an update after a delete is a new row: keep it as is
                row = {**prev, **row}
                missing = None if prev_missing is None else prev_missing & missing
        state.pop(k, None)                           # keep the key's place: last change wins, in order
        state[k] = (row, missing or None)
    full = Part(None)
    partial: dict[tuple[str, ...], Part] = {}
    for row, missing in state.values():
        if missing is None:
            full.rows.append(row)
        else:
            cols = _columns(row, user_columns)
            partial.setdefault(cols, Part(cols)).rows.append(row)
    return [*partial.values(), full] if full.rows else list(partial.values())


def _runs(split: list[tuple[dict[str, Any], Mapping[str, Any] | None]], user_columns: Sequence[str]) -> list[Part]:
    """No key columns known: consecutive rows of one column set per load, in order."""
    parts: list[Part] = []
    for row, mark in split:
        cols = _columns(row, user_columns) if mark else None
        if not parts or parts[-1].columns != cols:
            parts.append(Part(cols))
        parts[-1].rows.append(row)
    return parts


def _columns(row: Mapping[str, Any], user_columns: Sequence[str]) -> tuple[str, ...]:
    """The columns a partial row updates: its keys (in the route's ``columns`` order when it has one),
    without ``__op`` (a partial row is always an upsert)."""
    if user_columns:
        return tuple(c for c in user_columns if c in row and c != OP)
    return tuple(c for c in row if c != OP)


def rejected(exc: DataRejected, part: Part) -> DataRejected:
    """StarRocks refused ``part``'s rows: when it is a partial update, say why such rows exist and
    what takes them."""
    if part.columns is None:
        return exc
    return DataRejected(f"{exc} (a partial update of {', '.join(part.columns)}: Debezium sent no value for the "
                        "other columns, PostgreSQL's unchanged TOASTed values under the default REPLICA IDENTITY; "
                        "such rows load only into a PRIMARY KEY table, or set REPLICA IDENTITY FULL on the source "
                        "table)", label=exc.label, status=exc.status, response=exc.response)


def part_label(label: str, i: int) -> str:
    """The label of the ``i``-th partial load of the batch labelled ``label`` (``^[-\\w]{1,128}$``)."""
    suffix = f"-u{i}"
    if len(label) + len(suffix) <= 128:
        return label + suffix
    digest = hashlib.sha1(label.encode()).hexdigest()[:20]
    return f"{label[:128 - len(suffix) - len(digest) - 1]}-{digest}{suffix}"


def csv_refusal(rows: list[Any]) -> TransformError:
    """The error of a record whose row lacks columns (Debezium's placeholder) bound for a CSV body."""
    gone = next(r[MARK]["columns"] for r in rows if MARK in r)
    return TransformError(
        f"Debezium sent no value for column(s) {', '.join(gone)} (its unavailable-value placeholder: PostgreSQL "
        "leaves a TOASTed value that an update did not change out of the WAL under the default REPLICA IDENTITY); "
        "a CSV row cannot leave a column out: set REPLICA IDENTITY FULL on the source table (ALTER TABLE ... "
        "REPLICA IDENTITY FULL), or load JSON (sink.properties.format=json) into a PRIMARY KEY table, where such "
        "rows load as partial updates")
