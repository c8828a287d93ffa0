"""Puts the Schema Registry converters into ``_REGISTRY_CONVERTERS`` (imported by ``build_converter``).

Kept apart so that ``sinkapp.converters`` does not import fastavro, protobuf and the registry
client until a route actually uses one of these converters.
"""

from __future__ import annotations

from sinkapp.converters import _REGISTRY_CONVERTERS
from sinkapp.converters.avro import AvroConverter, make_avro_converter
from sinkapp.converters.jsonschema import JsonSchemaConverter, make_json_schema_converter
from sinkapp.converters.protobuf import ProtobufConverter, make_protobuf_converter

_REGISTRY_CONVERTERS.update({
    AvroConverter.class_name: make_avro_converter,
    ProtobufConverter.class_name: make_protobuf_converter,
    JsonSchemaConverter.class_name: make_json_schema_converter,
})
