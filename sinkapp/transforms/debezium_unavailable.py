"""Debezium's unavailable-value placeholder: found in a row image, taken out, the row marked.

Who calls: :mod:`sinkapp.transforms.debezium` for each row image it emits. PostgreSQL with the default
``REPLICA IDENTITY`` does not write a TOASTed value (a large text, bytea, JSON or array) into the WAL
when an update leaves it unchanged, and Debezium sends its ``unavailable.value.placeholder``
(default ``__debezium_unavailable_value``) for that column instead: as text for text and JSON
columns, as the placeholder's bytes for bytea (base64 text in Connect JSON, bytes in Avro), and as a
one-element array of it for arrays. Loading that would overwrite the stored value with the
placeholder. So the column is taken out of the row and the row is marked with what it lacks and the
columns of its key (:mod:`sinkapp.pipeline.partial` loads it as a partial update). Deletes only need
their key: the placeholder is dropped from them without a mark.
"""

from __future__ import annotations

import base64
from typing import Any, NamedTuple

import orjson

from sinkapp.transforms.base import UNAVAILABLE_KEY

DEFAULT = "__debezium_unavailable_value"


class Placeholder(NamedTuple):
    text: str
    b64: str
    raw: bytes

    @classmethod
    def of(cls, text: str | None) -> Placeholder:
        text = text or DEFAULT
        return cls(text, base64.b64encode(text.encode()).decode(), text.encode())

    def matches(self, value: Any) -> bool:
        kind = type(value)
        if kind is str:
            return value == self.text or value == self.b64
        if kind is bytes:
            return value == self.raw
        if kind is list:
            return bool(value) and all(self.matches(v) for v in value)
        return False


def key_columns(key: bytes | None) -> list[str] | None:
    """The field names of a Debezium record key in JSON (with or without the Connect schema
    envelope): the table's primary key columns. None for a key that is not a JSON object."""
    if not key:
        return None
    try:
        doc = orjson.loads(key)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict) and set(doc) == {"schema", "payload"}:
        doc = doc["payload"]
    return list(doc) if isinstance(doc, dict) and doc else None


def take_out(row: dict[str, Any], ph: Placeholder, key: bytes | None, mark: bool) -> dict[str, Any]:
    """``row`` without its placeholder columns; marked (``mark``) when it had any."""
    gone = [k for k, v in row.items() if ph.matches(v)]
    if not gone:
        return row
    for k in gone:
        del row[k]
    if mark:
        row[UNAVAILABLE_KEY] = {"columns": gone, "key": key_columns(key)}
    return row
