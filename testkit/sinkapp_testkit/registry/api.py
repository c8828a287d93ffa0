"""REST handlers of the Schema Registry emulator: Confluent URL layout over a ``SchemaStore``.

:class:`~sinkapp_testkit.registry.server.RegistryEmulator` mounts :meth:`Api.routes` and turns
:class:`RegistryError` into ``{"error_code", "message"}`` replies built with :func:`error_reply`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .store import RegistryError, SchemaStore, StoredSchema, parse_references

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type=CONTENT_TYPE)


def error_reply(status: int, error_code: int, message: str) -> web.Response:
    return _reply({"error_code": error_code, "message": message}, status)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() == "true"


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError as exc:
        raise RegistryError(400, 400, f"Malformed JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise RegistryError(422, 422, "Request body must be a JSON object")
    return body


def _schema_args(body: dict[str, Any]) -> tuple[str, str, Any]:
    schema = body.get("schema")
    if not isinstance(schema, str):
        raise RegistryError(422, 42201, "Empty schema")
    return schema, str(body.get("schemaType") or "AVRO").upper(), parse_references(body.get("references"))


def _schema_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise RegistryError(404, 40403, f"Schema {request.match_info['id']} not found") from None


def _versioned(subject: str, version: int, stored: StoredSchema) -> dict[str, Any]:
    return {"subject": subject, "version": version, "id": stored.id, **stored.to_json()}


class Api:
    """Request handlers; each is a thin adapter over one ``SchemaStore`` method."""

    def __init__(self, store: SchemaStore) -> None:
        self.store = store

    def routes(self) -> list[web.RouteDef]:
        s, v = "/subjects/{subject}", "/subjects/{subject}/versions"
        return [
            web.get("/", self.root),
            web.get("/schemas/types", self.schema_types),
            web.get("/schemas/ids/{id}", self.get_by_id),
            web.get("/schemas/ids/{id}/schema", self.get_raw_by_id),
            web.get("/schemas/ids/{id}/versions", self.get_id_versions),
            web.get("/subjects", self.list_subjects),
            web.post(s, self.lookup),
            web.delete(s, self.delete_subject),
            web.get(v, self.list_versions),
            web.post(v, self.register),
            web.get(v + "/{version}", self.get_version),
            web.get(v + "/{version}/schema", self.get_raw_version),
            web.delete(v + "/{version}", self.delete_version),
            *(web.get(p, self.get_config) for p in ("/config", "/config/", "/config/{subject}")),
            *(web.put(p, self.put_config) for p in ("/config", "/config/", "/config/{subject}")),
            web.post("/compatibility/subjects/{subject}/versions", self.compatibility),
            web.post("/compatibility/subjects/{subject}/versions/{version}", self.compatibility),
        ]

    async def root(self, _request: web.Request) -> web.Response:
        return _reply({})

    async def schema_types(self, _request: web.Request) -> web.Response:
        return _reply(["JSON", "PROTOBUF", "AVRO"])

    async def get_by_id(self, request: web.Request) -> web.Response:
        return _reply(self.store.get_by_id(_schema_id(request)).to_json())

    async def get_raw_by_id(self, request: web.Request) -> web.Response:
        return web.Response(text=self.store.get_by_id(_schema_id(request)).schema, content_type=CONTENT_TYPE)

    async def get_id_versions(self, request: web.Request) -> web.Response:
        pairs = self.store.subject_versions_for_id(_schema_id(request))
        return _reply([{"subject": s, "version": v} for s, v in pairs])

    async def list_subjects(self, request: web.Request) -> web.Response:
        return _reply(self.store.subjects(deleted=_flag(request, "deleted")))

    async def list_versions(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        versions = self.store.versions(subject, deleted=_flag(request, "deleted"))
        if not versions:
            raise RegistryError(404, 40401, f"Subject '{subject}' not found.")
        return _reply(versions)

    async def register(self, request: web.Request) -> web.Response:
        schema, schema_type, refs = _schema_args(await _body(request))
        return _reply({"id": self.store.register(request.match_info["subject"], schema, schema_type, refs)})

    async def lookup(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        schema, schema_type, refs = _schema_args(await _body(request))
        version, stored = self.store.lookup(subject, schema, schema_type, refs)
        return _reply(_versioned(subject, version, stored))

    async def get_version(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        version, stored = self.store.get_version(subject, request.match_info["version"])
        return _reply(_versioned(subject, version, stored))

    async def get_raw_version(self, request: web.Request) -> web.Response:
        _, stored = self.store.get_version(request.match_info["subject"], request.match_info["version"])
        return web.Response(text=stored.schema, content_type=CONTENT_TYPE)

    async def delete_subject(self, request: web.Request) -> web.Response:
        permanent = _flag(request, "permanent")
        return _reply(self.store.delete_subject(request.match_info["subject"], permanent))

    async def delete_version(self, request: web.Request) -> web.Response:
        info, permanent = request.match_info, _flag(request, "permanent")
        return _reply(self.store.delete_version(info["subject"], info["version"], permanent))

    async def get_config(self, request: web.Request) -> web.Response:
        level = self.store.get_level(request.match_info.get("subject"), _flag(request, "defaultToGlobal"))
        return _reply({"compatibilityLevel": level})

    async def put_config(self, request: web.Request) -> web.Response:
        level = (await _body(request)).get("compatibility")
        return _reply({"compatibility": self.store.set_level(level, request.match_info.get("subject"))})

    async def compatibility(self, request: web.Request) -> web.Response:
        schema, schema_type, refs = _schema_args(await _body(request))
        subject, version = request.match_info["subject"], request.match_info.get("version")
        messages = self.store.compatibility(subject, schema, schema_type, refs, version)
        body: dict[str, Any] = {"is_compatible": not messages}
        if _flag(request, "verbose"):
            body["messages"] = messages
        return _reply(body)
