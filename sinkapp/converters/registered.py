"""The Schema Registry converters by Kafka Connect class name (imported by ``build_converter``).

Kept apart so that ``sinkapp.converters`` does not import fastavro, protobuf and the registry
client until a route actually uses one of these converters.
"""

from __future__ import annotations

from typing import Any

from sinkapp.converters.avro import AvroConverter, make_avro_converter
from sinkapp.converters.jsonschema import JsonSchemaConverter, make_json_schema_converter
from sinkapp.converters.protobuf import ProtobufConverter, make_protobuf_converter

REGISTRY_CONVERTERS: dict[str, Any] = {
    AvroConverter.class_name: make_avro_converter,
    ProtobufConverter.class_name: make_protobuf_converter,
    JsonSchemaConverter.class_name: make_json_schema_converter,
}
