"""Map source records onto table columns (docs/streamload-protocol.md §2 ``columns``/``where``/``__op``, §6.2, §6.3).

:class:`Plan` is compiled once per load from the table schema and the load headers and turns each
:class:`~.parse.Record` into ``(op, values)`` (``op`` 0 = UPSERT, 1 = DELETE; ``values`` in DDL
order), ``None`` when the ``where`` filter drops the row (unselected), or a ``str`` reason when the
row is filtered.

Source names: the plain names of the ``columns`` header in order, else the table columns in DDL
order. CSV fields and jsonpaths results map onto them positionally; JSON objects by key (exact,
then case-insensitive). A table column that no source or mapping names gets its DEFAULT or NULL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .coltypes import CURRENT_TIMESTAMP
from .columns import Condition, Expr, IfNull, Literal, Now, Ref
from .errors import LoadFailure
from .params import LoadParams
from .parse import Record
from .schema import TableSchema
from .types import convert_cell, make_converter

OP_NAME = "__op"
_OPS: dict[Any, int] = {0: 0, 1: 1, "0": 0, "1": 1, "upsert": 0, "delete": 1}
Getter = Callable[[list[Any]], Any]


class Plan:
    def __init__(self, schema: TableSchema, p: LoadParams) -> None:
        self.schema, self.params = schema, p
        self.load_time = dt.datetime.now().replace(microsecond=0).isoformat(sep=" ")   # now(), CURRENT_TIMESTAMP
        if p.columns is None:
            names = [c.name for c in schema.columns]
            if schema.is_primary and p.format == "json" and p.jsonpaths is None:
                names.append(OP_NAME)  # a JSON "__op" key is honoured on PK tables (inference, [BE-JSON])
            exprs: dict[str, Expr] = {}
        else:
            names = [i.name for i in p.columns if i.expr is None]
            exprs = {i.name.lower(): i.expr for i in p.columns if i.expr is not None}
        self.source_names = names
        self.lower_names = [n.lower() for n in names]
        self._src = {n: i for i, n in enumerate(self.lower_names)}
        self.getters: list[Getter | None] = []
        for col in schema.columns:
            self.getters.append(self._getter(col.name.lower(), exprs))
        self.op_getter = self._getter(OP_NAME, exprs)
        if self.op_getter is not None and not schema.is_primary:
            raise LoadFailure(f"emulator: {OP_NAME} is only supported for PRIMARY KEY tables "
                              f"({schema.name} is a {schema.keys_type} KEY table)")
        self.converters = [make_converter(c, p.format) for c in schema.columns]
        self.defaults = [self.load_time if c.default == CURRENT_TIMESTAMP else c.default for c in schema.columns]
        self.mapped = frozenset(i for i, g in enumerate(self.getters) if g is not None)
        self.conditions = [self._condition(c) for c in (p.where.conditions if p.where else ())]
        self.partial_columns = self.mapped if p.partial_update else None
        if not p.partial_update:
            _check_defaults(schema, self.mapped)
        _check_sort_key(schema, p, self.mapped)
        self.merge_index = _merge_index(schema, p, self.mapped)
        if p.envelope and not schema.is_primary:
            raise LoadFailure(f"emulator: envelope: debezium into a {schema.keys_type} KEY table is not supported "
                              "(deletes need a PRIMARY KEY table)")

    def _getter(self, name: str, exprs: dict[str, Expr]) -> Getter | None:
        if name in exprs:
            return self._expr(exprs[name])
        if name in self._src:
            i = self._src[name]
            return lambda v: v[i]
        return None

    def _expr(self, e: Expr) -> Getter:
        if isinstance(e, Literal):
            val = e.value
            return lambda v: val
        if isinstance(e, Now):
            now = self.load_time
            return lambda v: now
        ref = e.ref if isinstance(e, IfNull) else e
        assert isinstance(ref, Ref)
        if ref.name.lower() not in self._src:
            raise LoadFailure(f"emulator: column {ref.name} used in an expression is not a source column")
        i = self._src[ref.name.lower()]
        if isinstance(e, IfNull):
            fb = e.fallback.value
            return lambda v: fb if v[i] is None else v[i]
        return lambda v: v[i]

    def _condition(self, c: Condition) -> tuple[int, str, object]:
        idx = self.schema.index.get(c.column.lower())
        if idx is None:
            raise LoadFailure(f"emulator: where column {c.column} is not a table column")
        lit: object = c.literal
        if lit is not None:
            try:
                lit = make_converter(self.schema.columns[idx])(lit)
            except Exception:  # noqa: BLE001 - keep the literal text for the comparison
                pass
        return idx, c.op, lit

    # ------------------------------------------------------------------ per row

    def source_values(self, rec: Record) -> list[Any] | str:
        vals = rec.values
        n = len(self.source_names)
        if isinstance(vals, dict):
            out = []
            lowered: dict[str, Any] | None = None
            for name, low in zip(self.source_names, self.lower_names, strict=True):
                v = vals.get(name, vals)
                if v is vals:
                    if lowered is None:
                        lowered = {str(k).lower(): x for k, x in vals.items()}
                    v = lowered.get(low)
                out.append(v)
            return out
        assert isinstance(vals, list)
        if self.params.format == "csv":
            if len(vals) != n:
                return f"Value count does not match column count. Expect {n}, but got {len(vals)}"
            return vals
        # jsonpaths results map in order onto the source names; missing ones are NULL (§6.2)
        return (vals + [None] * (n - len(vals)))[:n] if len(vals) != n else vals

    def apply(self, rec: Record) -> tuple[int, tuple[Any, ...]] | str | None:
        src = self.source_values(rec)
        if isinstance(src, str):
            return src
        out: list[Any] = []
        strict = self.params.strict_mode
        for col, getter, conv, default in zip(self.schema.columns, self.getters, self.converters,
                                              self.defaults, strict=True):
            raw = getter(src) if getter is not None else default
            if raw is None:
                if not col.nullable and (getter is not None or not self.params.partial_update):
                    return f"NULL value in non-nullable column '{col.name}'"
                out.append(None)
                continue
            val, reason = convert_cell(col, conv, raw, strict)
            if reason is not None:
                return reason
            out.append(val)
        op = 0 if rec.op is None else rec.op
        if self.op_getter is not None and rec.op is None:
            raw_op = self.op_getter(src)
            if raw_op is not None:
                key = raw_op.lower() if isinstance(raw_op, str) else raw_op
                if isinstance(key, bool) or key not in _OPS:
                    return f"Invalid {OP_NAME} value: {raw_op}. Must be 0 (upsert) or 1 (delete)"
                op = _OPS[key]
        row = tuple(out)
        for idx, cmp, lit in self.conditions:
            if not _test(row[idx], cmp, lit):
                return None
        return op, row


def _test(v: Any, op: str, lit: Any) -> bool:
    if op == "ISNULL":
        return v is None
    if op == "NOTNULL":
        return v is not None
    if v is None or lit is None:
        return False
    try:
        if op == "=":
            return bool(v == lit)
        if op == "!=":
            return bool(v != lit)
        if op == "<":
            return bool(v < lit)
        if op == "<=":
            return bool(v <= lit)
        if op == ">":
            return bool(v > lit)
        return bool(v >= lit)
    except TypeError:
        return False


MERGE_MISSING = ("Merge condition column {col} does not exist. If you are doing partial update with condition "
                 "update, please check condition column is in the given update columns. Otherwise please check "
                 "condition column is in table {table}")
SORT_KEY_PARTIAL = "table with sort key do not support partial update"


def _check_defaults(schema: TableSchema, mapped: frozenset[int]) -> None:
    """A full-row load must fill every NOT NULL column without a DEFAULT (FE planning: ANALYSIS_ERROR)."""
    for i, c in enumerate(schema.columns):
        if i not in mapped and not c.nullable and c.default is None:
            raise LoadFailure(f"Column has no default value. column: {c.name}", code="ANALYSIS_ERROR")


def _check_sort_key(schema: TableSchema, p: LoadParams, mapped: frozenset[int]) -> None:
    """A partial update of a table whose ORDER BY is not its key (test_partial_update_upsert): column mode
    refuses a sort key with a non-key column; row mode needs every sort-key column in the load."""
    if not (p.partial_update and schema.is_primary and schema.sort_key) or len(mapped) == len(schema.columns):
        return
    keys = {k.lower() for k in schema.key_columns}
    given = {schema.columns[i].name.lower() for i in mapped}
    sort = [k.lower() for k in schema.sort_key]
    if (any(k not in keys for k in sort) if p.partial_update_mode == "column"
            else not all(k in given for k in sort)):
        raise LoadFailure(SORT_KEY_PARTIAL)


def _merge_index(schema: TableSchema, p: LoadParams, mapped: frozenset[int]) -> int | None:
    """The merge_condition column (test_condition_update's refusals); None when not applied: none given,
    not a PRIMARY KEY table, or a column-mode partial update (which loads regardless of it)."""
    if not p.merge_condition:
        return None
    idx = schema.index.get(p.merge_condition.lower())
    if idx is not None and schema.columns[idx].name.lower() in {k.lower() for k in schema.key_columns}:
        raise LoadFailure(f"Merge condition column {p.merge_condition} should not be primary key!")
    if idx is None or (p.partial_update and idx not in mapped):
        raise LoadFailure(MERGE_MISSING.format(col=p.merge_condition, table=schema.name))
    if not schema.is_primary or (p.partial_update and p.partial_update_mode == "column"):
        return None
    return idx
