"""Windowed keys as Kafka Streams frames them: the inner key's bytes, then the window.

Time windows (TUMBLING, HOPPING) append the 8-byte big-endian window start; session windows
append the 8-byte end and then the 8-byte start. A time window's end is start + size.
"""

from __future__ import annotations

import struct

_LONG = struct.Struct(">q")
_TWO_LONGS = struct.Struct(">qq")


def windowed_key(inner: bytes | None, start: int, end: int, session: bool) -> bytes:
    body = inner or b""
    if session:
        return body + _TWO_LONGS.pack(end, start)
    return body + _LONG.pack(start)


def split_windowed_key(data: bytes, session: bool, size: int | None) -> tuple[bytes, int, int]:
    """(inner key bytes, window start, window end)."""
    if session:
        end, start = _TWO_LONGS.unpack_from(data, len(data) - 16)
        return data[:-16], start, end
    (start,) = _LONG.unpack_from(data, len(data) - 8)
    return data[:-8], start, start + (size or 0)
