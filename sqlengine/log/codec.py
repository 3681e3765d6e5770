"""The frame format of the log: one appended batch of one partition is one frame.

Frame (all integers little-endian):

    header, 32 bytes: magic u32 | crc u32 | payload length u32 | record count u32 |
                      base offset i64 | flags u32 | reserved u32 (0)
    payload:          timestamps  i64 * n
                      keys        binary column
                      values      binary column
                      headers     (only if FLAG_HEADERS) see _encode_headers

A binary column is Arrow's binary array layout: validity bitmap (ceil(n/8) bytes, only if
the column's null flag is set), offsets i32 * (n + 1), data bytes. Every section is padded
to a multiple of 8 bytes so buffers stay aligned. Encoding is `pa.array(list)` (or the given Arrow array's buffers)
and decoding `Array.from_buffers(...)`: C speed, no Python work per record.

The CRC32C covers the payload and then header bytes 8..32 (everything but magic and crc),
so a torn or corrupt frame is detected before anything in it is used.
"""

from __future__ import annotations

import struct
import sys
from array import array
from typing import NamedTuple

import crc32c
import pyarrow as pa

from sqlengine.log.base import Headers

if sys.byteorder != "little":  # array/Arrow buffers are written in native byte order
    raise ImportError("the embedded log supports little-endian machines only")

MAGIC = 0x31424453  # b"SDB1"
HEADER = struct.Struct("<IIIIqII")
HEADER_SIZE = HEADER.size
_CRC_FIELDS = struct.Struct("<IIqII")  # header after magic and crc: what the CRC covers

FLAG_KEY_NULLS = 1
FLAG_VALUE_NULLS = 2
FLAG_HEADERS = 4
_KNOWN_FLAGS = FLAG_KEY_NULLS | FLAG_VALUE_NULLS | FLAG_HEADERS

_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")
_BINARY = pa.binary()
_INT64 = pa.int64()
_PADDING = [b"\0" * i for i in range(8)]


class CorruptFrameError(Exception):
    """A frame failed its checks (torn write, bit rot, or not a frame at all)."""


class EncodedBatch(NamedTuple):
    """A batch's payload ready to frame: buffers to write in order, their total size,
    their CRC32C (the header fields are folded in when the base offset is known)."""

    count: int
    flags: int
    parts: list[bytes | pa.Buffer]
    size: int
    payload_crc: int


class FrameHeader(NamedTuple):
    crc: int
    payload_size: int
    count: int
    base_offset: int
    flags: int


class Columns(NamedTuple):
    """Records of a frame as Arrow arrays (int64 timestamps, binary keys and values), zero
    copies of the frame's buffers; headers as Python values."""

    timestamps: pa.Array
    keys: pa.Array
    values: pa.Array
    headers: list[Headers]


def _pad(size: int) -> int:
    return -size % 8


def _binary_parts(column: list[bytes | None] | pa.Array, parts: list[bytes | pa.Buffer]) -> bool:
    """Appends the column's Arrow buffers to parts; returns True if it has nulls."""
    if isinstance(column, list):
        arr = pa.array(column, _BINARY)
    else:
        arr = column.cast(_BINARY)
        if arr.offset:  # a slice: buffers rebased to start at offset 0
            arr = pa.concat_arrays([arr])
    validity, offsets, data = arr.buffers()
    n = len(arr)
    if arr.null_count:
        size = (n + 7) // 8
        parts.append(validity[:size])
        parts.append(_PADDING[_pad(size)])
    size = 4 * (n + 1)
    parts.append(offsets[:size])
    parts.append(_PADDING[_pad(size)])
    size = _I32.unpack_from(offsets, 4 * n)[0]
    parts.append(data[:size])
    parts.append(_PADDING[_pad(size)])
    return arr.null_count > 0


def _encode_headers(headers: list[Headers]) -> bytes:
    """Per record: count u16, then per header: name length u16, UTF-8 name, value length
    i32 (-1 for null), value. Headers are rare, so a plain loop is fine here."""
    out = bytearray()
    for record_headers in headers:
        out += _U16.pack(len(record_headers))
        for name, value in record_headers:
            raw = name.encode()
            out += _U16.pack(len(raw))
            out += raw
            if value is None:
                out += _I32.pack(-1)
            else:
                out += _I32.pack(len(value))
                out += value
    return bytes(out)


def _decode_headers(data: memoryview, count: int) -> list[Headers]:
    result: list[Headers] = []
    pos = 0
    for _ in range(count):
        (n,) = _U16.unpack_from(data, pos)
        pos += 2
        record: list[tuple[str, bytes | None]] = []
        for _ in range(n):
            (size,) = _U16.unpack_from(data, pos)
            name = bytes(data[pos + 2 : pos + 2 + size]).decode()
            pos += 2 + size
            (size,) = _I32.unpack_from(data, pos)
            pos += 4
            if size < 0:
                record.append((name, None))
            else:
                record.append((name, bytes(data[pos : pos + size])))
                pos += size
        result.append(tuple(record))
    return result


def _timestamp_part(timestamps: list[int] | pa.Array) -> bytes | pa.Buffer:
    if isinstance(timestamps, list):
        return array("q", timestamps).tobytes()
    stamps = timestamps.cast(_INT64)
    if stamps.null_count:
        raise ValueError("a record needs a timestamp")
    return stamps.buffers()[1].slice(8 * stamps.offset, 8 * len(stamps))


def encode_batch(
    timestamps: list[int] | pa.Array,
    keys: list[bytes | None] | pa.Array,
    values: list[bytes | None] | pa.Array,
    headers: list[Headers] | None,
) -> EncodedBatch:
    """Columns given as lists or as Arrow arrays (int64 timestamps, binary or string keys and
    values)."""
    count = len(timestamps)
    if len(keys) != count or len(values) != count or (headers and len(headers) != count):
        raise ValueError("keys, values, timestamps and headers must have the same length")
    parts: list[bytes | pa.Buffer] = [_timestamp_part(timestamps)]
    flags = 0
    if _binary_parts(keys, parts):
        flags |= FLAG_KEY_NULLS
    if _binary_parts(values, parts):
        flags |= FLAG_VALUE_NULLS
    if headers and any(headers):
        encoded = _encode_headers(headers)
        parts.append(encoded)
        parts.append(_PADDING[_pad(len(encoded))])
        flags |= FLAG_HEADERS
    parts = [p for p in parts if len(p)]
    crc = 0
    size = 0
    for part in parts:
        crc = crc32c.crc32c(part, crc)
        size += len(part)
    return EncodedBatch(count, flags, parts, size, crc)


def frame_header(batch: EncodedBatch, base_offset: int) -> bytes:
    fields = _CRC_FIELDS.pack(batch.size, batch.count, base_offset, batch.flags, 0)
    crc = crc32c.crc32c(fields, batch.payload_crc)
    return HEADER.pack(MAGIC, crc, batch.size, batch.count, base_offset, batch.flags, 0)


def parse_header(data: bytes | memoryview) -> FrameHeader:
    """The header at the start of data; raises CorruptFrameError if it is not one."""
    if len(data) < HEADER_SIZE:
        raise CorruptFrameError("truncated frame header")
    magic, crc, size, count, base, flags, reserved = HEADER.unpack_from(data)
    if magic != MAGIC or reserved != 0 or flags & ~_KNOWN_FLAGS or count == 0 or base < 0:
        raise CorruptFrameError("not a frame header")
    return FrameHeader(crc, size, count, base, flags)


def check_crc(frame: bytes | memoryview, header: FrameHeader) -> None:
    """Raises CorruptFrameError unless frame (header + payload) matches its CRC."""
    end = HEADER_SIZE + header.payload_size
    if len(frame) < end:
        raise CorruptFrameError("truncated frame payload")
    view = memoryview(frame)
    crc = crc32c.crc32c(view[8:HEADER_SIZE], crc32c.crc32c(view[HEADER_SIZE:end]))
    if crc != header.crc:
        raise CorruptFrameError("frame CRC mismatch")


def _binary_column(
    buf: pa.Buffer, view: memoryview, pos: int, count: int, nullable: bool
) -> tuple[pa.Array, int]:
    validity = None
    if nullable:
        size = (count + 7) // 8
        validity = buf.slice(pos, size)
        pos += size + _pad(size)
    size = 4 * (count + 1)
    offsets = buf.slice(pos, size)
    data_size = _I32.unpack_from(view, pos + 4 * count)[0]
    pos += size + _pad(size)
    data = buf.slice(pos, data_size)
    pos += data_size + _pad(data_size)
    arr = pa.Array.from_buffers(_BINARY, count, [validity, offsets, data])
    return arr, pos


def decode_frame(frame: bytes, header: FrameHeader, start: int, stop: int) -> Columns:
    """Records start..stop (indexes within the frame) of a CRC-checked frame."""
    count = header.count
    view = memoryview(frame)
    buf = pa.py_buffer(frame)
    pos = HEADER_SIZE
    stamps = pa.Array.from_buffers(
        _INT64, stop - start, [None, buf.slice(pos + 8 * start, 8 * (stop - start))]
    )
    pos += 8 * count
    keys, pos = _binary_column(buf, view, pos, count, bool(header.flags & FLAG_KEY_NULLS))
    values, pos = _binary_column(buf, view, pos, count, bool(header.flags & FLAG_VALUE_NULLS))
    n = stop - start
    if header.flags & FLAG_HEADERS:
        headers = _decode_headers(view[pos : HEADER_SIZE + header.payload_size], count)
        headers = headers[start:stop]
    else:
        headers = [()] * n
    return Columns(stamps, keys.slice(start, n), values.slice(start, n), headers)
