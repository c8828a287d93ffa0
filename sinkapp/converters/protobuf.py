"""``io.confluent.connect.protobuf.ProtobufConverter``: Confluent-framed Protobuf → Python dicts.

Who calls: the route sink (``prepare`` per batch, ``decode`` per record; see
:mod:`sinkapp.converters.registry`).

Wire format after the 5-byte header: the message-index list (zigzag varint count, then that many
zigzag varint indexes: the path from a top-level message of the .proto file down its nested
messages; a single ``0`` byte means ``[0]``, the first message), then the protobuf bytes.

The registry serves the schema as .proto text. The ``protobuf`` runtime cannot parse text, so the
text is parsed with the pure-Python ``proto-schema-parser`` and turned into a
``FileDescriptorProto`` here (type names are left as written: the descriptor pool resolves them
by protobuf's scoping rules). Imports resolve to the schema's registry references, the
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

from collections.abc import Callable, Iterable
from typing import Any

from antlr4.error.ErrorListener import ErrorListener
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message import DecodeError, Message
from proto_schema_parser import ast
from proto_schema_parser.parser import Parser

from sinkapp.config import ConverterSettings
from sinkapp.converters.registry import RegistryConverter, RegistrySchema, registry_from_settings
from sinkapp.converters.simple import decimal_text, format_datetime
from sinkapp.errors import ConversionError

FDP = descriptor_pb2.FieldDescriptorProto
_WKT_MODULES = (any_pb2, duration_pb2, empty_pb2, field_mask_pb2, struct_pb2, timestamp_pb2, wrappers_pb2)
_WKT_FILES = {m.DESCRIPTOR.name: m.DESCRIPTOR.serialized_pb for m in _WKT_MODULES}
_BUILTIN_TEXT = {
    "confluent/meta.proto": 'syntax = "proto3"; package confluent; '
                            "message Meta { string doc = 1; map<string, string> params = 2; repeated string tags = 3; }",
    "confluent/type/decimal.proto": 'syntax = "proto3"; package confluent.type; '
                                    "message Decimal { bytes value = 1; uint32 precision = 2; int32 scale = 3; }",
    "google/type/date.proto": 'syntax = "proto3"; package google.type; '
                              "message Date { int32 year = 1; int32 month = 2; int32 day = 3; }",
    "google/type/timeofday.proto": 'syntax = "proto3"; package google.type; message TimeOfDay '
                                   "{ int32 hours = 1; int32 minutes = 2; int32 seconds = 3; int32 nanos = 4; }",
}
_SCALARS = {name: getattr(FDP, "TYPE_" + name.upper()) for name in (
    "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool", "string", "bytes",
    "uint32", "sfixed32", "sfixed64", "sint32", "sint64")}
_LABELS = {ast.FieldCardinality.REPEATED: FDP.LABEL_REPEATED, ast.FieldCardinality.REQUIRED: FDP.LABEL_REQUIRED}


# -- .proto text → FileDescriptorProto ----------------------------------------------------------
class _Raise(ErrorListener):  # type: ignore[misc]
    def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:
        raise ValueError(f"line {line}:{column} {msg}")


def _quiet(recognizer: Any) -> None:
    recognizer.removeErrorListeners()
    recognizer.addErrorListener(_Raise())


def parse_proto(text: str, filename: str) -> descriptor_pb2.FileDescriptorProto:
    """.proto text → FileDescriptorProto named ``filename``; ValueError if it cannot be used."""
    tree = Parser(setup_lexer=_quiet, setup_parser=_quiet).parse(text)
    if tree.edition:
        raise ValueError(f"protobuf editions ({tree.edition}) are not supported")
    fdp = descriptor_pb2.FileDescriptorProto(name=filename, syntax=tree.syntax or "proto2")
    for el in tree.file_elements:
        if isinstance(el, ast.Package):
            fdp.package = el.name
        elif isinstance(el, ast.Import):
            if el.public:
                fdp.public_dependency.append(len(fdp.dependency))
            fdp.dependency.append(el.name)
        elif isinstance(el, ast.Message):
            _message(fdp.message_type.add(), el, fdp.syntax == "proto3")
        elif isinstance(el, ast.Enum):
            _enum(fdp.enum_type.add(), el)
    return fdp


def _option(options: Iterable[ast.Option], name: str) -> Any:
    return next((o.value for o in options if o.name == name), None)


def _field(fp: Any, f: ast.Field, proto3: bool) -> None:
    fp.name, fp.number = f.name, f.number
    fp.label = _LABELS.get(f.cardinality, FDP.LABEL_OPTIONAL) if f.cardinality else FDP.LABEL_OPTIONAL
    if f.type in _SCALARS:
        fp.type = _SCALARS[f.type]
    else:
        fp.type_name = f.type                 # message or enum: the pool resolves it
    default = _option(f.options, "default")
    if default is not None and not proto3:
        fp.default_value = (str(default).lower() if isinstance(default, bool)
                            else default.name if isinstance(default, ast.Identifier) else str(default))


def _entry_name(field_name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in field_name.split("_")) + "Entry"


def _message(mp: descriptor_pb2.DescriptorProto, m: ast.Message, proto3: bool) -> None:
    mp.name = m.name
    synthetic: list[Any] = []
    for el in m.elements:
        if isinstance(el, ast.Field):
            fp = mp.field.add()
            _field(fp, el, proto3)
            if proto3 and el.cardinality == ast.FieldCardinality.OPTIONAL:
                fp.proto3_optional = True
                synthetic.append(fp)
        elif isinstance(el, ast.MapField):
            entry = mp.nested_type.add(name=_entry_name(el.name))
            entry.options.map_entry = True
            _field(entry.field.add(), ast.Field("key", 1, el.key_type), proto3)
            _field(entry.field.add(), ast.Field("value", 2, el.value_type), proto3)
            mp.field.add(name=el.name, number=el.number, label=FDP.LABEL_REPEATED, type_name=entry.name)
        elif isinstance(el, ast.OneOf):
            index = len(mp.oneof_decl)
            mp.oneof_decl.add(name=el.name)
            for sub in el.elements:
                if isinstance(sub, ast.Group):
                    raise ValueError(f"proto2 groups are not supported ({m.name}.{sub.name})")
                if isinstance(sub, ast.Field):
                    fp = mp.field.add()
                    _field(fp, sub, proto3)
                    fp.oneof_index = index
        elif isinstance(el, ast.Message):
            _message(mp.nested_type.add(), el, proto3)
        elif isinstance(el, ast.Enum):
            _enum(mp.enum_type.add(), el)
        elif isinstance(el, ast.Group):
            raise ValueError(f"proto2 groups are not supported ({m.name}.{el.name})")
    for fp in synthetic:                      # synthetic oneofs go after the real ones
        fp.oneof_index = len(mp.oneof_decl)
        mp.oneof_decl.add(name="_" + fp.name)


def _enum(ep: descriptor_pb2.EnumDescriptorProto, e: ast.Enum) -> None:
    ep.name = e.name
    if _option((o for o in e.elements if isinstance(o, ast.Option)), "allow_alias") is True:
        ep.options.allow_alias = True
    for v in e.elements:
        if isinstance(v, ast.EnumValue):
            ep.value.add(name=v.name, number=v.number)


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
            if name in _WKT_FILES:
                pool.AddSerializedFile(_WKT_FILES[name])
                return None
            if text is None:
                text = refs[name].text if name in refs else _BUILTIN_TEXT.get(name)
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
    """Factory for ``_REGISTRY_CONVERTERS``."""
    return ProtobufConverter(registry_from_settings(cs, **deps))
