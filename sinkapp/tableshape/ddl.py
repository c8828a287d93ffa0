"""StarRocks DDL text for tables that follow the data: CREATE TABLE, ADD COLUMN and MODIFY COLUMN.

Who calls: the create/evolve flow (auto.create / auto.evolve), which sends the text over the MySQL protocol. Pure:
every name is checked (:func:`~.names.check_identifier`) and backquoted (:func:`~.names.quote`),
every type is re-parsed and range-checked (:func:`check_type`), every property is a double-quoted
string literal; each function returns single statements, no ``;``.

Table shape (docs.starrocks.io ``CREATE_TABLE`` and ``System_limit``):

- with key columns (a Debezium key struct): ``PRIMARY KEY(k…)`` and ``DISTRIBUTED BY HASH(k…)``; key
  columns go first, in key order (StarRocks wants the key a prefix of the columns), NOT NULL (a
  primary key cannot be NULL) and of a type a primary key takes (BOOLEAN, the integers, DATE,
  DATETIME, VARCHAR/STRING; FLOAT, DOUBLE, DECIMAL and JSON are refused). StarRocks limits an encoded
  key to 128 bytes by default (``primary_key_limit_size``), checked per row at load time;
- without: ``DUPLICATE KEY(c)`` on the first column whose type can be a sort key (not FLOAT,
  DOUBLE or JSON), moved first, and ``DISTRIBUTED BY RANDOM`` (random bucketing, StarRocks 3.1+);
- every other column is ``NULL``, whatever the schema says: a load with a NULL in a NOT NULL column
  filters the row, and a writer schema may later make a field optional (a compatible change) while
  the table cannot follow; ``Column.nullable`` is there for the caller's decisions;
- ``BUCKETS n`` only when given (StarRocks picks a count otherwise); ``PROPERTIES`` as given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from sinkapp.errors import ConfigError, SchemaMappingError
from sinkapp.tableshape.columns import (
    MAX_DECIMAL_PRECISION,
    MAX_VARCHAR,
    Column,
    parse_type,
)
from sinkapp.tableshape.names import check_identifier, quote

_PLAIN = frozenset({"BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT", "FLOAT", "DOUBLE", "STRING",
                    "DATE", "DATETIME", "JSON"})
_NOT_PRIMARY = frozenset({"FLOAT", "DOUBLE", "DECIMAL", "JSON"})
_NOT_SORT = frozenset({"FLOAT", "DOUBLE", "JSON"})
MAX_BUCKETS = 1024


def check_type(type_text: str, field: str) -> str:
    """The canonical text of a column type sinkapp creates (``DECIMAL(10,2)``, ``VARCHAR(36)``,
    ``BIGINT``); anything else, or parameters out of range, raises :class:`SchemaMappingError`."""
    spec = parse_type(type_text) if isinstance(type_text, str) else None
    if spec is not None and not spec.unsigned:
        if spec.base in _PLAIN and not spec.args:
            return spec.base
        if spec.base == "VARCHAR" and len(spec.args) == 1 and 1 <= spec.args[0] <= MAX_VARCHAR:
            return f"VARCHAR({spec.args[0]})"
        if spec.base == "DECIMAL" and len(spec.args) == 2:
            p, s = spec.args
            if 1 <= p <= MAX_DECIMAL_PRECISION and 0 <= s <= p:
                return f"DECIMAL({p},{s})"
    raise SchemaMappingError(f"column {field!r}: {type_text!r} is not a column type sinkapp creates", field=field)


def _definition(col: Column, key: bool) -> str:
    name = check_identifier(col.name, "column")
    return f"{quote(name)} {check_type(col.type, name)} {'NOT NULL' if key else 'NULL'}"


def _string(text: str, what: str) -> str:
    if not isinstance(text, str) or "\0" in text:
        raise ConfigError(f"table property {what} {text!r} must be text without NUL characters")
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
               .replace("\t", "\\t"))
    return f'"{escaped}"'


def _properties(properties: Mapping[str, str]) -> str:
    if not properties:
        return ""
    items = []
    for k, v in properties.items():
        if not isinstance(k, str) or not k.strip():
            raise ConfigError(f"table property name {k!r} must be non-empty text")
        items.append(f"{_string(k, 'name')} = {_string(v, 'value')}")
    return "\nPROPERTIES (" + ", ".join(items) + ")"


def _buckets(buckets: int | None) -> str:
    if buckets is None:
        return ""
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 1 <= buckets <= MAX_BUCKETS:
        raise ConfigError(f"the bucket count must be an integer from 1 to {MAX_BUCKETS}, not {buckets!r}")
    return f" BUCKETS {buckets}"


def _check_unique(columns: Sequence[Column]) -> dict[str, Column]:
    by_name: dict[str, Column] = {}
    for c in columns:
        other = by_name.get(c.name.lower())
        if other is not None:
            raise SchemaMappingError(f"fields {other.name!r} and {c.name!r} are the same StarRocks column (column "
                                     "names are case-insensitive); rename one", field=c.name)
        by_name[c.name.lower()] = c
    return by_name


def _key_columns(by_name: dict[str, Column], key: Sequence[str]) -> list[Column]:
    out = []
    for k in key:
        col = by_name.get(str(k).lower())
        if col is None:
            raise SchemaMappingError(f"key field {k!r} is not a field of the record value; the table's "
                                     "PRIMARY KEY columns must be value columns", field=str(k))
        base = parse_type(col.type)
        if base is None or base.base in _NOT_PRIMARY:
            raise SchemaMappingError(f"key field {col.name!r} is {col.type} ({col.source}): a StarRocks PRIMARY "
                                     "KEY cannot be FLOAT, DOUBLE, DECIMAL or JSON; create the table yourself",
                                     field=col.name)
        if col not in out:
            out.append(col)
    return out


def _sort_column(columns: Sequence[Column]) -> Column:
    for c in columns:
        spec = parse_type(c.type)
        if spec is not None and spec.base not in _NOT_SORT:
            return c
    raise SchemaMappingError("no field can be the table's sort key (every field is FLOAT, DOUBLE or JSON); "
                             "create the table yourself or give the route a key", field=columns[0].name)


def create_table_sql(db: str, table: str, columns: Sequence[Column], key: Sequence[str], buckets: int | None,
                     properties: Mapping[str, str]) -> str:
    """``CREATE TABLE IF NOT EXISTS `db`.`table` (...)`` for ``columns`` (see the module doc);
    ``key``: the PRIMARY KEY field names (empty: a DUPLICATE KEY table)."""
    target = f"{quote(check_identifier(db, 'database'))}.{quote(check_identifier(table, 'table'))}"
    if not columns:
        raise SchemaMappingError(f"table {table!r} would have no column: the record schema has no fields",
                                 field=table)
    by_name = _check_unique(columns)
    keys = _key_columns(by_name, key) if key else [_sort_column(columns)]
    rest = [c for c in columns if c not in keys]
    defs = [_definition(c, key=bool(key)) for c in keys] + [_definition(c, key=False) for c in rest]
    names = ", ".join(quote(c.name) for c in keys)
    shape = (f"PRIMARY KEY({names})\nDISTRIBUTED BY HASH({names})" if key
             else f"DUPLICATE KEY({names})\nDISTRIBUTED BY RANDOM")
    return (f"CREATE TABLE IF NOT EXISTS {target} (\n  " + ",\n  ".join(defs) + f"\n)\n{shape}"
            + _buckets(buckets) + _properties(properties))


def _add_clauses(db: str, table: str, columns: Sequence[Column]) -> tuple[str, list[str]]:
    """The checked ``db`.`t``` target and one ``ADD COLUMN `c` TYPE NULL`` clause per column (a
    column added to a table with rows is NULL in those rows, so it is always nullable)."""
    target = f"{quote(check_identifier(db, 'database'))}.{quote(check_identifier(table, 'table'))}"
    _check_unique(columns)
    return target, [f"ADD COLUMN {_definition(c, key=False)}" for c in columns]


def add_columns_sql(db: str, table: str, columns: Sequence[Column]) -> list[str]:
    """One ``ALTER TABLE `db`.`t` ADD COLUMN `c` TYPE NULL`` per column (the single-column form)."""
    target, clauses = _add_clauses(db, table, columns)
    return [f"ALTER TABLE {target} {c}" for c in clauses]


def add_columns_statement(db: str, table: str, columns: Sequence[Column]) -> str:
    """One ``ALTER TABLE`` adding every column, its clauses comma-separated: one schema change job
    for them all (what auto.evolve sends)."""
    target, clauses = _add_clauses(db, table, columns)
    return f"ALTER TABLE {target} " + ", ".join(clauses)


class Retype(NamedTuple):
    """One column of a ``MODIFY COLUMN``: its new ``type`` and the attributes it keeps as the table
    shows them (``information_schema.COLUMNS``: IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT)."""

    name: str
    type: str
    nullable: bool
    default: str | None = None
    comment: str = ""


def modify_columns_statement(db: str, table: str, columns: Sequence[Retype]) -> str:
    """One ``ALTER TABLE `db`.`t` MODIFY COLUMN `c` TYPE NULL|NOT NULL [DEFAULT "v"] [COMMENT "..."]``
    clause per column, comma-separated: one schema change job for them all (what auto.evolve sends to
    widen columns). StarRocks' MODIFY COLUMN changes the type only and wants the column's other
    attributes written as they are: the FE refuses a nullable column made NOT NULL and a changed
    DEFAULT ("Can not change default value"), and a COMMENT left out is not kept."""
    target = f"{quote(check_identifier(db, 'database'))}.{quote(check_identifier(table, 'table'))}"
    if not columns:
        raise SchemaMappingError(f"no column of {table!r} to modify", field=table)
    clauses = []
    for c in columns:
        name = check_identifier(c.name, "column")
        text = f"MODIFY COLUMN {quote(name)} {check_type(c.type, name)} {'NULL' if c.nullable else 'NOT NULL'}"
        if c.default is not None:
            text += f" DEFAULT {_string(c.default, 'default')}"
        if c.comment:
            text += f" COMMENT {_string(c.comment, 'comment')}"
        clauses.append(text)
    return f"ALTER TABLE {target} " + ", ".join(clauses)
