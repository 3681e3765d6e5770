"""The OpenAPI 3.0 description of the REST API, served at /openapi.json (what API tools and
the schemathesis run in tests/test_api_fuzz.py read)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_STRING_MAP = {"type": "object", "additionalProperties": True}
_ERROR = {
    "type": "object",
    "required": ["@type", "error_code", "message"],
    "properties": {
        "@type": {"type": "string"},
        "error_code": {"type": "integer"},
        "message": {"type": "string"},
    },
}


def _json_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _responses(ok: str, *refusals: int) -> dict[str, Any]:
    answers: dict[str, Any] = {"200": {"description": ok}}
    for status in refusals:
        answers[str(status)] = {
            "description": "refused, in ksqlDB's error shape",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return answers


_REFUSALS = (400, 401, 403, 408, 413, 415, 429)
_STATEMENT = {
    "ksql": {"type": "string", "description": "statements, each ending in ;"},
    "streamsProperties": _STRING_MAP,
    "sessionVariables": _STRING_MAP,
    "commandSequenceNumber": {"type": "integer"},
}


def openapi_description(version: str) -> dict[str, Any]:
    def get(summary: str, *parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "parameters": list(parameters),
                "responses": _responses(summary, 401, 403, 404),
            }
        }

    def post(summary: str, body: dict[str, Any], ok: str) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "requestBody": body,
                "responses": _responses(ok, *_REFUSALS),
            }
        }

    def path_parameter(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}

    return {
        "openapi": "3.0.3",
        "info": {
            "title": "streamdb REST API (ksqlDB's)",
            "version": version,
            "description": "ksqlDB's HTTP API: statements, pull and push queries, inserts.",
        },
        "paths": {
            "/ksql": post(
                "Run statements (not SELECT or PRINT)",
                _json_body(_STATEMENT, ["ksql"]),
                "one entity per statement",
            ),
            "/query": post(
                "Run a SELECT or PRINT (push queries stream)",
                _json_body(_STATEMENT, ["ksql"]),
                "a JSON array: header, rows, final message",
            ),
            "/query-stream": post(
                "Run a SELECT (HTTP/2 or HTTP/1.1)",
                _json_body(
                    {
                        "sql": {"type": "string"},
                        "properties": _STRING_MAP,
                        "sessionVariables": _STRING_MAP,
                    },
                    ["sql"],
                ),
                "metadata, then one JSON array per row",
            ),
            "/inserts-stream": post(
                "Insert rows: a JSON object naming the target, then one object per row",
                {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "string"}}},
                },
                "one acknowledgement per row",
            ),
            "/close-query": post(
                "Close a push query",
                _json_body({"queryId": {"type": "string"}}, ["queryId"]),
                "closed",
            ),
            "/ksql/terminate": post(
                "Terminate every persistent query and stop taking requests",
                _json_body({"deleteTopicList": {"type": "array", "items": {"type": "string"}}}, []),
                "terminated",
            ),
            "/info": get("The server's version and status"),
            "/healthcheck": get("Whether the server is healthy"),
            "/clusterStatus": get("The hosts of the cluster"),
            "/status/{commandId}": get("A command's status", path_parameter("commandId")),
            "/is_valid_property/{name}": get(
                "Whether a request may set a property", path_parameter("name")
            ),
        },
        "components": {
            "schemas": {"Error": _ERROR},
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
    }


def openapi_endpoint(version: str) -> Callable[[Request], Awaitable[Response]]:
    """GET /openapi.json."""
    description = openapi_description(version)

    async def openapi(request: Request) -> Response:
        return JSONResponse(description)

    return openapi
