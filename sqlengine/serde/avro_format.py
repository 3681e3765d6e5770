"""AVRO: SQL schemas as ksqlDB writes them in Avro, and Avro schemas read as SQL types.

ksqlDB's Avro schema of a row is a record `io.confluent.ksql.avro_schemas.KsqlDataSourceSchema`
(or the *_SCHEMA_FULL_NAME given) whose fields are the columns, each optional
(`["null", T]`, default null); a nested STRUCT is a record named after its parent and field
(`KsqlDataSourceSchema_ADDRESS`). DECIMAL is `bytes` with the decimal logical type, DATE `int`
date, TIME `int` time-millis, TIMESTAMP `long` timestamp-millis, MAP an Avro map (STRING keys
only). Reading, `[null, T]` unions are T, enums STRING, fixed BYTES, float DOUBLE.
Encoding and decoding are fastavro's.
"""

from __future__ import annotations

import base64
import datetime
import io
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Any

import fastavro
import orjson

from sqlengine import types as T
from sqlengine.serde.base import SerdeError
from sqlengine.serde.schemas import (
    AVRO_NAMESPACE,
    AVRO_RECORD,
    PhysicalSchema,
    Reader,
    Writer,
    field_lookup,
)

_PRIMITIVES: dict[T.Base, Any] = {
    T.Base.BOOLEAN: "boolean",
    T.Base.INTEGER: "int",
    T.Base.BIGINT: "long",
    T.Base.DOUBLE: "double",
    T.Base.STRING: "string",
    T.Base.BYTES: "bytes",
    T.Base.DATE: {"type": "int", "logicalType": "date"},
    T.Base.TIME: {"type": "int", "logicalType": "time-millis"},
    T.Base.TIMESTAMP: {"type": "long", "logicalType": "timestamp-millis"},
}
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_WIDE = Context(prec=1000)  # DECIMAL goes up to 38 digits, past the default context's 28


def _optional(schema: Any) -> list[Any]:
    return ["null", schema]


def _avro_type(t: T.SqlType, name: str) -> Any:
    """The Avro schema of a non-null `t`; `name` names a record for a STRUCT."""
    if isinstance(t, T.Decimal):
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": t.precision,
            "scale": t.scale,
        }
    if isinstance(t, T.Array):
        return {"type": "array", "items": _optional(_avro_type(t.element, name))}
    if isinstance(t, T.Map):
        return {"type": "map", "values": _optional(_avro_type(t.value, name))}
    if isinstance(t, T.Struct):
        return _record(name, [(f.name, f.type) for f in t.fields])
    return _PRIMITIVES[t.base]


def _record(name: str, fields: list[tuple[str, T.SqlType]]) -> dict[str, Any]:
    short = name.rsplit(".", 1)[-1]
    return {
        "type": "record",
        "name": name,
        "fields": [
            {"name": n, "type": _optional(_avro_type(t, f"{short}_{n}")), "default": None}
            for n, t in fields
        ],
    }


def _connect_record(name: str, fields: list[tuple[str, T.SqlType]]) -> dict[str, Any]:
    """A record as Kafka Connect's Avro converter writes ksqlDB's schemas: its name split
    from its namespace (ksqlDB's unless `name` is a full name), with its connect.name; a
    record nested in it is named after it and the field (`KsqlDataSourceSchema_ADDRESS`)."""
    namespace, _, short = name.rpartition(".")
    namespace = namespace or AVRO_NAMESPACE
    return {
        "type": "record",
        "name": short,
        "namespace": namespace,
        "fields": [
            {
                "name": n,
                "type": _optional(_connect_type(t, f"{short}_{n}", namespace)),
                "default": None,
            }
            for n, t in fields
        ],
        "connect.name": f"{namespace}.{short}",
    }


def _connect_type(t: T.SqlType, name: str, namespace: str) -> Any:
    if isinstance(t, T.Struct):
        nested = _connect_record(f"{namespace}.{name}", [(f.name, f.type) for f in t.fields])
        del nested["namespace"]  # inherited from the enclosing record
        return nested
    if isinstance(t, T.Array):
        return {"type": "array", "items": _optional(_connect_type(t.element, name, namespace))}
    if isinstance(t, T.Map):
        return {"type": "map", "values": _optional(_connect_type(t.value, name, namespace))}
    return _avro_type(t, name)


def key_record_name(topic: str) -> str:
    """ksqlDB's name for the record of a STRUCT key written to `topic`: `OutputKey` for
    OUTPUT, `LeftTableKey` for LEFT_TABLE."""
    return "".join(part.capitalize() for part in topic.split("_") if part) + "Key"


def derive_avro(
    columns: list[tuple[str, T.SqlType]],
    *,
    unwrap: bool,
    full_name: str | None,
    key_name: str | None = None,
) -> AvroSchema:
    """ksqlDB's Avro schema for `columns` (a bare optional type when unwrapped; an unwrapped
    STRUCT key a record named `key_name`)."""
    if unwrap and key_name is not None and isinstance(columns[0][1], T.Struct):
        fields = [(f.name, f.type) for f in columns[0][1].fields]
        return AvroSchema(_connect_record(key_name, fields))
    if unwrap:
        schema: Any = _optional(_avro_type(columns[0][1], AVRO_RECORD))
    else:
        schema = _connect_record(full_name or f"{AVRO_NAMESPACE}.{AVRO_RECORD}", columns)
    return AvroSchema(schema)


def parse_avro(text: str) -> AvroSchema:
    try:
        return AvroSchema(orjson.loads(text))
    except orjson.JSONDecodeError:
        # A bare primitive may be registered as its name alone: int.
        return AvroSchema(text.strip())


def _sql_type(schema: Any) -> T.SqlType:
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) != 1:
            raise SerdeError(f"Avro unions are not supported: {orjson.dumps(schema).decode()}")
        return _sql_type(branches[0])
    if isinstance(schema, str):
        return _NAMED[schema]
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "decimal":
        return T.Decimal(int(schema["precision"]), int(schema.get("scale", 0)))
    if logical in _LOGICAL:
        return _LOGICAL[logical]
    if kind == "record":
        return T.Struct(tuple(T.Field(f["name"], _sql_type(f["type"])) for f in schema["fields"]))
    if kind == "array":
        return T.Array(_sql_type(schema["items"]))
    if kind == "map":
        return T.Map(T.STRING, _sql_type(schema["values"]))
    if kind == "enum":
        return T.STRING
    if kind == "fixed":
        return T.BYTES
    return _sql_type(kind)


_NAMED = {
    "boolean": T.BOOLEAN,
    "int": T.INTEGER,
    "long": T.BIGINT,
    "float": T.DOUBLE,
    "double": T.DOUBLE,
    "string": T.STRING,
    "bytes": T.BYTES,
}
_LOGICAL = {
    "date": T.DATE,
    "time-millis": T.TIME,
    "timestamp-millis": T.TIMESTAMP,
    "time-micros": T.BIGINT,
    "timestamp-micros": T.BIGINT,
}


def _converter(schema: Any) -> Callable[[Any], Any] | None:
    """Generic value -> fastavro datum for the (parsed) `schema`; None = as is."""
    if isinstance(schema, list):
        branches = [_converter(b) for b in schema if b != "null"]
        return branches[0] if len(branches) == 1 else None
    if isinstance(schema, str):
        return {"int": int, "long": int, "float": float, "double": float}.get(schema)
    kind = schema["type"]
    if schema.get("logicalType") == "decimal":
        scale = int(schema.get("scale", 0))
        exponent = Decimal((0, (1,), -scale))
        return lambda v: _WIDE.quantize(Decimal(repr(v) if isinstance(v, float) else v), exponent)
    if kind == "record":
        names = [f["name"] for f in schema["fields"]]
        convs = [_converter(f["type"]) for f in schema["fields"]]
        # A NULL (or absent) field takes the schema's default, as Connect's AvroData writes
        # it: a registered schema may declare fields required, with a default.
        defaults = [f.get("default") for f in schema["fields"]]
        lookup = field_lookup(names)

        def record(v: Any) -> dict[str, Any]:
            out = {}
            for n, c, d, x in zip(names, convs, defaults, lookup(v), strict=True):
                if x is None:
                    x = d
                out[n] = x if c is None or x is None else c(x)
            return out

        return record
    if kind == "array":
        item = _converter(schema["items"])
        return None if item is None else lambda v: [None if x is None else item(x) for x in v]
    if kind == "map":
        value = _converter(schema["values"])
        if value is None:
            return None
        return lambda v: {k: None if x is None else value(x) for k, x in v.items()}
    return _converter(kind) if isinstance(kind, str) else None


def _to_json_like(obj: Any) -> Any:
    """A fastavro datum in the JSON-like form of sqlengine/serde/schemas.py."""
    if isinstance(obj, dict):
        return {k: _to_json_like(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_json_like(v) for v in obj]
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, datetime.datetime):
        return (obj - _EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(obj, datetime.date):
        return (obj - _EPOCH.date()).days
    if isinstance(obj, datetime.time):
        return ((obj.hour * 60 + obj.minute) * 60 + obj.second) * 1000 + obj.microsecond // 1000
    return obj


_TEMPORAL_LOGICAL_TYPES = frozenset(
    {
        "date",
        "time-millis",
        "time-micros",
        "timestamp-millis",
        "timestamp-micros",
        "local-timestamp-millis",
        "local-timestamp-micros",
    }
)


def _numbers_for_temporals(schema: Any) -> Any:
    """`schema` without its temporal logical types (the ints and longs under them stay)."""
    if isinstance(schema, list):
        return [_numbers_for_temporals(s) for s in schema]
    if isinstance(schema, dict):
        return {
            k: _numbers_for_temporals(v)
            for k, v in schema.items()
            if not (k == "logicalType" and v in _TEMPORAL_LOGICAL_TYPES)
        }
    return schema


class AvroSchema(PhysicalSchema):
    schema_type = "AVRO"

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.text = schema if isinstance(schema, str) else orjson.dumps(schema).decode()
        try:
            self.parsed = fastavro.parse_schema(schema)
        except Exception as exc:  # noqa: BLE001 - fastavro raises several kinds
            raise SerdeError(f"Invalid Avro schema: {exc}") from exc

    def sql_type(self) -> T.SqlType:
        return _sql_type(self.schema)

    def writer(self) -> Writer:
        convert = _converter(self.parsed)
        parsed = self.parsed

        def write(value: Any) -> bytes:
            out = io.BytesIO()
            fastavro.schemaless_writer(out, parsed, value if convert is None else convert(value))
            return out.getvalue()

        return write

    def reader(self) -> Reader:
        # Read temporal values as their numbers (days, milliseconds...): the encoding is the
        # same, and Python's dates stop at year 1 where a DATE's days do not.
        parsed = fastavro.parse_schema(_numbers_for_temporals(self.schema))

        def read(payload: bytes) -> Any:
            return _to_json_like(fastavro.schemaless_reader(io.BytesIO(payload), parsed, None))

        return read
