"""Row-level built-ins of sinkapp's own: Filter, Explode and TableByField.

Who calls: :func:`sinkapp.transforms.build_transform` (registered by short name and by a
``sinkapp.transforms.*`` class name). Pure functions on dicts, no IO.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sinkapp.config.tables import TABLE_BY_FIELD
from sinkapp.errors import ConfigError, TransformError
from sinkapp.transforms.base import TABLE_KEY, Meta, Transform, register
from sinkapp.transforms.paths import KeyPath, names, need, path


@register("Filter", "sinkapp.transforms.Filter")
def filter_(options: Mapping[str, str]) -> Transform:
    where = path(need(options, "field"))
    action = options.get("action", "drop").lower()
    if action not in ("drop", "keep"):
        raise ConfigError("action: use drop (drop matching records) or keep (keep only matching records)")
    conds = [k for k in ("equals", "in", "regex", "exists") if k in options]
    if len(conds) != 1:
        raise ConfigError("give exactly one of equals, in, regex, exists")
    kind = conds[0]
    if kind == "regex":
        try:
            rx = re.compile(options["regex"])
        except re.error as exc:
            raise ConfigError(f"regex: {exc}") from None
    members = set(names(options.get("in")))
    want_present = options.get("exists", "true").lower() == "true"

    def matches(value: dict[str, Any]) -> bool:
        found = where.values(value)
        if kind == "exists":
            return bool(found) == want_present
        if not found:
            return False
        v = found[0]
        text = v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
        if kind == "equals":
            return text == options["equals"]
        if kind == "in":
            return text in members
        return bool(rx.fullmatch(text))

    def t(value: dict[str, Any], meta: Meta) -> Any:
        m = matches(value)
        return None if (m if action == "drop" else not m) else value
    return t


@register("Explode", "sinkapp.transforms.Explode")
def explode(options: Mapping[str, str]) -> Transform:
    """One row per element of an array field; each row is the record with that field replaced
    by one element (an empty array gives no row)."""
    text = need(options, "field")
    where = path(text)

    def t(value: dict[str, Any], meta: Meta) -> Any:
        found = where.values(value)
        if not found:
            raise TransformError(f"field {text!r} is not in the record")
        items = found[0]
        if items is None:
            return []
        if not isinstance(items, list):
            raise TransformError(f"field {text!r} is {type(items).__name__}, not an array")
        return [where.replace(value, item) for item in items]
    return t


_TABLE_NAME = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]{0,255}\.)?[A-Za-z_][A-Za-z0-9_]{0,63}$")   # [db.]table


@register(*TABLE_BY_FIELD)
def table_by_field(options: Mapping[str, str]) -> Transform:
    """Send each row to the table named by one of its fields: ``field`` (JSONPath), ``format``
    (``{}`` is the value, default ``{}``: e.g. ``events_{}`` or ``archive.{}``), ``remove`` (true:
    drop the field from the row). The result is ``table`` (in the route's database) or ``db.table``.
    A value that makes no valid table name is a bad record."""
    where = path(need(options, "field"))
    fmt = options.get("format", "{}")
    if "{}" not in fmt:
        raise ConfigError("format must contain {} (the field's value)")
    remove = options.get("remove", "false").lower() == "true"
    if remove and not isinstance(where, KeyPath):
        raise ConfigError("remove=true needs a plain field path ($.a.b)")

    def t(value: dict[str, Any], meta: Meta) -> Any:
        found = where.values(value)
        if not found or found[0] is None:
            raise TransformError(f"field {options['field']!r} is missing: no table to route the row to")
        table = fmt.replace("{}", str(found[0]))
        if not _TABLE_NAME.match(table):
            raise TransformError(f"{table!r} (from field {options['field']!r}) is not a valid table name")
        out = dict(value)
        if remove:
            assert isinstance(where, KeyPath)
            cur = out
            for k in where.keys[:-1]:
                cur[k] = dict(cur[k])
                cur = cur[k]
            cur.pop(where.keys[-1], None)
        out[TABLE_KEY] = table
        return out
    return t


def place_rows(k: int, rows: list[Any], home: str, values: list[Any], idx: list[int],
               by_table: dict[str, tuple[list[Any], list[int]]]) -> TransformError | None:
    """Record ``k``'s rows to the route's own table (``values``) or the one TableByField named
    (``by_table``): ``table`` (in ``home``, the route's database) or ``db.table``, a ``home.table``
    under its bare name. A bare name when there is no home database refuses the record's rows, all of them."""
    bare = None if home else next((x[TABLE_KEY] for x in rows if "." not in x.get(TABLE_KEY, ".")), None)
    if bare is not None:
        return TransformError(f"TableByField gave table {bare!r}, which names no database, and starrocks.database.name "
                              "is not set: make its format db.{} (or set starrocks.database.name)")
    for row in rows:
        table = row.pop(TABLE_KEY, None)
        if table is None:
            values.append(row)
            idx.append(k)
            continue
        if home and table.startswith(home + "."):
            table = table[len(home) + 1:]
        vs, ks = by_table.setdefault(table, ([], []))
        vs.append(row)
        ks.append(k)
    return None
