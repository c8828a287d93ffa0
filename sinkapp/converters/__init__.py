"""Converters: key/value bytes → Python value, chosen by Kafka Connect class name.

Contract (every converter): ``decode(raw: bytes | None) -> Any``; ``None`` in, ``None`` out
(a tombstone); anything undecodable raises :class:`~sinkapp.errors.ConversionError` whose
message says what is wrong with the bytes (the caller adds topic, partition and offset).
Converters are built once per route by :func:`build_converter` and are cheap to call.
"""

from __future__ import annotations

from typing import Any, Protocol

from sinkapp.config.types import ConverterSettings
from sinkapp.errors import ConfigError


class Converter(Protocol):
    """Optionally also ``async def prepare(messages: list) -> None``: called with a batch of
    Faust messages (``.topic``, ``.partition``, ``.offset``, ``.value``) before their values are
    decoded, so a converter can fetch schemas without blocking ``decode``. It waits out registry
    outages (retrying) and raises ConversionError naming topic, partition and offset for a
    record that can never be decoded (unknown schema id, bad magic byte)."""

    def decode(self, raw: bytes | None) -> Any: ...


def build_converter(cs: ConverterSettings, **deps: Any) -> Converter:
    """The converter named by ``cs.class_name``; ``deps`` carries shared clients (registry)."""
    from sinkapp.converters import simple
    from sinkapp.converters.registered import REGISTRY_CONVERTERS

    name = cs.class_name
    if name == "org.apache.kafka.connect.json.JsonConverter":
        return simple.JsonConverter(schemas_enable=cs.schemas_enable)
    if name == "org.apache.kafka.connect.storage.StringConverter":
        return simple.StringConverter(encoding=cs.options.get("encoding", "utf-8"))
    if name == "org.apache.kafka.connect.converters.ByteArrayConverter":
        return simple.ByteArrayConverter()
    factory = REGISTRY_CONVERTERS.get(name)
    if factory is None:
        raise ConfigError(f"converter {name} is not available in this build of sinkapp")
    return factory(cs, **deps)
