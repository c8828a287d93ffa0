"""What the Schema Registry emulator stores and checks, without its state: schemas, references,
versions, Confluent's errors, parsing and the compatibility verdict.

Who calls: :class:`sinkapp_testkit.registry.store.SchemaStore` (the state and its lock) and the HTTP
layer (:func:`parse_references`, :class:`RegistryError`). Pure functions; references are resolved
through the callable the store passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fastavro

from .avro_compat import can_read

SCHEMA_TYPES = ("AVRO", "JSON", "PROTOBUF")
LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
MAX_REFERENCE_DEPTH = 32


class RegistryError(Exception):
    """A Confluent-style failure: HTTP ``status`` plus ``error_code`` (40401, 42201, 409, ...)."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Reference:
    """A schema reference as sent in ``"references": [{"name", "subject", "version"}]``."""

    name: str
    subject: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "subject": self.subject, "version": self.version}


@dataclass(frozen=True)
class StoredSchema:
    """One globally registered schema; ``schema`` is the text as first registered."""

    id: int
    schema: str
    schema_type: str
    references: tuple[Reference, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Body of ``GET /schemas/ids/{id}``: ``schemaType`` omitted for AVRO, as Confluent does."""
        body: dict[str, Any] = {"schema": self.schema}
        if self.schema_type != "AVRO":
            body["schemaType"] = self.schema_type
        if self.references:
            body["references"] = [r.to_json() for r in self.references]
        return body


@dataclass
class Version:
    """One version of a subject: the global id it points to, soft-deleted or not."""

    version: int
    schema_id: int
    deleted: bool = False


@dataclass
class Parsed:
    """A schema as compared: its canonical text (the id key) and, for AVRO, the parsed form."""

    canonical: str
    avro: Any = None
    named: dict[str, Any] = field(default_factory=dict)


def parse_references(raw: Any) -> tuple[Reference, ...]:
    """Validate the ``references`` member of a request body (422/42201 when malformed)."""
    if raw is None:
        return ()
    try:
        return tuple(Reference(str(r["name"]), str(r["subject"]), int(r["version"])) for r in raw)
    except (TypeError, KeyError, ValueError) as exc:
        raise RegistryError(422, 42201, f"Invalid schema references: {exc}") from exc


def check_level(level: Any) -> str:
    """A compatibility level, upper-cased (422/42203 when it is not one)."""
    if not isinstance(level, str) or level.upper() not in LEVELS:
        raise RegistryError(422, 42203, f"Invalid compatibility level: {level!r}")
    return level.upper()


def version_number(version: str | int) -> int:
    """``latest`` → -1, else the version number (422/42202 outside [1, 2^31-1])."""
    spec = str(version)
    if spec == "latest":
        spec = "-1"
    try:
        number = int(spec)
        if number == 0 or number < -1 or number > 2**31 - 1:
            raise ValueError(spec)
    except ValueError:
        raise RegistryError(
            422,
            42202,
            f"The specified version '{version}' is not a valid version id. Allowed values are between "
            '[1, 2^31-1] and the string "latest"',
        ) from None
    return number


Resolve = Callable[[Reference], StoredSchema]


def parse_schema(schema: str, schema_type: str, refs: tuple[Reference, ...], resolve: Resolve) -> Parsed:
    """Validate ``schema`` (422/42201 when it is not one); ``resolve`` finds a reference's schema."""
    if schema_type not in SCHEMA_TYPES:
        raise RegistryError(422, 42201, f"Invalid schema type {schema_type!r}")
    if not isinstance(schema, str) or not schema.strip():
        raise RegistryError(422, 42201, "Empty schema")
    if schema_type == "PROTOBUF":
        return Parsed("\n".join(line.rstrip() for line in schema.strip().splitlines()))
    try:
        obj = json.loads(schema)
    except ValueError as exc:
        raise RegistryError(422, 42201, f"Invalid schema: not JSON: {exc}") from exc
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    if schema_type == "JSON":
        return Parsed(canonical)
    named: dict[str, Any] = {}
    _load_avro_references(refs, named, 0, resolve)
    try:
        parsed = fastavro.parse_schema(obj, named_schemas=named, _write_hint=False)
    except Exception as exc:  # fastavro raises several unrelated exception types
        raise RegistryError(422, 42201, f"Invalid schema: {type(exc).__name__}: {exc}") from exc
    return Parsed(canonical, parsed, named)


def _load_avro_references(refs: tuple[Reference, ...], named: dict[str, Any], depth: int, resolve: Resolve) -> None:
    if depth > MAX_REFERENCE_DEPTH:
        raise RegistryError(422, 42201, "Invalid schema: reference cycle")
    for ref in refs:
        try:
            target = resolve(ref)
        except RegistryError as exc:
            raise RegistryError(
                422, 42201, f"Invalid schema: reference {ref.name}: {exc.message}"
            ) from exc
        _load_avro_references(target.references, named, depth + 1, resolve)
        if ref.name not in named:
            fastavro.parse_schema(json.loads(target.schema), named_schemas=named, _write_hint=False)


def compat_messages(level: str, schema_type: str, new: Parsed, olds: list[tuple[StoredSchema, Parsed]]) -> list[str]:
    """Why ``new`` is incompatible with each of ``olds`` (newest last) under ``level``; empty: it is not.
    Non-transitive levels compare with the newest only."""
    if level == "NONE" or not olds:
        return []
    targets = olds if level.endswith("_TRANSITIVE") else olds[-1:]
    base = level.removesuffix("_TRANSITIVE")
    messages: list[str] = []
    for old, old_parsed in reversed(targets):
        if old.schema_type != schema_type:
            messages.append(f"schema type changed from {old.schema_type} to {schema_type}")
        elif schema_type == "AVRO":
            if base in ("BACKWARD", "FULL"):
                messages += can_read(new.avro, new.named, old_parsed.avro, old_parsed.named)
            if base in ("FORWARD", "FULL"):
                messages += can_read(old_parsed.avro, old_parsed.named, new.avro, new.named)
    return messages
