"""``io.confluent.connect.json.JsonSchemaConverter``: Confluent-framed JSON → Python values.

Who calls: the route sink (``prepare`` per batch, ``decode`` per record; see
:mod:`sinkapp.converters.registry`). The payload after the 5-byte header is plain JSON, decoded
with orjson. The schema is fetched only to prove the id exists and is a JSON schema: the
payload is not validated against it (the producer's serializer already did).
"""

from __future__ import annotations

from typing import Any

import orjson

from sinkapp.config.types import ConverterSettings
from sinkapp.converters.registry import RegistryConverter, RegistrySchema, registry_from_settings
from sinkapp.errors import ConversionError


class JsonSchemaConverter(RegistryConverter[bool]):
    """The cache only records that an id is a known JSON schema."""

    schema_type = "JSON"
    class_name = "io.confluent.connect.json.JsonSchemaConverter"

    async def _build(self, schema: RegistrySchema, msg: Any) -> bool:
        try:
            orjson.loads(schema.text)
        except orjson.JSONDecodeError as exc:
            raise ConversionError(f"JSON schema id {schema.schema_id} is not valid JSON: {exc}") from None
        return True

    def _decode(self, entry: bool, schema_id: int, payload: bytes) -> Any:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise ConversionError(f"payload of JSON schema id {schema_id} is not valid JSON ({exc})") from None


def make_json_schema_converter(cs: ConverterSettings, **deps: Any) -> JsonSchemaConverter:
    """Factory for ``REGISTRY_CONVERTERS``."""
    return JsonSchemaConverter(registry_from_settings(cs, **deps))
