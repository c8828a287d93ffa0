"""Confluent-compatible Schema Registry emulator for tests, plus the Confluent wire-format helpers.

Who calls what:

* async tests: ``async with RegistryEmulator() as sr:`` then point
  ``AsyncSchemaRegistryClient(sr.url)`` (or the product's config) at ``sr.url``;
* sync tests / other processes: ``with RegistryThread() as sr: ...``;
* ``python -m sinkapp_testkit.registry`` (and ``sinkapp registry``) call :func:`main`;
* test producers frame Kafka values with :func:`confluent_encode`.

See :mod:`.server` for the endpoint list and fault injection, :mod:`.store` for the registry rules.
"""

from __future__ import annotations

import struct

from .api import CONTENT_TYPE
from .cli import main
from .server import RegistryEmulator, RegistryThread
from .store import RegistryError, SchemaStore, StoredSchema

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")

__all__ = [
    "CONTENT_TYPE",
    "MAGIC_BYTE",
    "RegistryEmulator",
    "RegistryError",
    "RegistryThread",
    "SchemaStore",
    "StoredSchema",
    "confluent_decode",
    "confluent_encode",
    "main",
]


def confluent_encode(schema_id: int, payload: bytes) -> bytes:
    """Frame *payload* the way Confluent serializers do: magic byte 0, 4-byte big-endian id, payload."""
    return _HEADER.pack(MAGIC_BYTE, schema_id) + payload


def confluent_decode(message: bytes) -> tuple[int, bytes]:
    """Inverse of :func:`confluent_encode`: ``(schema_id, payload)``; ValueError if not framed."""
    if len(message) < _HEADER.size or message[0] != MAGIC_BYTE:
        raise ValueError("not a Confluent-framed message (magic byte 0 + 4-byte schema id)")
    _, schema_id = _HEADER.unpack_from(message)
    return schema_id, message[_HEADER.size :]
