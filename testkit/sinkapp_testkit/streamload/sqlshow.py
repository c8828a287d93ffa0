"""What the MySQL front shows of a table (MYSQL.md §5): ``DESC``, ``SHOW CREATE TABLE``, the rows
of ``information_schema.COLUMNS``, and table rows for ``SELECT * ... LIMIT``.

Types are shown as StarRocks shows them: ``STRING`` is ``VARCHAR(65533)``; ``DESC`` writes the type
upper-case with its arguments, ``information_schema.COLUMNS`` has ``DATA_TYPE`` (``bigint``) and
``COLUMN_TYPE`` (``bigint(20)``, MySQL display widths for integers).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import orjson

from .schema import Column, TableSchema
from .sqlddl import TableMeta
from .sqlnames import quote

DESC_COLUMNS = ["Field", "Type", "Null", "Key", "Default", "Extra"]
_INT_WIDTH = {"TINYINT": 4, "SMALLINT": 6, "INT": 11, "BIGINT": 20, "LARGEINT": 40}
_KEY_MARK = {"PRIMARY": "PRI", "UNIQUE": "UNI", "DUPLICATE": "DUP"}


def type_text(c: Column) -> str:
    """``VARCHAR(20)``, ``DECIMAL(10,2)``, ``BIGINT``: the type as DESC and SHOW CREATE TABLE show it."""
    if c.type in ("CHAR", "VARCHAR", "STRING"):
        return f"{'CHAR' if c.type == 'CHAR' else 'VARCHAR'}({c.length})"
    if c.type == "DECIMAL":
        return f"DECIMAL({c.precision},{c.scale})"
    return c.type


def _data_type(c: Column) -> str:
    return {"STRING": "varchar"}.get(c.type, c.type.lower())


def _column_type(c: Column) -> str:
    if c.type in _INT_WIDTH:
        return f"{c.type.lower()}({_INT_WIDTH[c.type]})"
    return type_text(c).lower()


def _keys(schema: TableSchema) -> set[str]:
    return {k.lower() for k in schema.key_columns}


def desc_rows(schema: TableSchema) -> list[tuple[Any, ...]]:
    keys = _keys(schema)
    return [(c.name, type_text(c), "YES" if c.nullable else "NO",
             "true" if c.name.lower() in keys else "false", c.default, "") for c in schema.columns]


def info_schema_rows(db: str, schema: TableSchema, meta: TableMeta) -> list[tuple[Any, ...]]:
    """One ``information_schema.COLUMNS`` row per column, in mysql-mimic's column order."""
    keys, mark = _keys(schema), _KEY_MARK[schema.keys_type]
    out = []
    for pos, c in enumerate(schema.columns, 1):
        chars = c.length if c.type in ("CHAR", "VARCHAR", "STRING") else None
        numeric = c.precision if c.type == "DECIMAL" else (_INT_WIDTH[c.type] - 1 if c.type in _INT_WIDTH
                                                           else None)
        out.append(("def", db, schema.name, c.name, pos, c.default, "YES" if c.nullable else "NO",
                    _data_type(c), chars, chars, numeric, c.scale if c.type == "DECIMAL" else None,
                    0 if c.type == "DATETIME" else None, "utf8" if chars else None,
                    "utf8_general_ci" if chars else None, _column_type(c),
                    mark if c.name.lower() in keys else "", "", "select,insert,update,references",
                    meta.column_comments.get(c.name, ""), None, None))
    return out


def _string(s: str) -> str:
    """A double-quoted string as SHOW CREATE TABLE writes them."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def show_create(schema: TableSchema, meta: TableMeta) -> str:
    lines = []
    for c in schema.columns:
        default = "" if c.default is None else f" DEFAULT {_string(c.default)}"
        comment = _string(meta.column_comments.get(c.name, ""))
        lines.append(f"  {quote(c.name)} {type_text(c)} {'NULL' if c.nullable else 'NOT NULL'}{default}"
                     f" COMMENT {comment}")
    keys = ", ".join(quote(k) for k in schema.key_columns)
    text = f"CREATE TABLE {quote(schema.name)} (\n" + ",\n".join(lines) + "\n) ENGINE=OLAP \n"
    if keys:
        text += f"{schema.keys_type} KEY({keys})\n"
    text += f"COMMENT {_string(meta.comment or 'OLAP')}\n"
    for clause in meta.clauses:
        text += clause + "\n"
    text += meta.distribution + "\n"
    props = {"replication_num": "1", **meta.properties}
    text += "PROPERTIES (\n" + ",\n".join(f"{_string(k)} = {_string(v)}" for k, v in props.items()) + "\n);"
    return text


def cell(v: Any) -> Any:
    """A stored value as the text protocol sends it (JSON as its text, DATETIME as MySQL writes it)."""
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date | decimal.Decimal) or (isinstance(v, int) and not -2**63 <= v < 2**63):
        return str(v)
    return v
