"""What every log backend built on partition stores shares: the topic registry,
partitioning, columnar append/read, waiting for data and consumer group offsets.
Subclasses (EmbeddedLog, MemoryLog) say where topics, partitions and offsets live."""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from sqlengine.log.base import (
    Headers,
    Log,
    ProducerRecord,
    RecordBatch,
    TopicExistsError,
    TopicInfo,
    UnknownTopicError,
    check_commit,
    check_new_topic,
    default_partition,
)
from sqlengine.log.codec import Columns, EncodedBatch, encode_batch

_KEY_CACHE_LIMIT = 100_000  # cached key -> partition entries per topic (murmur2 is slow)

GroupOffsets = dict[tuple[str, int], int]


class PartitionStore(Protocol):
    end_offset: int

    @property
    def start_offset(self) -> int: ...

    def append(self, batch: EncodedBatch) -> int:
        """Stores batch; returns the offset of its first record."""
        ...

    def read(self, offset: int, max_records: int) -> tuple[int, list[Columns]]:
        """(first offset, column chunks) of up to max_records from offset on."""
        ...

    def close(self) -> None: ...


class _Topic:
    __slots__ = ("info", "partitions", "null_key_counter", "key_partitions")

    def __init__(self, info: TopicInfo, partitions: list[PartitionStore]) -> None:
        self.info = info
        self.partitions = partitions
        self.null_key_counter = 0
        self.key_partitions: dict[bytes, int] = {}

    def partition_for(self, key: bytes | None) -> int:
        n = len(self.partitions)
        if key is None:
            self.null_key_counter += 1
            return default_partition(None, n, self.null_key_counter - 1)
        p = self.key_partitions.get(key)
        if p is None:
            if len(self.key_partitions) >= _KEY_CACHE_LIMIT:
                self.key_partitions.clear()
            p = self.key_partitions[key] = default_partition(key, n)
        return p

    def store(self, partition: int) -> PartitionStore:
        if not 0 <= partition < len(self.partitions):
            raise UnknownTopicError(f"topic {self.info.name} has no partition {partition}")
        return self.partitions[partition]


def _concat(chunks: list[Columns]) -> Columns:
    if len(chunks) == 1:
        return chunks[0]
    headers: list[Headers] = []
    for chunk in chunks:
        headers.extend(chunk.headers)
    return Columns(
        pa.concat_arrays([c.timestamps for c in chunks]),
        pa.concat_arrays([c.keys for c in chunks]),
        pa.concat_arrays([c.values for c in chunks]),
        headers,
    )


class TopicLog(Log):
    """A Log over PartitionStores; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, GroupOffsets] = {}
        self._groups_lock = threading.Lock()
        self._data_ready = threading.Condition(threading.Lock())
        self._waiters = 0
        self._closed = False

    @abstractmethod
    def _create_partitions(self, info: TopicInfo) -> list[PartitionStore]:
        """Storage for a new topic (and its metadata)."""

    @abstractmethod
    def _delete_storage(self, name: str) -> None:
        """Removes a topic's storage; its partitions are closed already."""

    @abstractmethod
    def _save_group(self, group: str, offsets: GroupOffsets) -> None:
        """Stores a group's complete committed offsets."""

    def _close_storage(self) -> None:
        """Releases what the backend holds beyond partitions."""

    def _add_topic(self, info: TopicInfo, partitions: list[PartitionStore]) -> None:
        self._topics[info.name] = _Topic(info, partitions)

    def _topic(self, name: str) -> _Topic:
        if self._closed:
            raise ValueError("the log is closed")
        topic = self._topics.get(name)
        if topic is None:
            raise UnknownTopicError(name)
        return topic

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replicas: int = 1,
        config: dict[str, str] | None = None,
    ) -> TopicInfo:
        check_new_topic(name, partitions, replicas)
        info = TopicInfo(name, partitions, replicas, dict(config or {}))
        with self._lock:
            if self._closed:
                raise ValueError("the log is closed")
            if name in self._topics:
                raise TopicExistsError(name)
            self._add_topic(info, self._create_partitions(info))
        return info

    def delete_topic(self, name: str) -> None:
        with self._lock:
            topic = self._topic(name)
            del self._topics[name]
            for store in topic.partitions:
                store.close()
            self._delete_storage(name)
        self._notify()

    def topics(self) -> list[TopicInfo]:
        with self._lock:
            return sorted((t.info for t in self._topics.values()), key=lambda i: i.name)

    def topic(self, name: str) -> TopicInfo | None:
        topic = self._topics.get(name)
        return topic.info if topic else None

    def _notify(self) -> None:
        with self._data_ready:
            if self._waiters:
                self._data_ready.notify_all()

    def _write(
        self,
        store: PartitionStore,
        keys: list[bytes | None] | pa.Array,
        values: list[bytes | None] | pa.Array,
        timestamps: list[int] | pa.Array,
        headers: list[Headers] | None,
    ) -> range:
        """Appends to one partition; the caller wakes the readers (`_notify`) once it has
        written every partition of its batch, so a reader woken does not contend with it."""
        batch = encode_batch(timestamps, keys, values, headers)
        base = store.append(batch)
        return range(base, base + batch.count)

    def append_batch(
        self,
        topic: str,
        keys: list[bytes | None] | pa.Array,
        values: list[bytes | None] | pa.Array,
        timestamps: list[int] | pa.Array,
        headers: list[Headers] | None = None,
        partition: int | None = None,
    ) -> dict[int, range]:
        try:
            return self._append_batch(topic, keys, values, timestamps, headers, partition)
        finally:
            self._notify()

    def _append_batch(
        self,
        topic: str,
        keys: list[bytes | None] | pa.Array,
        values: list[bytes | None] | pa.Array,
        timestamps: list[int] | pa.Array,
        headers: list[Headers] | None,
        partition: int | None,
    ) -> dict[int, range]:
        t = self._topic(topic)
        if not timestamps and not keys and not values:
            return {}
        if partition is not None or len(t.partitions) == 1:
            p = partition or 0
            return {p: self._write(t.store(p), keys, values, timestamps, headers)}
        if not len(keys) == len(values) == len(timestamps):
            raise ValueError("keys, values and timestamps must have the same length")
        if not isinstance(keys, list):
            return self._append_partitioned_arrays(t, keys, values, timestamps, headers)
        columns: dict[int, tuple[list, list, list, list]] = {}
        for i, key in enumerate(keys):
            p = t.partition_for(key)
            c = columns.get(p)
            if c is None:
                c = columns[p] = ([], [], [], [])
            c[0].append(key)
            c[1].append(values[i])
            c[2].append(timestamps[i])
            c[3].append(headers[i] if headers else ())
        return {
            p: self._write(t.store(p), k, v, ts, h if headers else None)
            for p, (k, v, ts, h) in sorted(columns.items())
        }

    def _append_partitioned_arrays(
        self,
        t: _Topic,
        keys: pa.Array,
        values: list[bytes | None] | pa.Array,
        timestamps: list[int] | pa.Array,
        headers: list[Headers] | None,
    ) -> dict[int, range]:
        """`append_batch` of Arrow columns to a topic of several partitions: each distinct
        key is hashed once, then every partition's records are taken column-wise."""
        encoded = keys.cast(pa.binary()).dictionary_encode()
        per_key = pa.array([t.partition_for(k) for k in encoded.dictionary.to_pylist()], pa.int32())
        targets = per_key.take(encoded.indices)
        if targets.null_count:  # null keys go round-robin, one record after the other
            spread = [t.partition_for(None) for _ in range(targets.null_count)]
            targets = pc.replace_with_mask(targets, targets.is_null(), pa.array(spread, pa.int32()))
        value_array = pa.array(values, pa.binary()) if isinstance(values, list) else values
        stamp_array = (
            pa.array(timestamps, pa.int64()) if isinstance(timestamps, list) else timestamps
        )
        written = {}
        for p in pc.unique(targets).sort().to_pylist():
            mask = pc.equal(targets, p)
            part_headers = None
            if headers:
                part_headers = [h for h, m in zip(headers, mask.to_pylist(), strict=True) if m]
            written[p] = self._write(
                t.store(p),
                keys.filter(mask),
                value_array.filter(mask),
                stamp_array.filter(mask),
                part_headers,
            )
        return written

    def append(self, topic: str, records: list[ProducerRecord]) -> list[tuple[int, int]]:
        t = self._topic(topic)
        columns: dict[int, tuple[list, list, list, list]] = {}
        placement: list[tuple[int, int]] = []
        for r in records:
            p = t.partition_for(r.key) if r.partition is None else r.partition
            c = columns.get(p)
            if c is None:
                t.store(p)
                c = columns[p] = ([], [], [], [])
            placement.append((p, len(c[0])))
            c[0].append(r.key)
            c[1].append(r.value)
            c[2].append(r.timestamp)
            c[3].append(r.headers)
        try:
            ranges = {p: self._write(t.store(p), *c) for p, c in sorted(columns.items())}
        finally:
            self._notify()
        return [(p, ranges[p][i]) for p, i in placement]

    def read(
        self, topic: str, partition: int, offset: int, max_records: int = 10000
    ) -> RecordBatch:
        if offset < 0:
            raise ValueError(f"negative offset {offset}")
        first, chunks = self._topic(topic).store(partition).read(offset, max_records)
        if not chunks:
            return RecordBatch(topic, partition, [], [], [], [], [])
        c = _concat(chunks)
        offsets = range(first, first + len(c.timestamps))
        return RecordBatch(topic, partition, offsets, c.timestamps, c.keys, c.values, c.headers)

    def end_offset(self, topic: str, partition: int) -> int:
        return self._topic(topic).store(partition).end_offset

    def start_offset(self, topic: str, partition: int) -> int:
        return self._topic(topic).store(partition).start_offset

    def _has_data(self, positions: dict[tuple[str, int], int]) -> bool:
        return any(
            self._topic(topic).store(partition).end_offset > offset
            for (topic, partition), offset in positions.items()
        )

    def wait_for_data(self, positions: dict[tuple[str, int], int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._data_ready:
            while not self._has_data(positions):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._waiters += 1
                try:
                    self._data_ready.wait(remaining)
                finally:
                    self._waiters -= 1
            return True

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        check_commit(offsets)
        with self._groups_lock:
            if self._closed:
                raise ValueError("the log is closed")
            merged = {**self._groups.get(group, {}), **offsets}
            self._save_group(group, merged)
            self._groups[group] = merged

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        with self._groups_lock:
            return dict(self._groups.get(group, {}))

    def close(self) -> None:
        with self._lock, self._groups_lock:
            if self._closed:
                return
            self._closed = True
            for topic in self._topics.values():
                for store in topic.partitions:
                    store.close()
            self._close_storage()
        self._notify()
