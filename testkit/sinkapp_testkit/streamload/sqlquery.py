"""``SELECT`` over the emulator's tables, run by sqlglot's Python executor (MYSQL.md §5).

The statement is parsed by sqlglot's StarRocks dialect; every table it names is qualified with the
session's database, ``*`` is expanded to the table's columns in DDL order, column names are matched
case-insensitively (as StarRocks does), and the plan runs over the stored rows with sqlglot's
executor: column lists, WHERE, ORDER BY, LIMIT, GROUP BY, aggregates (``count(*)``, ``sum``, ...),
scalar subqueries and the functions of sqlglot's executor plus :data:`EXTRA_FUNCTIONS`. A column of a
table keeps its type on the wire (:mod:`.sqlvalues`); computed values are typed from what they are.

A function the executor lacks fails with ``emulator: function X is not supported`` (1235); a column that
is not there with StarRocks' "cannot be resolved" text (1064).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.errors import ExecuteError, OptimizeError, SqlglotError
from sqlglot.executor.python import PythonExecutor
from sqlglot.executor.table import ensure_tables
from sqlglot.optimizer import optimize
from sqlglot.planner import Plan

from .coltypes import Column
from .sqlddl import DIALECT, table_ref
from .sqlnames import ERR_PARSE, SqlError, unsupported
from .sqlvalues import computed_column, render, result_column

if TYPE_CHECKING:
    from .schema import TableSchema
    from .sqlcatalog import SqlCatalog


def _hex(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, int):
        return format(v, "X")
    return (v if isinstance(v, bytes) else str(v).encode()).hex().upper()


EXTRA_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "HEX": _hex,
    "IFNULL": lambda a, b: b if a is None else a,
}
_SQL_TYPE = {"LARGEINT": "DECIMAL(38, 0)", "STRING": "VARCHAR", "JSON": "VARCHAR", "ARRAY": "VARCHAR",
             "MAP": "VARCHAR", "STRUCT": "VARCHAR"}


class Source:
    """The tables a statement reads: their schemas and rows (column names lower-cased)."""

    def __init__(self, cat: SqlCatalog, db: str | None) -> None:
        self.cat, self.db = cat, db
        self.schemas: dict[tuple[str, str], TableSchema] = {}

    def bind(self, tree: exp.Expression) -> exp.Expression:
        """Qualify every table with its database, lower-case column names, expand ``*``."""
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        for node in tree.find_all(exp.Table):
            if node.name in ctes and not node.text("db"):
                continue
            ref = table_ref(node)
            db = self.cat.check_db(ref.db or self.db)
            self.schemas[(db, ref.name)] = self.cat.schema(db, ref.name)
            node.set("db", exp.to_identifier(db, quoted=True))
            node.set("this", exp.to_identifier(ref.name, quoted=True))
        for col in tree.find_all(exp.Column):
            col.set("this", exp.to_identifier(col.name.lower()))
        if isinstance(tree, exp.Select) and len(self.schemas) == 1:
            schema = next(iter(self.schemas.values()))
            out: list[exp.Expression] = []
            for e in tree.expressions:
                out += [exp.column(c.name.lower()) for c in schema.columns] if isinstance(e, exp.Star) else [e]
            tree.set("expressions", out)
        return tree

    def tables(self) -> tuple[dict[str, Any], dict[str, Any]]:
        data: dict[str, Any] = {}
        types: dict[str, Any] = {}
        for (db, name), schema in self.schemas.items():
            names, rows = self.cat.rows(db, name, None)
            lower = [n.lower() for n in names]
            data.setdefault(db, {})[name] = [dict(zip(lower, r, strict=True)) for r in rows]
            types.setdefault(db, {})[name] = {c.name.lower(): _SQL_TYPE.get(c.type, c.type) for c in schema.columns}
        return data, types

    def column(self, node: exp.Expression) -> Column | None:
        """The table column a projection is, when it is one."""
        if not isinstance(node, exp.Column):
            return None
        for (_db, name), schema in self.schemas.items():
            if node.table in ("", name) and node.name.lower() in schema.index:
                return schema.columns[schema.index[node.name.lower()]]
        return None


def execute(source: Source, tree: exp.Expression) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a bound query; ``(output names, raw rows)``."""
    data, types = source.tables()
    try:
        optimized = optimize(tree, schema=types, leave_tables_isolated=True, dialect=DIALECT)
        result = PythonExecutor(env=EXTRA_FUNCTIONS, tables=ensure_tables(data, dialect=DIALECT)).execute(
            Plan(optimized))
    except OptimizeError as exc:
        raise SqlError(ERR_PARSE, f"Getting analyzing error. Detail message: {exc}.") from None
    except ExecuteError as exc:
        missing = re.search(r"name '(\w+)' is not defined", str(exc))
        if missing:
            raise unsupported(f"function {missing.group(1).lower()}()") from None
        raise SqlError(ERR_PARSE, f"emulator: the query failed in sqlglot's executor: {exc}") from None
    except SqlglotError as exc:
        raise unsupported(f"this query ({exc})") from None
    return list(result.columns), [tuple(r) for r in result.rows]


def select(cat: SqlCatalog, tree: exp.Select, db: str | None) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """A SELECT that reads tables: ``(rows, result columns)`` for mysql-mimic."""
    if not cat.cluster.catalog.store_rows:
        raise unsupported("SELECT over rows of an emulator that keeps no rows (store_rows=False)")
    source = Source(cat, db)
    bound = source.bind(tree.copy())
    names, rows = execute(source, bound)
    exprs = bound.expressions if isinstance(bound, exp.Select) else []
    cols: list[Column | None] = [source.column(e) for e in exprs] if len(exprs) == len(names) else \
        [None] * len(names)
    out_names = [e.alias_or_name for e in exprs] if len(exprs) == len(names) else names
    result = [result_column(n, c) if c is not None else computed_column(n, [r[i] for r in rows])
              for i, (n, c) in enumerate(zip(out_names, cols, strict=True))]
    return [tuple(render(c, v) for c, v in zip(cols, r, strict=True)) for r in rows], result
