"""One partition of the embedded log on disk: a directory of segment files of frames.

Segment files are named by the offset of their first record (`00000000000000000000.log`)
and hold frames back to back (see codec.py). When the active (last) segment reaches
`segment_bytes` a new one is started. The in-memory index per segment maps each frame's
base offset to its file position (two arrays, searched with bisect); it is rebuilt on open.

Recovery on open: every frame header is checked for structure and contiguous offsets, and
every frame of the active segment is also CRC-checked (only the active segment can hold a
torn write of a crashed process). At the first bad frame the segment is truncated and any
later segments are removed, so appends continue right after the last good record. Reads
CRC-check each frame as well, so corrupt bytes are never returned as records.
"""

from __future__ import annotations

import logging
import os
import threading
from array import array
from bisect import bisect_right
from pathlib import Path

from sqlengine.log.codec import (
    HEADER_SIZE,
    Columns,
    CorruptFrameError,
    EncodedBatch,
    FrameHeader,
    check_crc,
    decode_frame,
    frame_header,
    parse_header,
)

_log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".log"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, parts: list, size: int) -> None:
    written = os.writev(fd, parts)
    if written == size:
        return
    # A short write (rare for regular files): write the rest piece by piece.
    data = b"".join(bytes(p) for p in parts)
    while written < size:
        written += os.write(fd, data[written:])


class _Segment:
    __slots__ = ("base_offset", "path", "size", "frame_offsets", "frame_positions", "fd")

    def __init__(self, base_offset: int, path: Path) -> None:
        self.base_offset = base_offset
        self.path = path
        self.size = 0
        self.frame_offsets = array("q")
        self.frame_positions = array("q")
        self.fd: int | None = None

    def open_fd(self, writable: bool) -> int:
        if self.fd is None:
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT if writable else os.O_RDONLY
            self.fd = os.open(self.path, flags, 0o644)
        return self.fd

    def close_fd(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class DiskPartition:
    """Appends and reads of one partition; thread-safe (one lock)."""

    def __init__(self, directory: Path, *, fsync: bool, segment_bytes: int) -> None:
        self.directory = directory
        self._fsync = fsync
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._closed = False
        self._segments: list[_Segment] = []
        self._segment_bases = array("q")
        self.end_offset = 0
        # The last frame read (base offset, bytes, header): tailing readers that take a
        # frame in several smaller reads don't re-read and re-check it each time.
        self._last_frame: tuple[int, bytes, FrameHeader] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._recover()
        if not self._segments:
            self._add_segment(0)
        self._segments[-1].open_fd(writable=True)

    @property
    def start_offset(self) -> int:
        return self._segments[0].base_offset

    def _add_segment(self, base_offset: int) -> _Segment:
        segment = _Segment(base_offset, self.directory / f"{base_offset:020d}{SEGMENT_SUFFIX}")
        segment.open_fd(writable=True)
        self._segments.append(segment)
        self._segment_bases.append(base_offset)
        if self._fsync:
            fsync_dir(self.directory)
        return segment

    def _recover(self) -> None:
        paths = sorted(self.directory.glob(f"*{SEGMENT_SUFFIX}"))
        for i, path in enumerate(paths):
            base = int(path.stem)
            if self._segments and base != self.end_offset:
                _log.warning("%s: offset gap before %s; dropping it and later", self, path)
                self._remove_files(paths[i:])
                return
            segment = _Segment(base, path)
            good_size = self._scan(segment, verify_crc=i == len(paths) - 1)
            self._segments.append(segment)
            self._segment_bases.append(base)
            if good_size < path.stat().st_size:
                _log.warning("%s: truncating %s at %d (torn or corrupt)", self, path, good_size)
                with open(path, "r+b") as f:
                    f.truncate(good_size)
                self._remove_files(paths[i + 1 :])
                return

    def _remove_files(self, paths: list[Path]) -> None:
        for path in paths:
            path.unlink()

    def _scan(self, segment: _Segment, verify_crc: bool) -> int:
        """Indexes segment's valid frames; returns the size of its valid prefix."""
        expected = segment.base_offset
        pos = 0
        with open(segment.path, "rb") as f:
            while True:
                raw = f.read(HEADER_SIZE)
                if not raw:
                    break
                try:
                    header = parse_header(raw)
                    if header.base_offset != expected:
                        raise CorruptFrameError("unexpected base offset")
                    if verify_crc:
                        check_crc(raw + f.read(header.payload_size), header)
                    else:
                        f.seek(header.payload_size, os.SEEK_CUR)
                        if f.tell() > os.fstat(f.fileno()).st_size:
                            raise CorruptFrameError("truncated frame payload")
                except CorruptFrameError:
                    break
                segment.frame_offsets.append(expected)
                segment.frame_positions.append(pos)
                pos += HEADER_SIZE + header.payload_size
                expected += header.count
        segment.size = pos
        self.end_offset = expected
        return pos

    def append(self, batch: EncodedBatch) -> int:
        """Writes batch as one frame; returns its base offset. When this returns the frame
        is in the OS (survives kill -9); with fsync also on the device."""
        with self._lock:
            if self._closed:
                raise ValueError(f"partition {self.directory} is closed")
            segment = self._segments[-1]
            if segment.size >= self._segment_bytes:
                if self._fsync:
                    os.fsync(segment.open_fd(writable=True))
                segment.close_fd()
                segment = self._add_segment(self.end_offset)
            base = self.end_offset
            fd = segment.open_fd(writable=True)
            size = HEADER_SIZE + batch.size
            try:
                _write_all(fd, [frame_header(batch, base), *batch.parts], size)
                if self._fsync:
                    os.fdatasync(fd)
            except BaseException:
                # Never leave a partial frame behind good ones: later frames would be
                # unreachable after recovery.
                os.ftruncate(fd, segment.size)
                raise
            segment.frame_offsets.append(base)
            segment.frame_positions.append(segment.size)
            segment.size += size
            self.end_offset = base + batch.count
            return base

    def _frame(self, segment: _Segment, index: int) -> tuple[bytes, FrameHeader]:
        """The CRC-checked bytes of the index-th frame of segment (under the lock)."""
        base = segment.frame_offsets[index]
        cached = self._last_frame
        if cached is not None and cached[0] == base:
            return cached[1], cached[2]
        position = segment.frame_positions[index]
        if index + 1 < len(segment.frame_positions):
            end = segment.frame_positions[index + 1]
        else:
            end = segment.size
        fd = segment.open_fd(writable=segment is self._segments[-1])
        frame = os.pread(fd, end - position, position)
        header = parse_header(frame)
        check_crc(frame, header)
        self._last_frame = (base, frame, header)
        return frame, header

    def read(self, offset: int, max_records: int) -> tuple[int, list[Columns]]:
        """Up to max_records from offset on: (first offset, column chunks)."""
        chunks: list[tuple[bytes, FrameHeader, int, int]] = []
        with self._lock:
            if self._closed:
                raise ValueError(f"partition {self.directory} is closed")
            offset = max(offset, self.start_offset)
            first = offset
            remaining = min(max_records, self.end_offset - offset)
            s = bisect_right(self._segment_bases, offset) - 1
            while remaining > 0:
                segment = self._segments[s]
                i = bisect_right(segment.frame_offsets, offset) - 1
                while remaining > 0 and i < len(segment.frame_offsets):
                    frame, header = self._frame(segment, i)
                    start = offset - header.base_offset
                    stop = min(header.count, start + remaining)
                    chunks.append((frame, header, start, stop))
                    remaining -= stop - start
                    offset += stop - start
                    i += 1
                s += 1
        return first, [decode_frame(*chunk) for chunk in chunks]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for segment in self._segments:
                segment.close_fd()

    def __repr__(self) -> str:
        return f"DiskPartition({self.directory})"
