"""DDL over the MySQL front, parsed by sqlglot's StarRocks dialect (MYSQL.md §4).

:func:`create_table` turns a ``CREATE TABLE`` tree into the :class:`.schema.TableSchema` every Stream
Load is checked against, plus the :class:`TableMeta` that ``SHOW CREATE TABLE`` and the schema change
jobs need (PROPERTIES, DISTRIBUTED BY, comments). :func:`add_columns` reads ``ALTER TABLE ... ADD
COLUMN``: the single form from sqlglot's tree, the parenthesised several-column form (which sqlglot
leaves as an opaque command) from its tokens, the column list parsed as a table's column list;
:func:`modify_columns` reads ``ALTER TABLE ... MODIFY COLUMN`` clauses from sqlglot's tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from .coltypes import from_datatype, not_null
from .errors import DdlError
from .schema import Column, TableSchema
from .sqlnames import ERR_PARSE, SqlError, check_column_name, check_db_name, check_table_name, unsupported

DIALECT = "starrocks"
_KEYS: dict[type[exp.Expression], str] = {exp.DuplicateKeyProperty: "DUPLICATE", exp.UniqueKeyProperty: "UNIQUE"}


@dataclass
class TableMeta:
    """What a table has beyond its typed columns (``SHOW CREATE TABLE``, schema change jobs)."""
    properties: dict[str, str] = field(default_factory=dict)
    distribution: str = "DISTRIBUTED BY RANDOM"
    clauses: list[str] = field(default_factory=list)       # PARTITION BY / ORDER BY as written
    comment: str = ""
    column_comments: dict[str, str] = field(default_factory=dict)

    @property
    def fast_schema_evolution(self) -> bool:
        return self.properties.get("fast_schema_evolution", "").strip().lower() == "true"


@dataclass(frozen=True)
class TableRef:
    db: str | None
    name: str


def syntax_error(sql: str, exc: Exception) -> SqlError:
    """StarRocks' wording: ``Getting syntax error at line L, column C. Detail message: ...``."""
    errors = getattr(exc, "errors", None) or [{}]
    first = errors[0]
    where = f" at line {first['line']}, column {first['col']}" if first.get("line") else ""
    detail = first.get("description") or str(exc).split("\n")[0]
    return SqlError(ERR_PARSE, f"Getting syntax error{where}. Detail message: {detail}.")


def is_add_columns_multi(tokens: list[Token]) -> bool:
    """``ALTER TABLE ... ADD COLUMN (`` (sqlglot cannot parse the parenthesised form)."""
    for i in range(len(tokens) - 2):
        if _word(tokens[i], "ADD") and tokens[i + 1].token_type == TokenType.COLUMN:
            return tokens[0].token_type == TokenType.ALTER and tokens[i + 2].token_type == TokenType.L_PAREN
    return False


def table_ref(node: exp.Expression) -> TableRef:
    """``[db.]table`` of a Table node, both names checked (§3)."""
    if not isinstance(node, exp.Table) or not node.name:
        raise unsupported(f"this table reference ({node.sql(DIALECT)})")
    if node.args.get("catalog"):
        raise unsupported("a catalog-qualified table name")
    db = node.text("db") or None
    return TableRef(check_db_name(db) if db else None, check_table_name(node.name))


def create_table(tree: exp.Create) -> tuple[TableRef, TableSchema, TableMeta]:
    schema_node = tree.this
    if not isinstance(schema_node, exp.Schema):
        raise unsupported("CREATE TABLE without a column list (CREATE TABLE AS SELECT, LIKE)")
    ref = table_ref(schema_node.this)
    meta = TableMeta()
    columns: list[Column] = []
    keys_type = "DUPLICATE"
    keys: tuple[str, ...] = ()
    sort: list[tuple[str, ...]] = []
    for item in schema_node.expressions:
        if isinstance(item, exp.ColumnDef):
            col, comment = column_def(item, ref.name)
            columns.append(col)
            if comment:
                meta.column_comments[col.name] = comment
        elif isinstance(item, exp.PrimaryKey):
            keys_type, keys = "PRIMARY", tuple(e.name for e in item.expressions)
        else:
            raise unsupported(f"{item.sql(DIALECT)!r} in a column list")
    for prop in (tree.args.get("properties") or exp.Properties(expressions=[])).expressions:
        got = _table_property(prop, meta, sort)
        if got is not None:
            keys_type, keys = got
    return ref, _schema(ref, columns, keys_type, keys, sort[0] if sort else ()), meta


def metas_of(text: str) -> list[tuple[str | None, str, TableMeta]]:
    """``(db, table, meta)`` of each CREATE TABLE in DDL text that sqlglot reads (others skipped)."""
    try:
        trees = sqlglot.parse(text, read=DIALECT)
    except Exception:  # noqa: BLE001 - best effort: schema.py already accepted this DDL
        return []
    out = []
    for tree in trees:
        if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper() == "TABLE":
            try:
                ref, _schema_, meta = create_table(tree)
            except SqlError:
                continue
            out.append((ref.db, ref.name, meta))
    return out


def _sort_key(order: exp.Order) -> tuple[str, ...]:
    names: list[str] = []
    for o in order.expressions:
        node = o.this if isinstance(o, exp.Ordered) else o
        if isinstance(node, exp.Paren) and not node.expressions:     # ORDER BY (c): one column in a Paren
            node = node.this
        items = node.expressions if isinstance(node, exp.Tuple | exp.Paren) else [node]
        names += [(e.this if isinstance(e, exp.Paren) else e).name for e in items]
    return tuple(names)


def _table_property(prop: exp.Expression, meta: TableMeta,
                    sort: list[tuple[str, ...]]) -> tuple[str, tuple[str, ...]] | None:
    if isinstance(prop, exp.Order):
        sort.append(_sort_key(prop))
    if isinstance(prop, exp.DistributedByProperty) and isinstance(prop.args.get("order"), exp.Order):
        sort.append(_sort_key(prop.args["order"]))      # sqlglot reads ORDER BY after DISTRIBUTED BY there
    if type(prop) in _KEYS:
        return _KEYS[type(prop)], tuple(e.name for e in prop.expressions)
    if isinstance(prop, exp.AggregateKeyProperty):
        raise unsupported("AGGREGATE KEY tables")
    if isinstance(prop, exp.DistributedByProperty):
        meta.distribution = prop.sql(DIALECT, identify=True)
    elif isinstance(prop, exp.SchemaCommentProperty):
        meta.comment = prop.this.name
    elif isinstance(prop, exp.Property) and isinstance(prop.this, exp.Literal):
        meta.properties[prop.this.name] = prop.text("value")
    elif not isinstance(prop, exp.EngineProperty):
        meta.clauses.append(prop.sql(DIALECT, identify=True))
    return None


def _schema(ref: TableRef, columns: list[Column], keys_type: str, keys: tuple[str, ...],
            sort_key: tuple[str, ...]) -> TableSchema:
    if not columns:
        raise SqlError(1113, "A table must have at least 1 column")
    seen: set[str] = set()
    for c in columns:
        if c.name.lower() in seen:
            raise SqlError(1060, f"Duplicate column name '{c.name}'")
        seen.add(c.name.lower())
    for k in keys:
        if k.lower() not in seen:
            raise SqlError(ERR_PARSE, f"Unknown column '{k}' in '{ref.name}'")
    if keys_type != "DUPLICATE":       # key columns of PK/UNIQUE tables are NOT NULL (as schema.py)
        lower = {k.lower() for k in keys}
        columns = [not_null(c) if c.name.lower() in lower else c for c in columns]
    return TableSchema(ref.name, tuple(columns), keys_type, keys, ref.db, sort_key)


def column_def(node: exp.ColumnDef, table: str, *, adding: bool = False) -> tuple[Column, str]:
    """A column definition → (:class:`Column`, its COMMENT)."""
    name = check_column_name(node.name)
    kind = node.args.get("kind")
    if not isinstance(kind, exp.DataType):
        raise SqlError(ERR_PARSE, f"Getting syntax error. Detail message: column '{name}' has no type.")
    nullable, default, comment = True, None, ""
    for c in node.constraints:
        k = c.kind
        if isinstance(k, exp.NotNullColumnConstraint):
            nullable = bool(k.args.get("allow_null"))
        elif isinstance(k, exp.DefaultColumnConstraint):
            default = None if isinstance(k.this, exp.Null) else (
                k.this.name if isinstance(k.this, exp.Literal) else k.this.sql(DIALECT))
        elif isinstance(k, exp.CommentColumnConstraint):
            comment = k.this.name
        elif isinstance(k, exp.PrimaryKeyColumnConstraint) and adding:
            raise unsupported("ADD COLUMN ... KEY (a key column)")
    if adding and node.args.get("position"):
        raise unsupported("ADD COLUMN ... FIRST / AFTER (columns are added last)")
    try:
        return from_datatype(name, kind, nullable=nullable, default=default, table=table), comment
    except DdlError as exc:
        raise SqlError(ERR_PARSE, f"emulator: {exc}") from None


def add_columns_single(tree: exp.Alter) -> tuple[TableRef, list[exp.ColumnDef]]:
    """``ALTER TABLE t ADD COLUMN c ... [, ADD COLUMN d ...]`` as sqlglot parses it."""
    defs = []
    for action in tree.args.get("actions") or ():
        if not isinstance(action, exp.ColumnDef):
            raise unsupported(f"ALTER TABLE {action.sql(DIALECT)}")
        defs.append(action)
    if not defs:
        raise unsupported("this ALTER TABLE")
    return table_ref(tree.this), defs


def modify_columns(tree: exp.Alter) -> tuple[TableRef, list[tuple[exp.ColumnDef, bool]]] | None:
    """``ALTER TABLE t MODIFY COLUMN c type ... [, MODIFY COLUMN d ...]``: the column definitions, each
    with whether it says KEY; None when the ALTER has no MODIFY COLUMN clause."""
    actions = list(tree.args.get("actions") or ())
    if not any(isinstance(a, exp.ModifyColumn) for a in actions):
        return None
    if not all(isinstance(a, exp.ModifyColumn) and isinstance(a.this, exp.ColumnDef) for a in actions):
        raise unsupported("MODIFY COLUMN beside other clauses in one ALTER TABLE")
    out = []
    for action in actions:
        node = action.this
        if node.args.get("position"):
            raise unsupported("MODIFY COLUMN ... FIRST / AFTER (moving a column)")
        key = any(isinstance(c.kind, exp.PrimaryKeyColumnConstraint) for c in node.constraints)
        out.append((node, key))
    return table_ref(tree.this), out


def add_columns_multi(sql: str, tokens: list[Token]) -> tuple[TableRef, list[exp.ColumnDef]]:
    """``ALTER TABLE [db.]t ADD COLUMN (c1 ..., c2 ...)``, from the statement's tokens."""
    kinds = [t.token_type for t in tokens]
    i, parts = 2, []
    if kinds[:2] != [TokenType.ALTER, TokenType.TABLE]:
        raise unsupported("this ALTER statement")
    while i < len(tokens) and kinds[i] != TokenType.L_PAREN and not _word(tokens[i], "ADD"):
        if kinds[i] != TokenType.DOT:
            parts.append(tokens[i].text)
        i += 1
    if (len(parts) not in (1, 2) or i + 2 >= len(tokens) or not _word(tokens[i], "ADD")
            or kinds[i + 1] != TokenType.COLUMN or kinds[i + 2] != TokenType.L_PAREN):
        raise unsupported("this ALTER TABLE form (ADD COLUMN and ADD COLUMN (...) are)")
    depth, start, end = 0, i + 2, -1
    for j in range(start, len(tokens)):
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(kinds[j], 0)
        if depth == 0:
            end = j
            break
    if end < 0 or end != len(tokens) - 1:
        raise unsupported("anything after ADD COLUMN (...)")
    inner = sql[tokens[start].end + 1:tokens[end].start]
    try:
        wrapped = sqlglot.parse_one(f"CREATE TABLE _emulator_ ({inner})", read=DIALECT)
    except (ParseError, TokenError) as exc:
        raise syntax_error(sql, exc) from None
    defs = [e for e in wrapped.this.expressions if isinstance(e, exp.ColumnDef)]
    if len(defs) != len(wrapped.this.expressions):
        raise unsupported("a key or index inside ADD COLUMN (...)")
    db = check_db_name(parts[0]) if len(parts) == 2 else None
    return TableRef(db, check_table_name(parts[-1])), defs


def _word(tok: Token, word: str) -> bool:
    """``tok`` is the keyword ``word`` (not a backquoted name that reads the same)."""
    return tok.token_type != TokenType.IDENTIFIER and tok.text.upper() == word
