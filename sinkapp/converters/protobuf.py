"""``io.confluent.connect.protobuf.ProtobufConverter``: Confluent-framed Protobuf → Python dicts.

Who calls: the route sink (``prepare`` per batch, ``decode`` per record; see
:mod:`sinkapp.converters.registry`).

Wire format after the 5-byte header: the message-index list (zigzag varint count, then that many
zigzag varint indexes: the path from a top-level message of the .proto file down its nested
messages; a single ``0`` byte means ``[0]``, the first message), then the protobuf bytes.

The registry serves the schema as .proto text, turned into a ``FileDescriptorProto`` by
:mod:`sinkapp.converters.protobuf_schema`. Imports resolve to the schema's registry references, the
google/protobuf well-known types, ``confluent/meta.proto``, ``confluent/type/decimal.proto`` and
``google/type/{date,timeofday}.proto``. Not supported: proto2 groups and editions (the schema is
refused with a message), extensions (ignored).

Records become dicts keyed by the .proto field names. Every field is present: a scalar without
presence carries its default (``0``, ``""``, as Kafka Connect's converter does), an unset field
with presence is ``None``. int64 stay ints, enums become their names, bytes stay bytes (the
encoder base64s them), ``google.protobuf.Timestamp`` becomes ``YYYY-MM-DD HH:MM:SS[.ffffff]``
(UTC), wrappers their plain value, ``confluent.type.Decimal`` decimal text, ``google.type.Date``
``YYYY-MM-DD``; other well-known types use their JSON mapping (Struct → dict, Duration → "1.5s").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message

from sinkapp.config.types import ConverterSettings
from sinkapp.converters.protobuf_schema import BUILTIN_TEXT, WKT_FILES, parse_proto
from sinkapp.converters.registry import RegistryConverter, RegistrySchema, registry_from_settings
from sinkapp.converters.simple import decimal_text, format_datetime
from sinkapp.errors import ConversionError


# -- message → dict ------------------------------------------------------------------------------
def _decimal(m: Any) -> str:
    return decimal_text(int.from_bytes(m.value, "big", signed=True), m.scale)


def _wrapped(m: Any) -> Any:
    return m.value


def _json_mapping(m: Any) -> Any:
    return json_format.MessageToDict(m)


_WRAPPERS = {f"google.protobuf.{n}Value" for n in
             ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")}
_SPECIAL: dict[str, Callable[[Any], Any]] = {
    "google.protobuf.Timestamp": lambda m: format_datetime(m.ToDatetime()),
    "confluent.type.Decimal": _decimal,
    "google.type.Date": lambda m: f"{m.year:04d}-{m.month:02d}-{m.day:02d}",
    "google.type.TimeOfDay":
        lambda m: f"{m.hours:02d}:{m.minutes:02d}:{m.seconds:02d}.{m.nanos // 1000:06d}",
    **dict.fromkeys(_WRAPPERS, _wrapped),
    **dict.fromkeys((f"google.protobuf.{n}" for n in
                     ("Duration", "Struct", "Value", "ListValue", "Any", "FieldMask", "Empty")), _json_mapping),
}


class _Walker:
    """Message → dict, with a per-message-type plan (field name, value function) built once."""

    def __init__(self) -> None:
        self._plans: dict[str, list[tuple[str, bool, Callable[[Any], Any]]]] = {}

    def message(self, desc: Any) -> Callable[[Any], Any]:
        special = _SPECIAL.get(desc.full_name)
        return special if special is not None else self.to_dict

    def to_dict(self, msg: Message) -> dict[str, Any]:
        plan = self._plans.get(msg.DESCRIPTOR.full_name)
        if plan is None:
            plan = self._plan(msg.DESCRIPTOR)
        out: dict[str, Any] = {}
        for name, presence, conv in plan:
            if presence and not msg.HasField(name):
                out[name] = None
            else:
                out[name] = conv(getattr(msg, name))
        return out

    def _plan(self, desc: Any) -> list[tuple[str, bool, Callable[[Any], Any]]]:
        plan: list[tuple[str, bool, Callable[[Any], Any]]] = []
        self._plans[desc.full_name] = plan     # before recursing: recursive message types
        for f in desc.fields:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                plan.append((f.name, False, _map_of(self._value(f.message_type.fields_by_name["value"]))))
            elif f.is_repeated:
                plan.append((f.name, False, _list_of(self._value(f))))
            else:
                plan.append((f.name, f.has_presence, self._value(f)))
        return plan

    def _value(self, f: Any) -> Callable[[Any], Any]:
        if f.message_type is not None:
            return self.message(f.message_type)
        if f.enum_type is not None:
            names = {v.number: v.name for v in f.enum_type.values}
            return lambda n: names.get(n, n)
        return _identity


def _identity(v: Any) -> Any:
    return v


def _list_of(one: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if one is _identity:
        return list
    return lambda values: [one(v) for v in values]


def _map_of(val: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if val is _identity:
        return dict
    return lambda entries: {k: val(v) for k, v in entries.items()}


# -- converter -----------------------------------------------------------------------------------
def read_indexes(payload: bytes) -> tuple[tuple[int, ...], int]:
    """Message-index list at the start of ``payload`` and the offset of the message bytes."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= len(payload):
                raise ConversionError("protobuf payload ends inside the message-index list")
            b = payload[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7
            if shift > 63:
                raise ConversionError("protobuf message-index list has a malformed varint")

    count = varint()
    if count == 0:
        return (0,), pos
    if count < 0 or count > 64:
        raise ConversionError(f"protobuf message-index list claims {count} entries")
    return tuple(varint() for _ in range(count)), pos


class _Schema:
    """One registry schema id: its descriptor pool and a message class per index path."""

    def __init__(self, pool: descriptor_pool.DescriptorPool, fdp: descriptor_pb2.FileDescriptorProto) -> None:
        self.pool, self.fdp = pool, fdp
        self.classes: dict[tuple[int, ...], type[Message]] = {}

    def message_class(self, indexes: tuple[int, ...], schema_id: int) -> type[Message]:
        cls = self.classes.get(indexes)
        if cls is not None:
            return cls
        names, types = [self.fdp.package] if self.fdp.package else [], self.fdp.message_type
        for i in indexes:
            if not 0 <= i < len(types):
                raise ConversionError(f"message index {list(indexes)} is not in protobuf schema id {schema_id}")
            names.append(types[i].name)
            types = types[i].nested_type
        cls = message_factory.GetMessageClass(self.pool.FindMessageTypeByName(".".join(names)))
        self.classes[indexes] = cls
        return cls


class ProtobufConverter(RegistryConverter[_Schema]):
    """Protobuf with the .proto from the registry; one descriptor pool per schema id."""

    schema_type = "PROTOBUF"
    class_name = "io.confluent.connect.protobuf.ProtobufConverter"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.walker = _Walker()

    async def _build(self, schema: RegistrySchema, msg: Any) -> _Schema:
        refs = dict(await self.fetch_references(schema, msg)) if schema.references else {}
        pool = descriptor_pool.DescriptorPool()
        added: set[str] = set()

        def add(name: str, text: str | None) -> descriptor_pb2.FileDescriptorProto | None:
            if name in added:
                return None
            added.add(name)
            if name in WKT_FILES:
                pool.AddSerializedFile(WKT_FILES[name])
                return None
            if text is None:
                text = refs[name].text if name in refs else BUILTIN_TEXT.get(name)
            if text is None:
                raise ValueError(f"it imports {name!r}, which is neither a schema reference nor a "
                                 "well-known type")
            fdp = parse_proto(text, name)
            for dep in fdp.dependency:
                add(dep, None)
            pool.Add(fdp)
            return fdp

        try:
            main = add(f"sinkapp/registry/schema-{schema.schema_id}.proto", schema.text)
        except Exception as exc:  # parser and descriptor pool raise several types
            raise ConversionError(f"protobuf schema id {schema.schema_id} cannot be used: "
                                  f"{type(exc).__name__}: {exc}") from None
        assert main is not None
        if not main.message_type:
            raise ConversionError(f"protobuf schema id {schema.schema_id} defines no message")
        return _Schema(pool, main)

    def _decode(self, entry: _Schema, schema_id: int, payload: bytes) -> Any:
        indexes, start = read_indexes(payload)
        cls = entry.message_class(indexes, schema_id)
        try:
            message = cls.FromString(payload[start:])
        except DecodeError as exc:
            raise ConversionError(f"protobuf payload ({len(payload)} bytes) of schema id {schema_id} is "
                                  f"truncated or corrupt: {exc}") from None
        return self.walker.to_dict(message)


def make_protobuf_converter(cs: ConverterSettings, **deps: Any) -> ProtobufConverter:
    """Factory for ``REGISTRY_CONVERTERS``."""
    return ProtobufConverter(registry_from_settings(cs, **deps))
