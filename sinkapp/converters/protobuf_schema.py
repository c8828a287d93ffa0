"""Registry .proto text → ``FileDescriptorProto`` (for :mod:`sinkapp.converters.protobuf`).

Who calls: ``ProtobufConverter._build`` once per schema id. The ``protobuf`` runtime cannot
parse text, so the text is parsed with the pure-Python ``proto-schema-parser`` and turned into a
``FileDescriptorProto`` here (type names are left as written: the descriptor pool resolves them
by protobuf's scoping rules). ``WKT_FILES`` and ``BUILTIN_TEXT`` are the imports resolved
without the registry: the google/protobuf well-known types, ``confluent/meta.proto``,
``confluent/type/decimal.proto`` and ``google/type/{date,timeofday}.proto``. Not supported:
proto2 groups and editions (the schema is refused with a message), extensions (ignored).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from antlr4.error.ErrorListener import ErrorListener
from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from proto_schema_parser import ast
from proto_schema_parser.parser import Parser

FDP = descriptor_pb2.FieldDescriptorProto
_WKT_MODULES = (any_pb2, duration_pb2, empty_pb2, field_mask_pb2, struct_pb2, timestamp_pb2, wrappers_pb2)
WKT_FILES = {m.DESCRIPTOR.name: m.DESCRIPTOR.serialized_pb for m in _WKT_MODULES}
BUILTIN_TEXT = {
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
