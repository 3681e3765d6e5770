"""Reading request bodies: content type, JSON shape; every problem is an ApiError that the
app answers with a 4xx JSON body in ksqlDB's shape. (The size limit: server/limits.py.)"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from server import entities as E

JSON_TYPES = ("application/json", "application/vnd.ksql.v1+json", "application/vnd.ksql+json")
DELIMITED = "application/vnd.ksqlapi.delimited.v1"


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code if code is not None else E.error_code(status)

    @property
    def body(self) -> dict[str, Any]:
        return E.generic_error(self.code, self.message)


# What `curl -d` sends when not told otherwise: the body is still read as JSON.
CURL_DEFAULT = "application/x-www-form-urlencoded"


def check_content_type(request: Request) -> None:
    """JSON bodies only; a missing Content-Type, or curl's default, is taken as JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in (*JSON_TYPES, DELIMITED, CURL_DEFAULT):
        raise ApiError(415, f"Unsupported Content-Type: {content_type}")


async def read_body(request: Request) -> bytes:
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
    except ClientDisconnect as exc:
        raise ApiError(400, "Client disconnected before sending the request") from exc
    return bytes(body)


def parse_object(data: bytes, fields: dict[str, type], required: tuple[str, ...]) -> dict[str, Any]:
    """A JSON object with only the known `fields` (name -> expected JSON type)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"Invalid JSON in request: {exc}") from exc
    if not isinstance(obj, dict):
        raise ApiError(400, "Invalid JSON in request: expected a JSON object")
    for name, value in obj.items():
        expected = fields.get(name)
        if expected is None:
            raise ApiError(400, f"Unrecognized field: {name}")
        if value is not None and not isinstance(value, expected):
            raise ApiError(400, f"Invalid type for field {name}: expected {expected.__name__}")
    for name in required:
        if obj.get(name) is None:
            raise ApiError(400, f"Missing required field: {name}")
    return obj


async def read_object(
    request: Request, fields: dict[str, type], required: tuple[str, ...]
) -> dict[str, Any]:
    check_content_type(request)
    return parse_object(await read_body(request), fields, required)


def property_map(value: dict[str, Any] | None) -> dict[str, str]:
    """Request properties as the engine takes them: strings, booleans lower-case."""
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (value or {}).items()}


def wants_json(request: Request) -> bool:
    """Whether /query-stream or /inserts-stream should answer with one JSON array rather than
    delimited lines."""
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and DELIMITED not in accept
