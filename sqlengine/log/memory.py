"""MemoryLog: the log's interface with nothing on disk (tests, throwaway engines).
Batches are kept encoded exactly as the embedded log frames them, so both share the codec."""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_right

from sqlengine.log.base import TopicInfo
from sqlengine.log.codec import Columns, EncodedBatch, decode_frame, frame_header, parse_header
from sqlengine.log.topics import GroupOffsets, PartitionStore, TopicLog


class MemoryPartition:
    start_offset = 0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: list[bytes] = []
        self._bases = array("q")
        self.end_offset = 0

    def append(self, batch: EncodedBatch) -> int:
        with self._lock:
            base = self.end_offset
            self._frames.append(b"".join([frame_header(batch, base), *batch.parts]))
            self._bases.append(base)
            self.end_offset = base + batch.count
            return base

    def read(self, offset: int, max_records: int) -> tuple[int, list[Columns]]:
        with self._lock:
            frames = self._frames
            remaining = min(max_records, self.end_offset - offset)
            i = bisect_right(self._bases, offset) - 1
        first = offset
        chunks = []
        while remaining > 0:
            header = parse_header(frames[i])
            start = offset - header.base_offset
            stop = min(header.count, start + remaining)
            chunks.append(decode_frame(frames[i], header, start, stop))
            remaining -= stop - start
            offset += stop - start
            i += 1
        return first, chunks

    def close(self) -> None:
        """Nothing to release."""


class MemoryLog(TopicLog):
    def _create_partitions(self, info: TopicInfo) -> list[PartitionStore]:
        return [MemoryPartition() for _ in range(info.partitions)]

    def _delete_storage(self, name: str) -> None:
        """The partitions were all there was."""

    def _save_group(self, group: str, offsets: GroupOffsets) -> None:
        """Kept in memory by TopicLog already."""
