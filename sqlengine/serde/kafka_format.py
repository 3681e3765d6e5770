"""The KAFKA format: one column written with Kafka's primitive serializers.

INT is 4 bytes and BIGINT 8 bytes big-endian two's complement, DOUBLE 8 bytes IEEE 754
big-endian, STRING UTF-8, BYTES the bytes themselves. A NULL column is a null record.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from sqlengine.serde.base import SerdeError
from sqlengine.types import Base, SqlType

Serializer = Callable[[Sequence[Any] | None], bytes | None]
Deserializer = Callable[[bytes | None], list[Any] | None]

SUPPORTED_BASES = frozenset({Base.INTEGER, Base.BIGINT, Base.DOUBLE, Base.STRING, Base.BYTES})

# base -> (struct code, size, name of Kafka's deserializer); STRING and BYTES have no fixed size.
_FIXED = {
    Base.INTEGER: (struct.Struct(">i"), 4, "IntegerDeserializer"),
    Base.BIGINT: (struct.Struct(">q"), 8, "LongDeserializer"),
    Base.DOUBLE: (struct.Struct(">d"), 8, "DoubleDeserializer"),
}


def _encoder(t: SqlType) -> Callable[[Any], bytes]:
    if t.base is Base.STRING:
        return str.encode
    if t.base is Base.BYTES:
        return bytes
    code = _FIXED[t.base][0]
    if t.base is Base.DOUBLE:
        return lambda v: code.pack(float(v))
    return code.pack


def make_kafka_serializer(column_type: SqlType) -> Serializer:
    encode = _encoder(column_type)

    def serialize(values: Sequence[Any] | None) -> bytes | None:
        if values is None or values[0] is None:
            return None
        try:
            return encode(values[0])
        except struct.error as e:
            raise SerdeError(f"Error serializing KAFKA message: {e}") from None

    return serialize


def _decoder(t: SqlType, topic: str) -> Callable[[bytes], Any]:
    if t.base is Base.STRING:
        return lambda data: data.decode("utf-8", errors="replace")
    if t.base is Base.BYTES:
        return bytes
    code, size, name = _FIXED[t.base]

    def decode(data: bytes) -> Any:
        if len(data) != size:
            raise SerdeError(
                f"Error deserializing KAFKA message from topic: {topic}. "
                f"Size of data received by {name} is not {size}"
            )
        return code.unpack(data)[0]

    return decode


def make_kafka_deserializer(column_type: SqlType, *, topic: str) -> Deserializer:
    decode = _decoder(column_type, topic)

    def deserialize(data: bytes | None) -> list[Any] | None:
        return None if data is None else [decode(data)]

    return deserialize
