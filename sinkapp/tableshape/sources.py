"""Where a route's record schemas come from, for auto.create / auto.evolve.

Who calls: :class:`sinkapp.tableshape.shaper.RouteShape`. A source says, per record value, which
schema it was written with (``key_of``: cheap, per record) and, once per schema, the columns that
schema maps to and the record key's fields (``describe``). Registry converters: the schema id of
the Confluent frame; the parsed schema is the converter's own cache (so what is mapped is what is
decoded). JsonConverter with schemas.enable: the envelope's ``schema`` object.

With the Debezium transform the rows are the change event's ``after`` image, so the columns are
those of the envelope's ``after`` (or ``before``) struct; ``__op`` is Stream Load's pseudo column
for PRIMARY KEY tables, never a table column.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from sinkapp.errors import ConversionError
from sinkapp.tableshape import mapping

_ID = struct.Struct(">I")


@dataclass(frozen=True)
class Described:
    columns: list[mapping.Column]
    key: list[str]                  # the record key's fields: a PRIMARY KEY table's key; [] none
    what: str                       # "schema id 7", for messages
    cdc: bool = False               # a Debezium route: its table must be a PRIMARY KEY table


def _frame_id(raw: bytes | None) -> int | None:
    if raw is None or len(raw) < 5 or raw[0] != 0:
        return None
    return int(_ID.unpack_from(raw, 1)[0])


def _json_doc(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


class RegistrySource:
    """Avro, Protobuf and JSON Schema values through the Schema Registry."""

    def __init__(self, converter: Any, kind: str, debezium: list[mapping.Column] | None) -> None:
        self.converter, self.kind, self.extra = converter, kind, debezium
        self.debezium = debezium is not None

    def key_of(self, raw: bytes | None) -> Hashable | None:
        return _frame_id(raw)

    async def describe(self, record: Any) -> Described | None:
        sid = _frame_id(record.value)
        entry = self.converter.schemas.get(sid)
        if entry is None:
            return None                             # unknown or broken id: decode says why
        if self.kind == "AVRO":
            cols = mapping.avro_row(entry, self.debezium)
        elif self.kind == "PROTOBUF":
            from sinkapp.converters.protobuf import read_indexes

            indexes, _ = read_indexes(record.value[5:])
            cols = mapping.protobuf_row(entry.message_class(indexes, sid).DESCRIPTOR, self.debezium)
        else:
            got = await self._fetch(sid, record)
            cols = mapping.json_schema_row(orjson.loads(got.text) if got else {}, self.debezium)
        return Described(cols + (self.extra or []), await self._key(record), f"schema id {sid}", self.debezium)

    async def _fetch(self, sid: int | None, record: Any) -> Any:
        """The registry's schema ``sid``, registry outages waited out as the converter does."""
        return await self.converter.call(partial(self.converter.registry.by_id, sid), f"schema id {sid}", record)

    async def _key(self, record: Any) -> list[str]:
        sid = _frame_id(record.key)
        if sid is None:
            return _connect_key(record.key)
        got = await self._fetch(sid, record)
        if got is None:
            return []
        return mapping.key_fields(got.schema_type, orjson.loads(got.text))


def _connect_key(raw: bytes | None) -> list[str]:
    doc = _json_doc(raw)
    if isinstance(doc, dict) and isinstance(doc.get("schema"), dict):
        return mapping.key_fields("CONNECT", doc["schema"])
    return []


class ConnectSource:
    """JsonConverter with schemas.enable=true: every value carries ``{"schema", "payload"}``."""

    def __init__(self, debezium: list[mapping.Column] | None) -> None:
        self.extra, self.debezium = debezium, debezium is not None

    def key_of(self, raw: bytes | None) -> Hashable | None:
        doc = _json_doc(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("schema"), dict):
            return None
        return hashlib.sha1(orjson.dumps(doc["schema"], option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]

    async def describe(self, record: Any) -> Described | None:
        doc = _json_doc(record.value)
        if not isinstance(doc, dict) or not isinstance(doc.get("schema"), dict):
            return None
        schema = doc["schema"]
        if schema.get("type") != "struct":
            raise ConversionError(f"the value's Connect schema is a {schema.get('type')}, not a struct: "
                                  "auto.create needs one column per field")
        cols = mapping.connect_row(schema, self.debezium) + (self.extra or [])
        name = schema.get("name") or "unnamed"
        return Described(cols, _connect_key(record.key), f"Connect schema {name}", self.debezium)


def source_for(converter: Any, debezium: list[mapping.Column] | None) -> RegistrySource | ConnectSource:
    """``debezium``: None without a Debezium transform, else the columns it adds beside the row."""
    kind = getattr(converter, "schema_type", None)
    if kind in ("AVRO", "PROTOBUF", "JSON"):
        return RegistrySource(converter, kind, debezium)
    return ConnectSource(debezium)
