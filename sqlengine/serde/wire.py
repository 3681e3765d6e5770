"""Confluent's wire format for Schema Registry formats.

A record is: magic byte 0, the schema id (4 bytes, big-endian), then for PROTOBUF the message
indexes (which message of the schema file: a zig-zag varint count then each index, with the
common case [0] written as the single byte 0), then the payload.
"""

from __future__ import annotations

import struct

from sqlengine.serde.base import SerdeError

MAGIC = 0
_HEADER = struct.Struct(">bI")


def frame(schema_id: int, payload: bytes, indexes: list[int] | None = None) -> bytes:
    """The record bytes of `payload` written with schema `schema_id`."""
    header = _HEADER.pack(MAGIC, schema_id)
    if indexes is None:
        return header + payload
    return header + encode_message_indexes(indexes) + payload


def unframe(data: bytes) -> tuple[int, bytes]:
    """(schema id, the rest) of a framed record; SerdeError when it is not one."""
    if len(data) < _HEADER.size or data[0] != MAGIC:
        raise SerdeError("Unknown magic byte!")
    _, schema_id = _HEADER.unpack_from(data)
    return schema_id, data[_HEADER.size :]


def _zigzag_varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte = z & 0x7F
        z >>= 7
        if z:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_zigzag_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = z = 0
    while True:
        if pos >= len(data):
            raise SerdeError("Invalid message indexes")
        byte = data[pos]
        pos += 1
        z |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (z >> 1) ^ -(z & 1), pos


def encode_message_indexes(indexes: list[int]) -> bytes:
    if indexes == [0]:
        return b"\x00"
    return _zigzag_varint(len(indexes)) + b"".join(_zigzag_varint(i) for i in indexes)


def decode_message_indexes(data: bytes) -> tuple[list[int], bytes]:
    """(message indexes, payload) of the part of a PROTOBUF record after the schema id."""
    count, pos = _read_zigzag_varint(data, 0)
    if count == 0:
        return [0], data[pos:]
    indexes = []
    for _ in range(count):
        index, pos = _read_zigzag_varint(data, pos)
        indexes.append(index)
    return indexes, data[pos:]
