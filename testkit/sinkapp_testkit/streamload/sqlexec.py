"""One statement of the MySQL front, parsed by sqlglot (StarRocks dialect), run against the
:class:`.sqlcatalog.SqlCatalog` (MYSQL.md §4, §5).

:func:`run` returns ``(rows, column names)``, or ``None`` for what mysql-mimic's session answers
itself (``SET``, ``SELECT @@version_comment``, ``SHOW VARIABLES``, ``BEGIN``/``COMMIT``: what drivers
send on connect). Everything else on a table that this does not know raises an ``emulator:`` error.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from mysql_mimic.schema import InfoSchema, info_schema_tables
from sqlglot import exp
from sqlglot.executor import execute
from sqlglot.tokens import Token, TokenType

from . import sqldml, sqlproc, sqlquery
from .schemachange import SHOW_ALTER_COLUMNS
from .sqlcatalog import SqlCatalog
from .sqlddl import (
    DIALECT,
    add_columns_multi,
    add_columns_single,
    column_def,
    create_table,
    modify_columns,
    syntax_error,
    table_ref,
)
from .sqlnames import check_db_name, unsupported
from .sqlshow import DESC_COLUMNS, desc_rows, info_schema_rows, show_create

Result = tuple[list[tuple[Any, ...]], list[str]]
INFO_SCHEMA = "information_schema"
_OK: Result = ([], [])


async def run(cat: SqlCatalog, sql: str, tree: exp.Expression, tokens: list[Token], db: str | None) -> Result | None:
    if isinstance(tree, exp.Create):
        return _create(cat, tree, db)
    if isinstance(tree, exp.Alter):
        modify = modify_columns(tree)
        if modify is not None:
            ref, mods = modify
            cols = [(column_def(node, ref.name), key) for node, key in mods]
            cat.modify_columns(cat.check_db(ref.db or db), ref.name, cols)
            return _OK
        ref, defs = add_columns_single(tree)
        return _alter(cat, ref.db or db, ref.name, defs)
    if isinstance(tree, exp.Command):
        return _command(cat, sql, tree, tokens, db)
    if isinstance(tree, exp.Describe):
        ref = table_ref(tree.this)
        return desc_rows(cat.schema(cat.check_db(ref.db or db), ref.name)), DESC_COLUMNS
    if isinstance(tree, exp.Show):
        return _show(cat, tree, db)
    if isinstance(tree, exp.Select):
        return await _select(cat, tree, db)
    if isinstance(tree, exp.Set | exp.Transaction | exp.Commit | exp.Rollback | exp.Use):
        return None
    return _write(cat, sql, tree, db)


def _write(cat: SqlCatalog, sql: str, tree: exp.Expression, db: str | None) -> Result:
    """INSERT, UPDATE, DROP, TRUNCATE and ``sync`` (MYSQL.md §4.4-§4.6)."""
    if isinstance(tree, exp.Insert):
        sqldml.insert(cat, tree, db)
    elif isinstance(tree, exp.Update):
        sqldml.update(cat, tree, db)
    elif isinstance(tree, exp.Drop):
        _drop(cat, tree, db)
    elif isinstance(tree, exp.TruncateTable):
        for node in tree.expressions:
            ref = table_ref(node)
            cat.truncate(cat.check_db(ref.db or db), ref.name)
    elif not (isinstance(tree, exp.Column) and tree.name.lower() == "sync" and not tree.table):
        raise unsupported(f"{type(tree).__name__.upper()} ({sql.split(None, 1)[0]} ...)")
    return _OK


def _drop(cat: SqlCatalog, tree: exp.Drop, db: str | None) -> None:
    kind = str(tree.args.get("kind") or "").upper()
    exists = bool(tree.args.get("exists"))
    nodes = tree.args.get("tables") or [tree.this]
    if kind in ("DATABASE", "SCHEMA"):
        cat.drop_database(check_db_name(nodes[0].name), if_exists=exists)
    elif kind == "TABLE":
        for node in nodes:
            ref = table_ref(node)
            cat.drop_table(cat.check_db(ref.db or db), ref.name, if_exists=exists)
    else:
        raise unsupported(f"DROP {kind}")


def _create(cat: SqlCatalog, tree: exp.Create, db: str | None) -> Result:
    kind = str(tree.args.get("kind") or "").upper()
    exists = bool(tree.args.get("exists"))
    if kind in ("DATABASE", "SCHEMA"):
        cat.create_database(check_db_name(tree.this.name), if_not_exists=exists)
        return _OK
    if kind != "TABLE":
        raise unsupported(f"CREATE {kind}")
    ref, schema, meta = create_table(tree)
    cat.create_table(cat.check_db(ref.db or db), schema, meta, if_not_exists=exists)
    return _OK


def _alter(cat: SqlCatalog, db: str | None, table: str, defs: list[exp.ColumnDef]) -> Result:
    cols = [column_def(d, table, adding=True) for d in defs]
    cat.add_columns(cat.check_db(db), table, cols)
    return _OK


def _command(cat: SqlCatalog, sql: str, tree: exp.Command, tokens: list[Token], db: str | None) -> Result:
    head = str(tree.this).upper()
    if head == "ALTER":
        ref, defs = add_columns_multi(sql, tokens)
        return _alter(cat, ref.db or db, ref.name, defs)
    words = [t.text.upper() for t in tokens[:4]]
    if words == ["SHOW", "ALTER", "TABLE", "COLUMN"]:
        return _show_alter(cat, sql, tokens[4:], db)
    shown = sqlproc.show(cat, sql, tokens)
    if shown is not None:
        return shown
    raise unsupported(f"{head} ({sql[:40]})")


def _show_alter(cat: SqlCatalog, sql: str, rest: list[Token], db: str | None) -> Result:
    """``SHOW ALTER TABLE COLUMN [FROM db] [WHERE ...] [ORDER BY ...] [LIMIT n]``."""
    if rest and rest[0].token_type in (TokenType.FROM, TokenType.IN):
        if len(rest) < 2:
            raise syntax_error(sql, ValueError("a database name after FROM"))
        db, rest = check_db_name(rest[1].text), rest[2:]
    rows = cat.jobs.rows(cat.check_db(db))
    tail = sql[rest[0].start:] if rest else ""
    try:
        query = sqlglot.parse_one(f"SELECT * FROM _jobs_ {tail}", read=DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise syntax_error(sql, exc) from None
    table = [dict(zip(SHOW_ALTER_COLUMNS, r, strict=True)) for r in rows]
    if not table:
        return [], SHOW_ALTER_COLUMNS
    got = execute(query, tables={"_jobs_": table})
    return [tuple(r) for r in got.rows], SHOW_ALTER_COLUMNS


def _show(cat: SqlCatalog, tree: exp.Show, db: str | None) -> Result | None:
    kind = tree.name.upper()
    if kind == "DATABASES":
        return [(d,) for d in [INFO_SCHEMA, *cat.databases()]], ["Database"]
    if kind == "TABLES":
        name = cat.check_db(tree.text("db") or db)
        return [(t,) for t in cat.tables(name)], [f"Tables_in_{name}"]
    if kind in ("CREATE TABLE", "COLUMNS"):
        name, table = cat.check_db(tree.text("db") or db), tree.text("target")
        schema = cat.schema(name, table)
        if kind == "COLUMNS":
            return desc_rows(schema), DESC_COLUMNS
        return [(table, show_create(schema, cat.meta_of(name, table)))], ["Table", "Create Table"]
    return None


async def _select(cat: SqlCatalog, tree: exp.Select, db: str | None) -> Result | None:
    source = tree.args.get("from_") or tree.args.get("from")
    if source is None:
        return None
    node = source.this
    if not isinstance(node, exp.Table):
        raise unsupported("SELECT from a subquery")
    if (node.text("db") or db or "").lower() == INFO_SCHEMA:
        return await _info_schema(cat, tree)
    ref = table_ref(node)
    name = cat.check_db(ref.db or db)
    extra = [k for k, v in tree.args.items() if v and k not in ("expressions", "from_", "from")]
    exprs = tree.expressions
    if not extra and len(exprs) == 1 and isinstance(exprs[0], exp.Count) and isinstance(exprs[0].this, exp.Star):
        return [(cat.count(name, ref.name),)], [exprs[0].alias or "count(*)"]    # also without stored rows
    return sqlquery.select(cat, tree, db)


async def _info_schema(cat: SqlCatalog, tree: exp.Select) -> Result:
    tables = info_schema_tables([])
    columns = tables[INFO_SCHEMA]["columns"]
    for db in cat.databases():
        for name in cat.tables(db):
            for row in info_schema_rows(db, cat.schema(db, name), cat.meta_of(db, name)):
                columns.append(row)
    rows, names = await InfoSchema(tables).query(tree)  # type: ignore[misc]
    exprs = tree.expressions
    if len(exprs) == len(names) and not any(isinstance(e, exp.Star) for e in exprs):
        names = [e.alias_or_name for e in exprs]
    else:
        names = [str(n).upper() for n in names]
    return [tuple(r) for r in rows], list(names)
