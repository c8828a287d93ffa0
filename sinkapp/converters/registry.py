"""What the Schema Registry converters (Avro, Protobuf, JSON Schema) share.

* Confluent wire format: magic byte ``0``, 4-byte big-endian schema id, then the payload
  (:func:`split_frame`).
* :class:`SchemaRegistry`: fetches ``GET /schemas/ids/{id}`` (and referenced subject versions)
  through python-schema-registry-client's ``AsyncSchemaRegistryClient``; basic auth from
  ``key:secret``; HTTPS verified with the system CAs or ``schema.registry.ssl.truststore.location``
  / ``ssl.ca.location``.  The raw request is used for every schema type, since the client's own
  ``get_by_id`` cannot parse PROTOBUF.
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
import ssl
import struct
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

import httpx
import orjson
from schema_registry.client import AsyncSchemaRegistryClient

from sinkapp.config import ConverterSettings, Secret
from sinkapp.errors import ConfigError, ConversionError

log = logging.getLogger(__name__)

MAGIC_BYTE = 0
HEADER_SIZE = 5
_ID = struct.Struct(">I")
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CA_OPTIONS = ("schema.registry.ssl.truststore.location", "schema.registry.ssl.ca.location",
               "ssl.ca.location", "ssl.truststore.location")

T = TypeVar("T")
R = TypeVar("R")


def split_frame(raw: bytes) -> tuple[int, bytes]:
    """``(schema_id, payload)`` of a Confluent-framed value; ConversionError if it is not framed."""
    if len(raw) < HEADER_SIZE:
        raise ConversionError(
            f"value is {len(raw)} bytes, shorter than the 5-byte Schema Registry header "
            "(magic byte 0 + schema id); was it written by a Confluent serializer?")
    if raw[0] != MAGIC_BYTE:
        raise ConversionError(
            f"value starts with byte 0x{raw[0]:02x}, not the Schema Registry magic byte 0x00; "
            "was it written by a Confluent serializer?")
    return _ID.unpack_from(raw, 1)[0], raw[HEADER_SIZE:]


def _is_tls_error(exc: BaseException) -> bool:
    """A certificate or TLS handshake failure anywhere in the exception's causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def where(message: Any) -> str:
    """``topic[partition]@offset`` of a Faust message, for error messages."""
    return f"{message.topic}[{message.partition}]@{message.offset}"


@dataclass(frozen=True)
class RegistrySchema:
    """One schema as the registry returns it: ``schemaType`` defaults to AVRO, as in Confluent."""

    schema_id: int | None
    schema_type: str
    text: str
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class Reference:
    """``{"name", "subject", "version"}``: ``name`` is the import path (protobuf) or type name (Avro)."""

    name: str
    subject: str
    version: int


class RegistryUnavailable(Exception):
    """Internal: the registry could not answer now (transport error, 5xx, 429); retry."""


class RegistryRefused(Exception):
    """Internal: the registry answered with an error retrying cannot fix (401, 403, other 4xx)."""


def _schema(schema_id: int | None, body: Any) -> RegistrySchema:
    if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
        raise RegistryRefused(f"unexpected reply {str(body)[:200]!r}")
    try:
        refs = tuple(Reference(str(r["name"]), str(r["subject"]), int(r["version"]))
                     for r in body.get("references") or ())
    except (KeyError, TypeError, ValueError):
        raise RegistryRefused(f"malformed references in {str(body)[:200]!r}") from None
    return RegistrySchema(schema_id, str(body.get("schemaType") or "AVRO").upper(), body["schema"], refs)


class SchemaRegistry:
    """Raw schema look-ups on one registry; shared by the converters of one route."""

    def __init__(self, url: str, user_info: Secret | None = None, ca_file: str | None = None,
                 timeout_s: float = 10.0) -> None:
        auth = None
        if user_info is not None:
            user, sep, secret = user_info.get().partition(":")
            if not sep:
                raise ConfigError("value.converter.basic.auth.user.info must be key:secret")
            auth = httpx.BasicAuth(user, secret)
        try:
            self.client = AsyncSchemaRegistryClient(url, auth=auth, timeout=httpx.Timeout(timeout_s))
        except AssertionError:
            raise ConfigError(f"value.converter.schema.registry.url={url!r} must start with http:// "
                              "or https://") from None
        if url.lower().startswith("https://"):
            # system CAs (honours SSL_CERT_FILE) unless a CA file is configured
            self.client.client_kwargs["verify"] = ssl.create_default_context(cafile=ca_file)
        self.url = url

    async def _get(self, path_name: str, **kwargs: Any) -> Any:
        """JSON body of a GET, ``None`` on 404; RegistryUnavailable / RegistryRefused otherwise."""
        url, method = self.client.url_manager.url_for(path_name, **kwargs)
        try:
            resp = await self.client.request(url, method=method)
        except httpx.HTTPError as exc:
            if _is_tls_error(exc):               # waiting does not make a certificate trusted
                raise RegistryRefused(f"TLS to {self.url} failed ({exc}); trust the registry's CA with "
                                      "value.converter.schema.registry.ssl.truststore.location (PEM)") from None
            raise RegistryUnavailable(f"{type(exc).__name__}: {exc or 'no detail'}") from None
        if resp.status_code == 404:
            return None
        if resp.status_code in _RETRY_STATUSES:
            raise RegistryUnavailable(f"HTTP {resp.status_code} {resp.text[:200]}")
        if resp.status_code != 200:
            hint = " (check the registry key:secret, value.converter.basic.auth.user.info)" \
                if resp.status_code in (401, 403) else ""
            raise RegistryRefused(f"HTTP {resp.status_code} {resp.text[:200]}{hint}")
        try:
            return orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise RegistryRefused(f"reply is not JSON: {resp.text[:200]!r}") from None

    async def by_id(self, schema_id: int) -> RegistrySchema | None:
        """``GET /schemas/ids/{id}``; ``None`` when the registry does not know the id."""
        body = await self._get("get_by_id", schema_id=schema_id)
        return None if body is None else _schema(schema_id, body)

    async def by_subject_version(self, subject: str, version: int) -> RegistrySchema | None:
        """``GET /subjects/{subject}/versions/{version}`` (schema references)."""
        body = await self._get("get_schema", subject=urllib.parse.quote(subject, safe=""), version=version)
        if body is None:
            return None
        return _schema(int(body["id"]) if "id" in body else None, body)


def registry_from_settings(cs: ConverterSettings, registry_url: str | None = None,
                           registry_user_info: Secret | None = None, **_: Any) -> SchemaRegistry:
    """The converter's own URL and credentials, else the worker-wide ones (Confluent Cloud's
    ``confluent.custom.schema.registry.auto=true``, ``schema.registry.url``)."""
    url = cs.registry_url or registry_url
    if not url:
        raise ConfigError(f"value.converter.schema.registry.url is required for {cs.class_name} "
                          "(or schema.registry.url / SINKAPP_SCHEMA_REGISTRY_URL with "
                          "confluent.custom.schema.registry.auto=true)")
    user_info = cs.registry_user_info if cs.registry_url else (cs.registry_user_info or registry_user_info)
    ca_key = next((k for k in _CA_OPTIONS if cs.options.get(k)), None)
    try:
        return SchemaRegistry(url.strip(), user_info, cs.options[ca_key] if ca_key else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"value.converter.{ca_key}={cs.options.get(ca_key or '')!r} must be a PEM file "
                          f"of CA certificates (a Java keystore cannot be used): {exc}") from None


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
        unpack = _ID.unpack_from
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

