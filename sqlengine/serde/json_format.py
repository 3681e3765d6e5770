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

    return _object_serializer(columns, dumps)


def _object_serializer(
    columns: list[tuple[str, SqlType]], dumps: Callable[..., bytes]
) -> Serializer:
    """A row as a JSON object, by Python generated once per schema: the per-record work is
    one dict display and one dumps. A column whose value needs converting for JSON calls its
    writer; a DOUBLE only when not a float Java prints as Python does (an int is written as 1.0,
    NaN as text, 1e12 as 1.0E12). Names and writers enter the generated code as bound
    constants, never as source text."""
    env: dict[str, Any] = {"dumps": dumps, "LOW": 1e-3, "HIGH": 1e7}
    items = []
    for i, (name, t) in enumerate(columns):
        env[f"N{i}"] = name
        writer = json_writer(t, True)
        if writer is None:
            items.append(f"N{i}: v{i}")
            continue
        env[f"W{i}"] = writer
        if t.base is Base.DOUBLE:
            as_python = (
                f"type(v{i}) is float and (LOW <= v{i} < HIGH or -HIGH < v{i} <= -LOW or not v{i})"
            )
            items.append(f"N{i}: v{i} if v{i} is None or {as_python} else W{i}(v{i})")
        else:
            items.append(f"N{i}: None if v{i} is None else W{i}(v{i})")
    values = "".join(f"v{i}, " for i in range(len(columns)))
    source = (
        "def serialize(values):\n"
        "    if values is None:\n"
        "        return None\n"
        f"    {values}= values\n"
        f"    return dumps({{{', '.join(items)}}})\n"
    )
    exec(source, env)  # noqa: S102 - generated from the schema only, see above
    return env["serialize"]  # type: ignore[no-any-return]


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
