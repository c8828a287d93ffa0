"""In-memory state of the Schema Registry emulator, with Confluent's rules and error codes.

The HTTP layer (:mod:`sinkapp_testkit.registry.server`) translates each REST call into one method
here and renders :class:`RegistryError` as ``{"error_code": ..., "message": ...}``; test code may
also call :meth:`SchemaStore.register` directly for setup.  All methods take an internal lock, so
the store is safe to share between a test thread and the emulator's event-loop thread.

Rules emulated: ids are global and keyed by (schema type, canonical text, references), so the same
schema under another subject reuses its id; versions are per subject; deletes are soft unless
``permanent`` (a permanent delete needs a prior soft delete, as in Confluent).  AVRO schemas are
validated with ``fastavro.parse_schema`` (non-standard attributes such as Datagen's
``arg.properties`` are accepted); JSON schemas must be JSON; PROTOBUF text is stored as-is.
Compatibility: AVRO is checked structurally (see :mod:`.avro_compat`) for BACKWARD, FORWARD, FULL
and their _TRANSITIVE variants; JSON and PROTOBUF are always compatible unless the schema type
changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from .schemas import (
    LEVELS,
    SCHEMA_TYPES,
    Parsed,
    Reference,
    RegistryError,
    StoredSchema,
    Version,
    check_level,
    compat_messages,
    parse_references,
    parse_schema,
    version_number,
)

__all__ = ["LEVELS", "SCHEMA_TYPES", "Reference", "RegistryError", "SchemaStore", "StoredSchema", "parse_references"]


class SchemaStore:
    """Subjects, versions, global ids and compatibility config of one emulated registry."""

    def __init__(self, compatibility: str = "BACKWARD") -> None:
        self._lock = threading.RLock()
        self._schemas: dict[int, StoredSchema] = {}
        self._parsed: dict[int, Parsed] = {}
        self._ids: dict[tuple[str, str, tuple[Reference, ...]], int] = {}
        self._subjects: dict[str, list[Version]] = {}
        self._levels: dict[str, str] = {}
        self.global_level = check_level(compatibility)

    # -- introspection -------------------------------------------------------------------------
    @property
    def schemas(self) -> dict[int, StoredSchema]:
        """Snapshot of every schema ever registered, by id (ids survive deletes)."""
        with self._lock:
            return dict(self._schemas)

    def subjects(self, deleted: bool = False) -> list[str]:
        with self._lock:
            return sorted(s for s, vs in self._subjects.items() if any(deleted or not v.deleted for v in vs))

    def versions(self, subject: str, deleted: bool = False) -> list[int]:
        with self._lock:
            return [v.version for v in self._live(subject, deleted)]

    def get_by_id(self, schema_id: int) -> StoredSchema:
        with self._lock:
            if schema_id not in self._schemas:
                raise RegistryError(404, 40403, f"Schema {schema_id} not found")
            return self._schemas[schema_id]

    def subject_versions_for_id(self, schema_id: int) -> list[tuple[str, int]]:
        with self._lock:
            self.get_by_id(schema_id)
            return [
                (s, v.version)
                for s, vs in sorted(self._subjects.items())
                for v in vs
                if v.schema_id == schema_id and not v.deleted
            ]

    def get_version(self, subject: str, version: str | int) -> tuple[int, StoredSchema]:
        """Resolve ``latest``/``-1``/N under *subject* to (version, schema)."""
        with self._lock:
            v = self._find_version(subject, version)
            return v.version, self._schemas[v.schema_id]

    # -- registration --------------------------------------------------------------------------
    def register(
        self, subject: str, schema: str, schema_type: str = "AVRO", references: Iterable[Reference] = ()
    ) -> int:
        """Register *schema* under *subject*; return its global id (existing id if known)."""
        refs = tuple(references)
        with self._lock:
            parsed = self._parse(schema, schema_type, refs)
            key = (schema_type, parsed.canonical, refs)
            existing = self._ids.get(key)
            live = self._live(subject, False)
            if existing is not None and any(v.schema_id == existing for v in live):
                return existing
            messages = self._compat_messages(subject, schema_type, parsed, [v.schema_id for v in live])
            if messages:
                raise RegistryError(
                    409,
                    409,
                    f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
                    f"details: {messages}",
                )
            if existing is None:
                existing = max(self._schemas, default=0) + 1
                self._schemas[existing] = StoredSchema(existing, schema, schema_type, refs)
                self._parsed[existing] = parsed
                self._ids[key] = existing
            versions = self._subjects.setdefault(subject, [])
            versions.append(Version(max((v.version for v in versions), default=0) + 1, existing))
            return existing

    def lookup(
        self, subject: str, schema: str, schema_type: str = "AVRO", references: Iterable[Reference] = ()
    ) -> tuple[int, StoredSchema]:
        """``POST /subjects/{subject}``: the (version, schema) under which *schema* is registered."""
        refs = tuple(references)
        with self._lock:
            live = self._live(subject, False)
            if not live:
                raise RegistryError(404, 40401, f"Subject '{subject}' not found.")
            schema_id = self._ids.get((schema_type, self._parse(schema, schema_type, refs).canonical, refs))
            for v in reversed(live):
                if v.schema_id == schema_id:
                    return v.version, self._schemas[v.schema_id]
            raise RegistryError(404, 40403, "Schema not found")

    def compatibility(
        self,
        subject: str,
        schema: str,
        schema_type: str = "AVRO",
        references: Iterable[Reference] = (),
        version: str | int | None = None,
    ) -> list[str]:
        """Reasons *schema* is incompatible with *version* (or with what the level selects if None)."""
        refs = tuple(references)
        with self._lock:
            parsed = self._parse(schema, schema_type, refs)
            if version is None:
                ids = [v.schema_id for v in self._live(subject, False)]
                return self._compat_messages(subject, schema_type, parsed, ids)
            target = self._find_version(subject, version).schema_id
            return self._compat_messages(subject, schema_type, parsed, [target], transitive=True)

    # -- deletes -------------------------------------------------------------------------------
    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        with self._lock:
            versions = self._subjects.get(subject, [])
            if not versions or (not permanent and all(v.deleted for v in versions)):
                raise RegistryError(404, 40401, f"Subject '{subject}' not found.")
            if permanent:
                if any(not v.deleted for v in versions):
                    raise RegistryError(
                        404,
                        40405,
                        f"Subject '{subject}' was not deleted first before being permanently deleted",
                    )
                del self._subjects[subject]
                self._levels.pop(subject, None)
                return [v.version for v in versions]
            live = [v for v in versions if not v.deleted]
            for v in live:
                v.deleted = True
            return [v.version for v in live]

    def delete_version(self, subject: str, version: str | int, permanent: bool = False) -> int:
        with self._lock:
            v = self._find_version(subject, version, deleted=permanent)
            if permanent:
                if not v.deleted:
                    raise RegistryError(
                        404, 40407, f"Subject '{subject}' Version {v.version} was not deleted first"
                    )
                self._subjects[subject].remove(v)
            v.deleted = True
            return v.version

    # -- config --------------------------------------------------------------------------------
    def get_level(self, subject: str | None = None, default_to_global: bool = False) -> str:
        with self._lock:
            if subject is None:
                return self.global_level
            if subject in self._levels:
                return self._levels[subject]
            if default_to_global:
                return self.global_level
            raise RegistryError(
                404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured"
            )

    def set_level(self, level: Any, subject: str | None = None) -> str:
        with self._lock:
            level = check_level(level)
            if subject is None:
                self.global_level = level
            else:
                self._levels[subject] = level
            return level

    # -- internals -----------------------------------------------------------------------------
    def _live(self, subject: str, deleted: bool) -> list[Version]:
        return [v for v in self._subjects.get(subject, []) if deleted or not v.deleted]

    def _find_version(self, subject: str, version: str | int, deleted: bool = False) -> Version:
        number = version_number(version)
        live = self._live(subject, deleted)
        if not live:
            raise RegistryError(404, 40401, f"Subject '{subject}' not found.")
        found = live[-1] if number == -1 else next((v for v in live if v.version == number), None)
        if found is None:
            raise RegistryError(404, 40402, f"Version {version} not found.")
        return found

    def _compat_messages(
        self, subject: str, schema_type: str, new: Parsed, ids: list[int], transitive: bool = False
    ) -> list[str]:
        level = self._levels.get(subject, self.global_level)
        if transitive and level != "NONE" and not level.endswith("_TRANSITIVE"):
            level += "_TRANSITIVE"
        return compat_messages(level, schema_type, new, [(self._schemas[i], self._parsed[i]) for i in ids])

    def _parse(self, schema: str, schema_type: str, refs: tuple[Reference, ...]) -> Parsed:
        return parse_schema(schema, schema_type, refs, lambda ref: self.get_version(ref.subject, ref.version)[1])
