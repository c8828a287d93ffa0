"""Stored values as StarRocks' MySQL port sends them (MYSQL.md §5.1), and the result-set column types.

A column of a table keeps its type on the wire, so a client converts values as it would from StarRocks
(PyMySQL: INT → ``int``, DECIMAL → ``Decimal``, DATE → ``date``, DATETIME → ``datetime``). Values StarRocks
sends as text, as StarRocks prints them:

* BOOLEAN: ``1`` / ``0``; LARGEINT beyond 64 bits: its digits;
* JSON: ``{"a": 1, "b": [1, 2]}`` (a space after ``:`` and ``,``);
* ARRAY ``[1,2,3]`` / ``["a","b"]``, MAP ``{"a":"1","b":"2"}`` (numeric keys bare: ``{1:"a"}``), STRUCT
  ``{"f1":1,"f2":"x"}``: no spaces, strings and dates double-quoted, ``null`` inside.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

from mysql_mimic.results import ResultColumn
from mysql_mimic.types import ColumnType

from .coltypes import Column

_WIRE = {
    "BOOLEAN": ColumnType.TINY, "TINYINT": ColumnType.TINY, "SMALLINT": ColumnType.SHORT, "INT": ColumnType.LONG,
    "BIGINT": ColumnType.LONGLONG, "LARGEINT": ColumnType.VAR_STRING, "FLOAT": ColumnType.FLOAT,
    "DOUBLE": ColumnType.DOUBLE, "DECIMAL": ColumnType.NEWDECIMAL, "DATE": ColumnType.DATE,
    "DATETIME": ColumnType.DATETIME, "JSON": ColumnType.JSON,
}


def result_column(name: str, col: Column) -> ResultColumn:
    return ResultColumn(name=name, type=_WIRE.get(col.type, ColumnType.VAR_STRING))


_INFERRED = ((bool, ColumnType.TINY), (int, ColumnType.LONGLONG), (float, ColumnType.DOUBLE),
             (decimal.Decimal, ColumnType.NEWDECIMAL), (dt.datetime, ColumnType.DATETIME), (dt.date, ColumnType.DATE))


def computed_column(name: str, values: list[Any]) -> ResultColumn:
    """A computed result column (``count(1)``, ``max(amount)``, ``hex(x)``), typed from its first value."""
    first = next((v for v in values if v is not None), None)
    kind = next((t for py, t in _INFERRED if isinstance(first, py)), ColumnType.VAR_STRING)
    return ResultColumn(name=name, type=kind)


def render(col: Column | None, v: Any) -> Any:
    """A value for the wire: typed columns as Python values mysql-mimic writes as text, the rest as text."""
    if v is None:
        return None
    if col is not None and col.type == "JSON":
        return json.dumps(v, ensure_ascii=False, default=str)
    if col is not None and col.children:
        return _nested(col, v)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, int) and not -2**63 <= v < 2**63:
        return str(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    return v


def _nested(col: Column, v: Any) -> str:
    if col.type == "ARRAY":
        return "[" + ",".join(_inner(col.children[0], x) for x in v) + "]"
    if col.type == "MAP":
        key, val = col.children
        return "{" + ",".join(f"{_inner(key, k)}:{_inner(val, x)}" for k, x in v.items()) + "}"
    return "{" + ",".join(f"{json.dumps(c.name)}:{_inner(c, v.get(c.name))}" for c in col.children) + "}"


def _inner(col: Column, v: Any) -> str:
    if v is None:
        return "null"
    if col.children:
        return _nested(col, v)
    if col.type == "JSON":
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int | float | decimal.Decimal):
        return str(v)
    if isinstance(v, dt.datetime):
        return json.dumps(v.isoformat(sep=" "))
    return json.dumps(str(v), ensure_ascii=False)
