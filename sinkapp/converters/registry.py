"""What the Schema Registry converters (Avro, Protobuf, JSON Schema) share.

* The wire format and :class:`SchemaRegistry` (the client) are in
  :mod:`sinkapp.converters.registry_client`; their names are re-exported here.
* :class:`RegistryConverter`: a cache of parsed schemas keyed by id. The route sink calls
  ``await prepare(messages)`` for a batch, then ``decode(raw)`` per record; ``prepare`` fetches the
  ids it has not seen, waiting out registry outages (retry with backoff, forever, logging each
  attempt: the route waits, nothing is skipped). It raises :class:`ConversionError` naming
  ``topic[partition]@offset`` for a record that can never be decoded: unknown schema id (404),
  wrong magic byte, message shorter than the 5-byte header, a schema of another type, or a schema
  that cannot be parsed. Credentials the registry refuses (401/403) stop the route the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from sinkapp.converters.registry_client import (
    HEADER_SIZE,
    MAGIC_BYTE,
    SCHEMA_ID,
    Reference,
    RegistryRefused,
    RegistrySchema,
    RegistryUnavailable,
    SchemaRegistry,
    registry_from_settings,
    split_frame,
    where,
)
from sinkapp.errors import ConversionError

__all__ = ["HEADER_SIZE", "MAGIC_BYTE", "Reference", "RegistryConverter", "RegistryRefused", "RegistrySchema",
           "RegistryUnavailable", "SchemaRegistry", "registry_from_settings", "split_frame", "where"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class RegistryConverter(ABC, Generic[T]):
    """Base of the registry converters: the id → parsed-schema cache and the ``prepare`` step.

    Subclasses set ``schema_type`` and ``class_name`` and implement ``_build`` (registry schema →
    whatever ``_decode`` needs, once per id; raise ConversionError if unusable) and ``_decode``.
    """

    schema_type: ClassVar[str]
    class_name: ClassVar[str]

    def __init__(self, registry: SchemaRegistry, *, backoff_initial_s: float = 0.5,
                 backoff_max_s: float = 30.0) -> None:
        self.registry = registry
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.schemas: dict[int, T] = {}
        self.broken: dict[int, str] = {}     # schema id → why it cannot be used (tolerant prepare)
        self.trouble: tuple[float, str] | None = None   # (since, why) while the registry is unreachable

    # -- prepare: async, once per batch ------------------------------------------------------
    async def prepare(self, messages: list[Any], tolerant: bool = False) -> None:
        """Fetch and parse every schema id of ``messages`` not yet cached (see module doc).

        ``tolerant`` (errors.tolerance=all): a record that can never be decoded (bad framing, an
        unknown or unusable schema id) does not raise here; ``decode`` raises its reason for it,
        so it is dead-lettered alone. Registry outages are waited out either way.
        """
        first_seen: dict[int, Any] = {}
        cached, broken = self.schemas, self.broken
        unpack = SCHEMA_ID.unpack_from
        for msg in messages:
            raw = msg.value
            if raw is None:
                continue
            if len(raw) < HEADER_SIZE or raw[0] != MAGIC_BYTE:
                if tolerant:
                    continue                          # decode raises the framing error
                try:
                    split_frame(raw)
                except ConversionError as exc:
                    raise ConversionError(f"record {where(msg)}: {exc}") from None
            schema_id = unpack(raw, 1)[0]
            if schema_id not in cached and schema_id not in first_seen and schema_id not in broken:
                first_seen[schema_id] = msg
        for schema_id, msg in first_seen.items():
            try:
                await self._prepare_id(schema_id, msg)
            except ConversionError as exc:
                if not tolerant:
                    raise
                broken[schema_id] = str(exc).split(": ", 1)[-1]

    async def _prepare_id(self, schema_id: int, msg: Any) -> None:
        schema = await self._fetch(schema_id, msg)
        if schema.schema_type != self.schema_type:
            raise ConversionError(
                f"record {where(msg)}: schema id {schema_id} is a {schema.schema_type} schema, "
                f"but the converter is {self.class_name} ({self.schema_type})")
        try:
            self.schemas[schema_id] = await self._build(schema, msg)
        except ConversionError as exc:
            raise ConversionError(f"record {where(msg)}: {exc}") from None

    async def _fetch(self, schema_id: int, msg: Any) -> RegistrySchema:
        schema = await self.call(partial(self.registry.by_id, schema_id), f"schema id {schema_id}", msg)
        if schema is None:
            raise ConversionError(
                f"record {where(msg)}: schema id {schema_id} is not in the Schema Registry at "
                f"{self.registry.url} (HTTP 404); was the record written against another registry?")
        return schema

    async def fetch_references(self, schema: RegistrySchema, msg: Any) -> list[tuple[str, RegistrySchema]]:
        """``(name, schema)`` of every schema ``schema`` references, transitively, dependencies
        first, each once (``name`` is the import path for protobuf, the type name for Avro)."""
        out: list[tuple[str, RegistrySchema]] = []
        seen: set[tuple[str, int]] = set()

        async def visit(refs: tuple[Reference, ...]) -> None:
            for ref in refs:
                if (ref.subject, ref.version) in seen:
                    continue
                seen.add((ref.subject, ref.version))
                got = await self.call(partial(self.registry.by_subject_version, ref.subject, ref.version),
                                      f"reference {ref.name}", msg)
                if got is None:
                    raise ConversionError(f"schema reference {ref.name!r} (subject {ref.subject!r} "
                                          f"version {ref.version}) is not in the Schema Registry")
                await visit(got.references)
                out.append((ref.name, got))

        await visit(schema.references)
        return out

    async def call(self, fetch: Callable[[], Awaitable[R]], what: str, msg: Any) -> R:
        """Run ``fetch()`` until the registry answers: outages are retried with backoff forever."""
        delay, attempt = self.backoff_initial_s, 0
        while True:
            attempt += 1
            try:
                result = await fetch()
                self.trouble = None
                return result
            except RegistryRefused as exc:
                raise ConversionError(f"record {where(msg)}: the Schema Registry at {self.registry.url} "
                                      f"refused the request for {what}: {exc}") from None
            except RegistryUnavailable as exc:
                since = self.trouble[0] if self.trouble else time.time()
                self.trouble = (since, f"Schema Registry {self.registry.url} unreachable (attempt {attempt}): {exc}")
                log.warning("schema registry unavailable url=%s want=%s record=%s attempt=%d "
                            "retry_in_s=%.2f error=%s", self.registry.url, what, where(msg), attempt,
                            delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

    # -- decode: sync, per record ------------------------------------------------------------
    def decode(self, raw: bytes | None) -> Any:
        if raw is None:
            return None
        schema_id, payload = split_frame(raw)
        entry = self.schemas.get(schema_id)
        if entry is None:
            if schema_id in self.broken:
                raise ConversionError(self.broken[schema_id])
            raise ConversionError(f"schema id {schema_id} was not fetched: prepare() must see the "
                                  "batch before decode()")
        return self._decode(entry, schema_id, payload)

    @abstractmethod
    async def _build(self, schema: RegistrySchema, msg: Any) -> T: ...

    @abstractmethod
    def _decode(self, entry: T, schema_id: int, payload: bytes) -> Any: ...

