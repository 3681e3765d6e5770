"""Where a query's results go: the `RowSink` protocol, and `SinkEncoder`, which encodes
result rows (or a vectorized batch's columns) into the sink topic's records and appends them,
partitioned as Kafka Streams partitions them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from planner.logical import SinkSpec
from sqlengine import catalog as C
from sqlengine import serde
from sqlengine import types as T
from sqlengine.columnar.stateless import SinkColumns
from sqlengine.exactly_once import OutputGuard
from sqlengine.log.base import Log, default_partition
from sqlengine.schema_registry import SchemaRegistry
from sqlengine.timestamps import timestamp_extractor
from sqlengine.windowed_keys import windowed_key


def format_info(fmt: C.Format) -> serde.FormatInfo:
    return serde.FormatInfo(fmt.name, dict(fmt.properties))


_KEY_PARTITIONS_CACHED = 100_000  # base key -> partition entries a windowed sink keeps


class RowSink(Protocol):
    """Where a query's results go: a topic (`SinkEncoder`) or a transient query's consumer.
    Rows are (ROWTIME, keys..., values..., headers); a tombstone row has no values; a
    windowed result gives each row's window in `windows`."""

    def write(
        self,
        rows: list[tuple[Any, ...]],
        tombstones: set[int],
        windows: list[tuple[int, int]] | None = None,
    ) -> None: ...


@dataclass
class SinkEncoder:
    """Projected rows (ROWTIME, keys..., values...) -> records appended to the sink topic."""

    sink: SinkSpec
    key_types: list[tuple[str, T.SqlType]]
    value_types: list[tuple[str, T.SqlType]]
    log: Log
    registry: SchemaRegistry | None = None
    # A key PARTITION BY builds of several columns is written even when all of them are NULL.
    keep_null_keys: bool = False
    # A stateless query's guard: output records written before a crash are not written again.
    guard: OutputGuard | None = None

    def __post_init__(self) -> None:
        topic = self.sink.topic
        self.key_ser = serde.make_serializer(
            format_info(self.sink.key_format),
            self.key_types,
            is_key=True,
            topic=topic,
            registry=self.registry,
        )
        self.value_ser = serde.make_serializer(
            format_info(self.sink.value_format),
            self.value_types,
            is_key=False,
            wrap_single=self.sink.wrap_single_value is not False,
            topic=topic,
            registry=self.registry,
        )
        self.nkeys = len(self.key_types)
        self._partitions_by_key: dict[bytes | None, int] = {}
        # Keys of primitive columns are hashable, so a batch can serialize each once.
        self.primitive_keys = all(t.is_primitive for _, t in self.key_types)
        self.extract_ts: Callable[[Sequence[Any]], int | None] | None = None
        if self.sink.timestamp_column is not None:
            columns = self.key_types + self.value_types
            index = [n for n, _ in columns].index(self.sink.timestamp_column)
            self.extract_ts = timestamp_extractor(
                1 + index, columns[index][1], self.sink.timestamp_format
            )

    def _timestamp(self, row: tuple[Any, ...]) -> int | None:
        """The record time from the sink's TIMESTAMP column; None when it is NULL, negative
        or unparseable (no Kafka record can carry it: ksqlDB drops the row)."""
        assert self.extract_ts is not None
        try:
            ts = self.extract_ts(row)
        except ValueError:
            return None
        return None if ts is None or ts < 0 else ts

    def write(
        self,
        rows: list[tuple[Any, ...]],
        tombstones: set[int],
        windows: list[tuple[int, int]] | None = None,
    ) -> None:
        """Rows are (ROWTIME, keys..., values..., headers); a tombstone row has no values.
        A windowed sink takes each row's window from `windows`, or else from the two
        columns before the headers (WINDOWSTART, WINDOWEND)."""
        if self.sink.window is not None and windows is None:
            windows = [row[-3:-1] for row in rows]
            rows = [(*row[:-3], row[-1]) for row in rows]
        if not rows:
            return
        if windows is None and self.extract_ts is None and not tombstones:
            self._write_plain(rows)
            return
        n = self.nkeys
        keys, values, stamps, headers = [], [], [], []
        # Kafka Streams puts a windowed record where its key without the window goes (its
        # WindowedStreamPartitioner), so every window of a key shares a partition.
        partitions: list[int] | None = [] if windows is not None else None
        for i, row in enumerate(rows):
            tombstone = i in tombstones
            ts = row[0]
            if self.extract_ts is not None and not tombstone:
                ts = self._timestamp(row)
                if ts is None:
                    continue
            key = row[1 : 1 + n]
            # An all-NULL key is a null key (not one NULL column): ksqlDB writes no key bytes.
            keep = self.keep_null_keys or any(k is not None for k in key)
            key_bytes = self.key_ser(key) if keep else None
            if partitions is not None and windows is not None:
                partitions.append(self._base_partition(key_bytes))
                start, end = windows[i]
                key_bytes = windowed_key(key_bytes, start, end, self.sink.session_windows)
            keys.append(key_bytes)
            values.append(None if tombstone else self.value_ser(row[1 + n : -1]))
            stamps.append(ts)
            headers.append(row[-1])
        if keys:
            self._append(keys, values, stamps, headers, partitions)

    def _partition(self, key_bytes: bytes | None) -> int:
        """Where the log's default partitioner puts a record with these key bytes (one with
        no key: the first partition, where a round robin may not have put it)."""
        info = self.log.topic(self.sink.topic)
        return default_partition(key_bytes, info.partitions if info is not None else 1)

    def _base_partition(self, key_bytes: bytes | None) -> int:
        partition = self._partitions_by_key.get(key_bytes)
        if partition is None:
            if len(self._partitions_by_key) >= _KEY_PARTITIONS_CACHED:
                self._partitions_by_key.clear()
            info = self.log.topic(self.sink.topic)
            count = info.partitions if info is not None else 1
            # A NULL key (no window record has one) goes where Kafka puts null keys first.
            partition = default_partition(key_bytes, count)
            self._partitions_by_key[key_bytes] = partition
        return partition

    def write_columns(self, columns: SinkColumns, base_keys: pa.Array | None = None) -> None:
        """Appends a batch the vectorized path encoded already; a windowed batch's records
        go where their `base_keys` (the keys without the window) go."""
        if not len(columns.values):
            return
        if base_keys is None:
            self._append(columns.keys, columns.values, columns.timestamps, None)
            return
        assert self.guard is None  # windowed: a table's sink, which has no output guard
        encoded = base_keys.dictionary_encode()
        per_key = pa.array(
            [self._base_partition(k) for k in encoded.dictionary.to_pylist()], pa.int32()
        )
        partitions = per_key.take(encoded.indices)
        for p in sorted(pc.unique(partitions).to_pylist()):
            mine = pc.equal(partitions, p)
            self.log.append_batch(
                self.sink.topic,
                columns.keys.filter(mine),
                columns.values.filter(mine),
                columns.timestamps.filter(mine),
                partition=p,
            )

    def _write_plain(self, rows: list[tuple[Any, ...]]) -> None:
        """`write` for the common batch: unwindowed, record times as they are, no tombstones.
        The hot path of every query; a batch's repeated keys are serialized once."""
        n, key_ser, value_ser = self.nkeys, self.key_ser, self.value_ser
        keep_null = self.keep_null_keys
        seen: dict[tuple[Any, ...], bytes | None] = {}
        keys = []
        for row in rows:
            key = row[1 : 1 + n]
            if self.primitive_keys and key in seen:
                keys.append(seen[key])
                continue
            # An all-NULL key is a null key (not one NULL column): ksqlDB writes no key bytes.
            key_bytes = key_ser(key) if keep_null or any(k is not None for k in key) else None
            if self.primitive_keys:
                seen[key] = key_bytes
            keys.append(key_bytes)
        values = [value_ser(row[1 + n : -1]) for row in rows]
        stamps = [row[0] for row in rows]
        headers = [row[-1] for row in rows]
        self._append(keys, values, stamps, headers)

    def _append(
        self,
        keys: Any,
        values: Any,
        stamps: Any,
        headers: list[Any] | None,
        partitions: list[int] | None = None,
    ) -> None:
        """Appends records (lists or Arrow arrays), less those a crash left written; to the
        given `partitions` (one per record), else where the log's partitioner puts them."""
        if self.guard is not None and self.guard.written:
            # A replayed step: leave out what each sink partition holds already.
            keys, values, stamps = _as_list(keys), _as_list(values), _as_list(stamps)
            if partitions is None:
                partitions = [self._partition(key) for key in keys]
            kept = self.guard.kept(partitions)
            keys, values, stamps = _take(keys, kept), _take(values, kept), _take(stamps, kept)
            headers = _take(headers, kept) if headers else headers
            partitions = _take(partitions, kept)
            if not keys:
                return
        topic = self.sink.topic
        if partitions is None:
            self.log.append_batch(topic, keys, values, stamps, headers)
            return
        for p in sorted(set(partitions)):
            mine = [i for i, q in enumerate(partitions) if q == p]
            self.log.append_batch(
                topic,
                [keys[i] for i in mine],
                [values[i] for i in mine],
                [stamps[i] for i in mine],
                [headers[i] for i in mine] if headers else None,
                partition=p,
            )


def _as_list(column: Any) -> list[Any]:
    return column.to_pylist() if isinstance(column, pa.Array) else list(column)


def _take(column: list[Any], positions: list[int]) -> list[Any]:
    return [column[i] for i in positions]
