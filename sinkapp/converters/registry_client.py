"""The Schema Registry client and the Confluent wire format (shared by the registry converters).

Who calls: :mod:`sinkapp.converters.registry` (``RegistryConverter``), ``sinkapp check``.

* Confluent wire format: magic byte ``0``, 4-byte big-endian schema id, then the payload
  (:func:`split_frame`).
* :class:`SchemaRegistry`: fetches ``GET /schemas/ids/{id}`` (and referenced subject versions)
  through python-schema-registry-client's ``AsyncSchemaRegistryClient``; basic auth from
  ``key:secret``; HTTPS verified with the system CAs or ``schema.registry.ssl.truststore.location``
  / ``ssl.ca.location``.  The raw request is used for every schema type, since the client's own
  ``get_by_id`` cannot parse PROTOBUF. It raises :class:`RegistryUnavailable` (retry) or
  :class:`RegistryRefused` (retrying cannot help).
"""

from __future__ import annotations

import ssl
import struct
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from schema_registry.client import AsyncSchemaRegistryClient

from sinkapp.config.types import ConverterSettings, Secret
from sinkapp.errors import ConfigError, ConversionError

MAGIC_BYTE = 0
HEADER_SIZE = 5
SCHEMA_ID = struct.Struct(">I")
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CA_OPTIONS = ("schema.registry.ssl.truststore.location", "schema.registry.ssl.ca.location",
               "ssl.ca.location", "ssl.truststore.location")

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
    return SCHEMA_ID.unpack_from(raw, 1)[0], raw[HEADER_SIZE:]


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
