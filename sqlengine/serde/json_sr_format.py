"""JSON_SR: JSON documents framed with a schema id, described by a JSON Schema.

ksqlDB's JSON Schema of a row is an object whose properties are the columns, each
`{"oneOf": [{"type": "null"}, T]}`; Connect's annotations say what JSON cannot:
`connect.type` int32/int64/float64/bytes/map, and `title` naming Connect's logical types
(org.apache.kafka.connect.data.Decimal with `connect.parameters` scale and precision, Date,
Time, Timestamp). Reading a schema: `integer` is BIGINT unless annotated int32 (INT), `number`
DOUBLE, an object with `properties` a STRUCT, one with `additionalProperties` a MAP.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from sqlengine import types as T
from sqlengine.serde.base import SerdeError
from sqlengine.serde.schemas import PhysicalSchema, Reader, Writer, field_lookup

_CONNECT = "org.apache.kafka.connect.data."
_SIMPLE: dict[T.Base, dict[str, Any]] = {
    T.Base.BOOLEAN: {"type": "boolean"},
    T.Base.INTEGER: {"type": "integer", "connect.type": "int32"},
    T.Base.BIGINT: {"type": "integer", "connect.type": "int64"},
    T.Base.DOUBLE: {"type": "number", "connect.type": "float64"},
    T.Base.STRING: {"type": "string"},
    T.Base.BYTES: {"type": "string", "connect.type": "bytes"},
    T.Base.DATE: {"type": "integer", "connect.type": "int32", "title": _CONNECT + "Date"},
    T.Base.TIME: {"type": "integer", "connect.type": "int32", "title": _CONNECT + "Time"},
    T.Base.TIMESTAMP: {
        "type": "integer",
        "connect.type": "int64",
        "title": _CONNECT + "Timestamp",
    },
}


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [{"type": "null"}, schema]}


def _json_schema(t: T.SqlType) -> dict[str, Any]:
    if isinstance(t, T.Decimal):
        return {
            "type": "number",
            "title": _CONNECT + "Decimal",
            "connect.type": "bytes",
            "connect.parameters": {
                "scale": str(t.scale),
                "connect.decimal.precision": str(t.precision),
            },
        }
    if isinstance(t, T.Array):
        return {"type": "array", "items": _optional(_json_schema(t.element))}
    if isinstance(t, T.Map):
        return {
            "type": "object",
            "additionalProperties": _optional(_json_schema(t.value)),
            "connect.type": "map",
        }
    if isinstance(t, T.Struct):
        return _object([(f.name, f.type) for f in t.fields])
    return dict(_SIMPLE[t.base])


def _object(fields: list[tuple[str, T.SqlType]]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            name: {**_optional(_json_schema(t)), "connect.index": i}
            for i, (name, t) in enumerate(fields)
        },
    }


def derive_json_schema(columns: list[tuple[str, T.SqlType]], *, unwrap: bool) -> JsonSrSchema:
    schema = _optional(_json_schema(columns[0][1])) if unwrap else _object(columns)
    return JsonSrSchema(schema)


def parse_json_schema(text: str) -> JsonSrSchema:
    try:
        schema = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise SerdeError(f"Invalid JSON schema: {exc}") from exc
    if not isinstance(schema, dict | bool):
        raise SerdeError("Invalid JSON schema: not an object")
    return JsonSrSchema(schema)


def _non_null(options: list[Any]) -> dict[str, Any]:
    branches = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
    if len(branches) != 1:
        raise SerdeError(f"JSON schema unions are not supported: {orjson.dumps(options).decode()}")
    return branches[0]


def _sql_type(schema: Any) -> T.SqlType:
    if not isinstance(schema, dict):
        raise SerdeError(f"Unsupported JSON schema: {schema!r}")
    for union in ("oneOf", "anyOf"):
        if union in schema:
            return _sql_type(_non_null(schema[union]))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    title = str(schema.get("title", ""))
    connect = schema.get("connect.type")
    if title == _CONNECT + "Decimal":
        params = schema.get("connect.parameters", {})
        return T.Decimal(int(params.get("connect.decimal.precision", 64)), int(params["scale"]))
    for base, simple in _SIMPLE.items():
        if "title" in simple and simple["title"] == title:
            return T.Primitive(base)
    if kind == "integer":
        return T.INTEGER if connect == "int32" else T.BIGINT
    if kind == "number":
        return T.DOUBLE
    if kind == "string":
        return T.BYTES if connect == "bytes" else T.STRING
    if kind == "boolean":
        return T.BOOLEAN
    if kind == "array":
        return T.Array(_sql_type(schema.get("items", {"type": "string"})))
    if kind == "object" or "properties" in schema:
        if "properties" in schema:
            props = schema["properties"]
            return T.Struct(tuple(T.Field(n, _sql_type(s)) for n, s in props.items()))
        values = schema.get("additionalProperties", {"type": "string"})
        return T.Map(T.STRING, _sql_type(values))
    raise SerdeError(f"Unsupported JSON schema type: {kind}")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(f"{obj:f}")
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode("ascii")
    raise TypeError


def _shaper(schema: Any) -> Callable[[Any], Any] | None:
    """Data -> the objects the schema describes, as Connect's converter writes them: every
    property the schema lists, in its order and spelling (found ignoring case), NULL when
    absent; None when the data is written as it is."""
    if not isinstance(schema, dict):
        return None
    for union in ("oneOf", "anyOf"):
        if union in schema:
            try:
                return _shaper(_non_null(schema[union]))
            except SerdeError:
                return None
    if isinstance(schema.get("properties"), dict):
        names = list(schema["properties"])
        shapes = [_shaper(p) for p in schema["properties"].values()]
        lookup = field_lookup(names)

        def shape_object(v: Any) -> Any:
            if not isinstance(v, dict):
                return v
            return {
                n: x if f is None or x is None else f(x)
                for n, f, x in zip(names, shapes, lookup(v), strict=True)
            }

        return shape_object
    items = _shaper(schema.get("items"))
    if items is not None:
        return lambda v: [None if x is None else items(x) for x in v] if isinstance(v, list) else v
    values = _shaper(schema.get("additionalProperties"))
    if values is not None:
        return lambda v: (
            {k: None if x is None else values(x) for k, x in v.items()}
            if isinstance(v, dict)
            else v
        )
    return None


class JsonSrSchema(PhysicalSchema):
    schema_type = "JSON"

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.text = orjson.dumps(schema).decode()

    def sql_type(self) -> T.SqlType:
        return _sql_type(self.schema)

    def writer(self) -> Writer:
        shape = _shaper(self.schema)
        if shape is None:
            return lambda value: orjson.dumps(value, default=_json_default)
        return lambda value: orjson.dumps(shape(value), default=_json_default)

    def reader(self) -> Reader:
        def read(payload: bytes) -> Any:
            try:
                return json.loads(payload, parse_float=Decimal)
            except ValueError as exc:
                raise SerdeError(f"Invalid JSON: {exc}") from None

        return read
