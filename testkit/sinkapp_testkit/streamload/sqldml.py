"""``INSERT INTO ... VALUES / SELECT`` and ``UPDATE`` over the MySQL front (MYSQL.md §4.4, §4.5).

Both write the way StarRocks does: one transaction (label ``insert_<uuid>``, visible in ``SHOW PROC
'/transactions/<db>/finished'``) and one data version per statement, the rows upserted by key on a
PRIMARY KEY table and appended otherwise (:meth:`.sqlcatalog.SqlCatalog.write`).

INSERT: values are converted to the column types as Stream Load converts them; the statement is strict
(StarRocks' ``enable_insert_strict``): a value that does not convert, or NULL into a NOT NULL column,
fails the whole statement and writes nothing. Columns left out of a column list take their DEFAULT
(``CURRENT_TIMESTAMP`` is the statement's time), else NULL.

UPDATE (PRIMARY KEY tables only): ``SET`` expressions and ``WHERE`` are evaluated over the stored rows by
sqlglot's executor (:mod:`.sqlquery`), scalar subqueries included. Without WHERE, StarRocks refuses the
statement unless it qualifies for a column-mode partial update (fewer than 4 columns set and under 30 %
of the table's columns); a column-mode update of a sort-key column of a table with its own ORDER BY is
refused too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .coltypes import CURRENT_TIMESTAMP, Column
from .sqlddl import table_ref
from .sqlnames import ERR_PARSE, SqlError, unsupported
from .sqlquery import Source, execute
from .types import ConvertFailure, make_converter

if TYPE_CHECKING:
    from .schema import TableSchema
    from .sqlcatalog import SqlCatalog

Row = tuple[Any, ...]
ERR_SORT_KEY = 5609     # the code StarRocks answered the sort-key refusal with (test_partial_update R file)


def analysis_error(message: str) -> SqlError:
    return SqlError(ERR_PARSE, f"Getting analyzing error. Detail message: {message}.")


def _literal(e: exp.Expression) -> tuple[bool, Any]:
    """``(True, value)`` for a literal, kept as its text (exact decimals), else ``(False, None)``."""
    if isinstance(e, exp.Null):
        return True, None
    if isinstance(e, exp.Boolean):
        return True, bool(e.this)
    if isinstance(e, exp.Literal):
        return True, e.this
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal) and not e.this.is_string:
        return True, "-" + e.this.this
    return False, None


def _values(cat: SqlCatalog, tree: exp.Insert, db: str | None) -> list[Row]:
    source = tree.expression
    if isinstance(source, exp.Values):
        rows = []
        for tup in source.expressions:
            items = tup.expressions if isinstance(tup, exp.Tuple) else [tup]
            lits = [_literal(e) for e in items]
            if all(ok for ok, _ in lits):
                rows.append(tuple(v for _, v in lits))
            else:
                src = Source(cat, db)
                _names, got = execute(src, src.bind(exp.select(*items)))
                rows.append(got[0])
        return rows
    if isinstance(source, exp.Select | exp.Union):
        src = Source(cat, db)
        return execute(src, src.bind(source.copy()))[1]
    raise unsupported(f"INSERT ... {type(source).__name__.upper()}")


def insert(cat: SqlCatalog, tree: exp.Insert, db: str | None) -> None:
    target = tree.this
    names = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else None
    ref = table_ref(target.this if isinstance(target, exp.Schema) else target)
    tdb = cat.check_db(ref.db or db)
    schema = cat.schema(tdb, ref.name)
    slots = _slots(schema, names)
    now = dt.datetime.now().replace(microsecond=0)
    ops = []
    for values in _values(cat, tree, db):
        if len(values) != len(slots):
            raise analysis_error("Column count doesn't match value count")
        given = dict(zip(slots, values, strict=True))
        ops.append((0, tuple(_cell(c, given[i] if i in given else _default(c, now))
                             for i, c in enumerate(schema.columns))))
    cat.write(tdb, ref.name, ops)


def _slots(schema: TableSchema, names: list[str] | None) -> list[int]:
    if names is None:
        return list(range(len(schema.columns)))
    slots = []
    for n in names:
        if n.lower() not in schema.index:
            raise analysis_error(f"Unknown column '{n}' in '{schema.name}'")
        slots.append(schema.index[n.lower()])
    return slots


def _default(col: Column, now: dt.datetime) -> Any:
    if col.default == CURRENT_TIMESTAMP:
        return now.isoformat(sep=" ")
    if col.default is None and not col.nullable:
        raise analysis_error(f"Column has no default value. column: {col.name}")
    return col.default


def _cell(col: Column, raw: Any) -> Any:
    if raw is None:
        if not col.nullable:
            raise SqlError(ERR_PARSE, "Insert has filtered data in strict mode. "
                                      f"NULL value in non-nullable column '{col.name}'")
        return None
    if isinstance(raw, dt.datetime):
        raw = raw.isoformat(sep=" ")
    elif isinstance(raw, dt.date | Decimal):
        raw = str(raw)
    try:
        conv = make_converter(col, "csv" if col.children else "json")   # a string literal casts to ARRAY/MAP
        return conv(raw)
    except ConvertFailure as exc:
        raise SqlError(ERR_PARSE, f"Insert has filtered data in strict mode. {exc.reason}") from None


def update(cat: SqlCatalog, tree: exp.Update, db: str | None) -> None:
    ref = table_ref(tree.this)
    tdb = cat.check_db(ref.db or db)
    schema = cat.schema(tdb, ref.name)
    if not schema.is_primary:
        raise analysis_error("only support updating primary key table")
    sets: dict[int, exp.Expression] = {}
    for eq in tree.expressions:
        name = eq.this.name
        if name.lower() not in schema.index:
            raise analysis_error(f"table '{schema.name}' do not existing column '{name}'")
        if name.lower() in {k.lower() for k in schema.key_columns}:
            raise analysis_error(f"primary key column cannot be updated: {name}")
        sets[schema.index[name.lower()]] = eq.expression
    where = tree.args.get("where")
    if where is None:
        _full_table_update(schema, sets)
    query = exp.select(*[exp.column(schema.columns[i].name) for i in range(len(schema.columns))],
                       *sets.values()).from_(tree.this.copy())
    if where is not None:
        query = query.where(where.this.copy())
    src = Source(cat, db)
    _names, got = execute(src, src.bind(query))
    n = len(schema.columns)
    ops = []
    for row in got:
        new = list(row[:n])
        for (i, _e), value in zip(sets.items(), row[n:], strict=True):
            new[i] = _cell(schema.columns[i], value)
        ops.append((0, tuple(new)))
    cat.write(tdb, ref.name, ops)


def _full_table_update(schema: TableSchema, sets: dict[int, exp.Expression]) -> None:
    """No WHERE: allowed only as a column-mode partial update (StarRocks' UpdateAnalyzer)."""
    if not (len(sets) < 4 and len(sets) < 0.3 * len(schema.columns)):
        raise analysis_error("must specify where clause to prevent full table update")
    sort = {k.lower() for k in schema.sort_key} if schema.own_sort_key else set()
    if any(schema.columns[i].name.lower() in sort for i in sets):
        raise SqlError(ERR_SORT_KEY, "column mode partial update on table with sort key cannot update "
                                     "sort key column")
