"""The event log interface: Kafka's concepts (topics, partitions, offsets, consumer groups).

The embedded log (sqlengine.log.embedded) is the default implementation; a Kafka backend
implements the same interface. Nothing here is file-specific.
"""

from __future__ import annotations

import re
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

Headers = tuple[tuple[str, bytes | None], ...]


class ProducerRecord(NamedTuple):
    """A record to append. partition None: chosen by the default partitioner
    (murmur2 of the key bytes, or round-robin for a null key)."""

    key: bytes | None
    value: bytes | None
    timestamp: int  # epoch milliseconds
    headers: Headers = ()
    partition: int | None = None


class Record(NamedTuple):
    """A record as read back: where it sits in the log and what it holds."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


class RecordBatch:
    """Records of one partition, column by column (the fast path: no object per record).
    Offsets are increasing but need not be contiguous (a Kafka backend may have gaps).

    Columns are given as Python lists or as Arrow arrays (int64 timestamps, binary keys and
    values, as the embedded log stores them) and converted on first use, so a vectorized
    operator reads the Arrow arrays and a per-record one the lists, each without copies it
    does not need."""

    __slots__ = ("topic", "partition", "_offsets", "_timestamps", "_keys", "_values", "headers")

    def __init__(
        self,
        topic: str,
        partition: int,
        offsets: list[int] | range,
        timestamps: list[int] | pa.Array,
        keys: list[bytes | None] | pa.Array,
        values: list[bytes | None] | pa.Array,
        headers: list[Headers],
    ) -> None:
        self.topic = topic
        self.partition = partition
        self._offsets = offsets
        self._timestamps = timestamps
        self._keys = keys
        self._values = values
        self.headers = headers

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def offsets(self) -> list[int]:
        if not isinstance(self._offsets, list):
            self._offsets = list(self._offsets)
        return self._offsets

    @property
    def timestamps(self) -> list[int]:
        if not isinstance(self._timestamps, list):
            self._timestamps = self._timestamps.to_pylist()
        return self._timestamps

    @property
    def keys(self) -> list[bytes | None]:
        if not isinstance(self._keys, list):
            self._keys = self._keys.to_pylist()
        return self._keys

    @property
    def values(self) -> list[bytes | None]:
        if not isinstance(self._values, list):
            self._values = self._values.to_pylist()
        return self._values

    def arrays(self) -> tuple[pa.Array, pa.Array, pa.Array]:
        """(timestamps, keys, values) as Arrow arrays (int64, binary, binary)."""
        return (
            _as_array(self._timestamps, pa.int64()),
            _as_array(self._keys, pa.binary()),
            _as_array(self._values, pa.binary()),
        )

    def offset_array(self) -> pa.Array:
        """The records' offsets as an int64 array (without a list of them when contiguous)."""
        offsets = self._offsets
        if isinstance(offsets, range) and offsets.step == 1:
            return pa.array(np.arange(offsets.start, offsets.stop, dtype=np.int64))
        return pa.array(self.offsets, pa.int64())

    @property
    def first_offset(self) -> int:
        return self._offsets[0]

    @property
    def next_offset(self) -> int:
        """The offset to read from after this batch (only meaningful when non-empty)."""
        return self._offsets[-1] + 1

    def __reduce__(self) -> tuple[Callable[..., RecordBatch], tuple[object, ...]]:
        """Pickles the batch's own bytes only: a batch read from the log is a slice of its
        frames, whose whole buffers an Arrow array would otherwise carry along. Headers
        that are all empty (the usual case) pickle as None rather than a tuple a record."""
        columns = [
            pa.concat_arrays([c]) if isinstance(c, pa.Array) else c
            for c in (self._timestamps, self._keys, self._values)
        ]
        headers = self.headers if any(self.headers) else None
        return (_unpickled, ((self.topic, self.partition, self._offsets, *columns), headers))

    def split(self, at: int) -> tuple[RecordBatch, RecordBatch]:
        """The records before position `at` and those from it on, as two batches."""
        halves = []
        for part in (slice(0, at), slice(at, len(self))):
            columns = [
                c.slice(part.start, part.stop - part.start) if isinstance(c, pa.Array) else c[part]
                for c in (self._timestamps, self._keys, self._values)
            ]
            offsets = self._offsets[part]
            halves.append(
                RecordBatch(self.topic, self.partition, offsets, *columns, self.headers[part])
            )
        return halves[0], halves[1]

    @staticmethod
    def concat(topic: str, partition: int, batches: list[RecordBatch]) -> RecordBatch:
        """Consecutive batches of one partition as one (none: an empty batch)."""
        if not batches:
            return RecordBatch(topic, partition, [], [], [], [], [])
        if len(batches) == 1:
            return batches[0]
        arrays = [batch.arrays() for batch in batches]
        return RecordBatch(
            topic,
            partition,
            [offset for batch in batches for offset in batch.offsets],
            *(pa.concat_arrays([a[i] for a in arrays]) for i in range(3)),
            [headers for batch in batches for headers in batch.headers],
        )

    def records(self) -> list[Record]:
        return [
            Record(self.topic, self.partition, o, t, k, v, h)
            for o, t, k, v, h in zip(
                self.offsets, self.timestamps, self.keys, self.values, self.headers, strict=True
            )
        ]


def _unpickled(fields: tuple[Any, ...], headers: list[Headers] | None) -> RecordBatch:
    """A batch from its pickle (`RecordBatch.__reduce__`): all but its headers, which come
    as None when all are empty."""
    return RecordBatch(*fields, [()] * len(fields[2]) if headers is None else headers)


def _as_array(column: list | pa.Array, type_: pa.DataType) -> pa.Array:
    return pa.array(column, type_) if isinstance(column, list) else column


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    replicas: int = 1
    config: dict[str, str] = field(default_factory=dict)


TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")  # Kafka's legal topic names


def check_new_topic(name: str, partitions: int, replicas: int) -> None:
    """Raises ValueError for a topic no backend may create."""
    if not TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"illegal topic name {name!r}: use 1-249 of [a-zA-Z0-9._-]")
    if partitions < 1 or replicas < 1:
        raise ValueError("a topic needs at least one partition and one replica")


def check_commit(offsets: dict[tuple[str, int], int]) -> None:
    """Raises ValueError for a committed position that cannot be."""
    for (topic, partition), offset in offsets.items():
        if offset < 0 or partition < 0 or not topic:
            raise ValueError(f"bad committed position {(topic, partition)}: {offset}")


class TopicExistsError(Exception):
    pass


class UnknownTopicError(Exception):
    pass


class LogInUseError(RuntimeError):
    """Another process (or another open log in this one) holds the data directory."""


class StepAborted(RuntimeError):
    """The log aborted a step's transaction (`Log.step`) for an error of its own (a broker's,
    say): nothing the step wrote is read, and the group's offsets are where the step found
    them, so the step may run again from there."""


Position = tuple[str, int]  # (topic, partition)


class GroupMember:
    """This process's share of a consumer group's partitions (`Log.join_group`): on Kafka,
    servers of one service id split a query's source partitions by joining its group.

    `generation` moves whenever `assignment` changes. A member losing partitions waits (a
    bounded time) for `released`, so that the query commits what it did with them before
    another process takes them over. This base member is a process alone: it owns every
    partition, always (the embedded log: one process owns the data directory)."""

    def generation(self) -> int:
        return 0

    def assignment(self) -> frozenset[Position] | None:
        """The partitions owned now; None: every partition of the group's topics."""
        return None

    def released(self, generation: int) -> None:
        """The query has committed and let go of what `generation` took away."""

    def close(self) -> None:
        """Leave the group (its partitions go to the other members)."""


class Log(ABC):
    """A set of topics. Implementations are thread-safe."""

    def join_group(self, group: str, topics: list[str]) -> GroupMember:
        """Membership of consumer group `group` over `topics`, for a persistent query that
        shares its partitions with the other processes of the group."""
        return GroupMember()

    @abstractmethod
    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replicas: int = 1,
        config: dict[str, str] | None = None,
    ) -> TopicInfo:
        """Create a topic; raises TopicExistsError if it exists."""

    @abstractmethod
    def delete_topic(self, name: str) -> None: ...

    @abstractmethod
    def topics(self) -> list[TopicInfo]: ...

    @abstractmethod
    def topic(self, name: str) -> TopicInfo | None: ...

    @abstractmethod
    def append(self, topic: str, records: list[ProducerRecord]) -> list[tuple[int, int]]:
        """Append records durably, in order; returns (partition, offset) of each.
        When this returns, the records survive a crash of the process (kill -9)."""

    @abstractmethod
    def append_batch(
        self,
        topic: str,
        keys: list[bytes | None] | pa.Array,
        values: list[bytes | None] | pa.Array,
        timestamps: list[int] | pa.Array,
        headers: list[Headers] | None = None,
        partition: int | None = None,
    ) -> dict[int, range]:
        """The columnar fast path of `append`: record i is (keys[i], values[i], timestamps[i],
        headers[i] or ()); columns are lists or Arrow arrays (binary or string keys and
        values, int64 timestamps). partition None: each record goes where the default partitioner
        puts it. Returns, per partition written, the range of offsets its records got (in
        input order). Same durability as `append`."""

    @abstractmethod
    def read(
        self, topic: str, partition: int, offset: int, max_records: int = 10000
    ) -> RecordBatch:
        """Records of one partition from `offset` on (fewer or none at the end). An offset
        below start_offset reads from start_offset."""

    @abstractmethod
    def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next appended record of this partition will get."""

    @abstractmethod
    def start_offset(self, topic: str, partition: int) -> int:
        """The first offset still stored in this partition."""

    @abstractmethod
    def wait_for_data(self, positions: dict[tuple[str, int], int], timeout: float) -> bool:
        """Block until any (topic, partition) has data at or beyond its offset, or timeout.
        Returns True if data is available."""

    @abstractmethod
    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Durably record a consumer group's next offsets to read."""

    @abstractmethod
    def committed(self, group: str) -> dict[tuple[str, int], int]:
        """A consumer group's committed offsets (empty if none)."""

    @abstractmethod
    def close(self) -> None: ...

    # Whether `step` makes a step's appends and its commit one atomic unit, so a query needs
    # no guard of its own against writing a step's output twice (exactly_once.py).
    transactional = False

    @contextmanager
    def step(self, group: str, task: str) -> Iterator[None]:
        """A step of task `task` of consumer group `group` (processing.guarantee
        exactly_once_v2). On a `transactional` log, what this thread appends in the block
        becomes visible together with the block's `commit(group, ...)`, and is never read if
        the block raises. Here appends are durable at once and a group commit is atomic:
        the block needs nothing more, and a query guards its own output (exactly_once.py)."""
        yield


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2), as a signed int."""
    length = len(data)
    m = 0x5BD1E995
    h = 0x9747B28C ^ length
    length4 = length // 4
    for k in struct.unpack_from(f"<{length4}I", data):
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * m) & 0xFFFFFFFF) ^ ((k * m) & 0xFFFFFFFF)
    rest = length % 4
    tail = length4 * 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def default_partition(key: bytes | None, partitions: int, counter: int = 0) -> int:
    """Kafka's default partitioner: murmur2 of the key bytes; null keys spread by counter."""
    if key is None:
        return counter % partitions
    return (murmur2(key) & 0x7FFFFFFF) % partitions
