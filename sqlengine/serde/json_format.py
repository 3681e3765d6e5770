"""The JSON format: a row is an object keyed by column name, or a bare value when unwrapped."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

from sqlengine.serde.base import SerdeError, contains_base
from sqlengine.serde.coerce import CoercionError, fields_reader, json_reader, json_writer
from sqlengine.types import Base, Field, SqlType, Struct

Serializer = Callable[[Sequence[Any] | None], bytes | None]
Deserializer = Callable[[bytes | None], list[Any] | None]


def make_json_serializer(columns: list[tuple[str, SqlType]], *, unwrap: bool) -> Serializer:
    dumps = orjson.dumps
    if unwrap:
        write = json_writer(columns[0][1], True)

        def serialize_single(values: Sequence[Any] | None) -> bytes | None:
            # An unwrapped NULL is a null record, as Kafka's JSON serializer writes it.
            if values is None or values[0] is None:
                return None
            v = values[0]
            return dumps(v if write is None else write(v))

        return serialize_single

    names = [name for name, _ in columns]
    writers = [json_writer(t, True) for _, t in columns]
    if all(w is None for w in writers):

        def serialize_plain(values: Sequence[Any] | None) -> bytes | None:
            return None if values is None else dumps(dict(zip(names, values, strict=True)))

        return serialize_plain

    named = list(zip(names, writers, strict=True))

    def serialize(values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return None
        return dumps(
            {
                n: v if w is None or v is None else w(v)
                for (n, w), v in zip(named, values, strict=True)
            }
        )

    return serialize


def _exact_loads(data: bytes) -> Any:
    # Jackson reads JSON fractions as BigDecimal for ksqlDB; DECIMAL columns need that exactness.
    return json.loads(data, parse_float=Decimal)


def make_json_deserializer(
    columns: list[tuple[str, SqlType]], *, unwrap: bool, is_key: bool, topic: str
) -> Deserializer:
    exact = any(contains_base(t, Base.DECIMAL) for _, t in columns)
    loads = _exact_loads if exact else orjson.loads
    if unwrap:
        reader = json_reader(columns[0][1])

        def read(obj: Any) -> list[Any]:
            return [reader(obj)]

    else:
        row_type = Struct(tuple(Field(n, t) for n, t in columns))
        read = fields_reader(columns, row_type)
    target = "key" if is_key else "value"

    def deserialize(data: bytes | None) -> list[Any] | None:
        if data is None:
            return None
        try:
            obj = loads(data)
            return None if obj is None else read(obj)
        except CoercionError as e:
            raise SerdeError(f"Failed to deserialize {target} from topic: {topic}. {e}") from None
        except ValueError as e:
            raise SerdeError(
                f"Failed to deserialize {target} from topic: {topic}. Invalid JSON: {e}"
            ) from None

    return deserialize
