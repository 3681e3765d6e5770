"""Confluent's Schema Registry REST API over the engine's registry, mounted by the server at
`/schema-registry` (the URL Schema Registry clients are given).

Endpoints as clients use them: subjects and their versions (register, look up, read, soft or
permanent delete, referencedby), schemas by id (with their subjects and versions), schema
types, global and per-subject compatibility config, and compatibility checks. Errors answer
with Confluent's shape, {"error_code": 40401, "message": "..."}, and the HTTP status its code
starts with. Registry calls run on worker threads (an external registry answers over HTTP).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sqlengine.schema_registry import SCHEMA_TYPES, RegisteredSchema, RegistryError, SchemaRegistry
from sqlengine.schema_registry.base import schema_from_json, schema_json
from sqlengine.serde.protobuf_format import ProtobufSchema
from sqlengine.serde.protobuf_schema import serialized_text
from sqlengine.serde.registry_serde import parse_registered

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _answer(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status, media_type=CONTENT_TYPE)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


async def _schema_body(request: Request) -> tuple[RegisteredSchema, dict[str, Any]]:
    """The schema a request sends ({"schema", "schemaType", "references"}), and the body."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise RegistryError(f"Unrecognized request body: {exc}", 400) from exc
    if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
        raise RegistryError("Empty schema", 42201)
    try:
        schema = schema_from_json(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"Invalid schema references: {exc}", 42201) from exc
    if schema.schema_type not in SCHEMA_TYPES:
        raise RegistryError(f"Invalid schema type {schema.schema_type}", 42201)
    return schema, body


def _version_json(subject: str, number: int, schema: RegisteredSchema) -> dict[str, Any]:
    return {"subject": subject, "version": number, "id": schema.id, **schema_json(schema)}


class RegistryEndpoints:
    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(call, *args)

    def _schema(self, schema_id: str, fmt: str | None = None) -> RegisteredSchema:
        found = self.registry.by_id(int(schema_id)) if schema_id.isdigit() else None
        if found is None:
            raise RegistryError("Schema not found", 40403)
        return self._formatted(found, fmt)

    def _formatted(self, schema: RegisteredSchema, fmt: str | None) -> RegisteredSchema:
        """`schema` in the form a request's `format` asks for: Protobuf `serialized` is a
        base64 FileDescriptorProto (what Confluent's Protobuf deserializers read)."""
        if fmt != "serialized" or schema.schema_type != "PROTOBUF":
            return schema
        parsed = parse_registered(schema, self.registry)
        assert isinstance(parsed, ProtobufSchema)
        return replace(schema, schema=serialized_text(parsed.file))

    def _version(self, subject: str, version: str, fmt: str | None) -> dict[str, Any]:
        number, schema = self.registry.version(subject, version)
        return _version_json(subject, number, self._formatted(schema, fmt))

    # ------------------------------------------------------------------ subjects

    async def root(self, request: Request) -> Response:
        return _answer({})

    async def subjects(self, request: Request) -> Response:
        prefix = request.query_params.get("subjectPrefix", "")
        found = await self._run(self.registry.subjects)
        return _answer([s for s in found if s.startswith(prefix)])

    async def versions(self, request: Request) -> Response:
        subject = request.path_params["subject"]
        if request.method == "GET":
            return _answer(await self._run(self.registry.versions, subject))
        schema, body = await _schema_body(request)

        def register() -> int:
            return self.registry.register(
                subject, schema.schema_type, schema.schema, schema.references, body.get("id")
            )

        return _answer({"id": await self._run(register)})

    async def version(self, request: Request) -> Response:
        subject, version = request.path_params["subject"], request.path_params["version"]
        if request.method == "DELETE":
            permanent = _flag(request, "permanent")
            deleted = await self._run(
                lambda: self.registry.delete_version(subject, version, permanent=permanent)
            )
            return _answer(deleted)
        fmt = request.query_params.get("format")
        return _answer(await self._run(self._version, subject, version, fmt))

    async def version_schema(self, request: Request) -> Response:
        subject, version = request.path_params["subject"], request.path_params["version"]
        _, schema = await self._run(self.registry.version, subject, version)
        return Response(schema.schema, media_type=CONTENT_TYPE)

    async def referenced_by(self, request: Request) -> Response:
        subject, version = request.path_params["subject"], request.path_params["version"]
        return _answer(await self._run(self.registry.referenced_by, subject, version))

    async def subject(self, request: Request) -> Response:
        """POST: is this schema registered under the subject? DELETE: delete the subject."""
        subject = request.path_params["subject"]
        if request.method == "DELETE":
            permanent = _flag(request, "permanent")
            deleted = await self._run(
                lambda: self.registry.delete_subject(subject, permanent=permanent)
            )
            return _answer(deleted)
        schema, _ = await _schema_body(request)
        number, found = await self._run(
            self.registry.lookup, subject, schema.schema_type, schema.schema, schema.references
        )
        return _answer(_version_json(subject, number, found))

    # ------------------------------------------------------------------ schemas by id

    async def schema_by_id(self, request: Request) -> Response:
        fmt = request.query_params.get("format")
        schema = await self._run(self._schema, request.path_params["id"], fmt)
        return _answer(schema_json(schema))

    async def schema_text_by_id(self, request: Request) -> Response:
        schema = await self._run(self._schema, request.path_params["id"])
        return Response(schema.schema, media_type=CONTENT_TYPE)

    async def schema_versions(self, request: Request) -> Response:
        schema = await self._run(self._schema, request.path_params["id"])
        pairs = await self._run(self.registry.subjects_of, schema.id)
        return _answer([{"subject": s, "version": v} for s, v in pairs])

    async def schema_subjects(self, request: Request) -> Response:
        schema = await self._run(self._schema, request.path_params["id"])
        pairs = await self._run(self.registry.subjects_of, schema.id)
        return _answer(sorted({s for s, _ in pairs}))

    async def schema_types(self, request: Request) -> Response:
        return _answer(list(SCHEMA_TYPES))

    # ------------------------------------------------------------------ compatibility

    async def config(self, request: Request) -> Response:
        subject = request.path_params.get("subject")
        if request.method == "PUT":
            try:
                level = str(orjson.loads(await request.body())["compatibility"]).upper()
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise RegistryError("Invalid compatibility level", 42203) from exc
            await self._run(self.registry.set_compatibility, level, subject)
            return _answer({"compatibility": level})
        if request.method == "DELETE":
            return _answer(
                {"compatibilityLevel": await self._run(self.registry.clear_compatibility, subject)}
            )
        if subject is None or _flag(request, "defaultToGlobal"):
            level = await self._run(self.registry.compatibility, subject)
        else:
            level = await self._run(self.registry.subject_compatibility, subject)
            if level is None:
                raise RegistryError(
                    f"Subject '{subject}' does not have subject-level compatibility configured",
                    40408,
                )
        return _answer({"compatibilityLevel": level})

    async def compatibility(self, request: Request) -> Response:
        subject = request.path_params["subject"]
        version = request.path_params.get("version")
        schema, _ = await _schema_body(request)
        reasons = await self._run(
            self.registry.check,
            subject,
            schema.schema_type,
            schema.schema,
            schema.references,
            version,
        )
        body: dict[str, Any] = {"is_compatible": not reasons}
        if _flag(request, "verbose"):
            body["messages"] = reasons
        return _answer(body)


async def _registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    return _answer({"error_code": exc.code, "message": str(exc)}, exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _answer({"error_code": exc.status_code, "message": exc.detail}, exc.status_code)


def create_registry_app(registry: SchemaRegistry) -> Starlette:
    e = RegistryEndpoints(registry)
    versions = "/subjects/{subject}/versions"
    routes = [
        Route("/", e.root, methods=["GET"]),
        Route("/subjects", e.subjects, methods=["GET"]),
        Route("/subjects/{subject}", e.subject, methods=["POST", "DELETE"]),
        Route(versions, e.versions, methods=["GET", "POST"]),
        Route(versions + "/{version}", e.version, methods=["GET", "DELETE"]),
        Route(versions + "/{version}/schema", e.version_schema, methods=["GET"]),
        Route(versions + "/{version}/referencedby", e.referenced_by, methods=["GET"]),
        Route("/schemas/types", e.schema_types, methods=["GET"]),
        Route("/schemas/ids/{id}", e.schema_by_id, methods=["GET"]),
        Route("/schemas/ids/{id}/schema", e.schema_text_by_id, methods=["GET"]),
        Route("/schemas/ids/{id}/versions", e.schema_versions, methods=["GET"]),
        Route("/schemas/ids/{id}/subjects", e.schema_subjects, methods=["GET"]),
        Route("/config", e.config, methods=["GET", "PUT", "DELETE"]),
        Route("/config/{subject}", e.config, methods=["GET", "PUT", "DELETE"]),
        Route("/compatibility/subjects/{subject}/versions", e.compatibility, methods=["POST"]),
        Route(
            "/compatibility/subjects/{subject}/versions/{version}",
            e.compatibility,
            methods=["POST"],
        ),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={RegistryError: _registry_error, HTTPException: _http_error},
    )
