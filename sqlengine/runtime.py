"""Persistent queries at run time: read the source topic, run the compiled stage, write the sink.

A query moves batches: one `RecordBatch` per partition read, decoded to rows, filtered and
projected by one generated function, encoded and appended to the sink in one call. Offsets are
committed after the sink append, so a restart resumes where the last step ended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from planner.builder import QueryPlan
from planner.logical import SinkSpec
from planner.scope import Scope
from sqlengine import catalog as C
from sqlengine import serde
from sqlengine import types as T
from sqlengine.codegen import compile_stage
from sqlengine.log.base import Log, RecordBatch
from sqlengine.processing_log import ProcessingLog
from sqlengine.timestamps import timestamp_extractor


def format_info(fmt: C.Format) -> serde.FormatInfo:
    return serde.FormatInfo(fmt.name, dict(fmt.properties))


@dataclass
class SourceDecoder:
    """Bytes of a source topic -> rows (ROWTIME, ROWPARTITION, ROWOFFSET, keys, values...)."""

    source: C.DataSource
    plog: ProcessingLog

    def __post_init__(self) -> None:
        src = self.source
        keys = [(c.name, c.type) for c in src.key_columns]
        values = [(c.name, c.type) for c in src.value_columns]
        self.key_des = serde.make_deserializer(format_info(src.key_format), keys, is_key=True)
        self.value_des = serde.make_deserializer(
            format_info(src.value_format),
            values,
            is_key=False,
            wrap_single=src.wrap_single_value is not False,
        )
        self.null_key = [None] * len(keys)
        self.header_fns = [_header_reader(c) for c in src.header_columns]
        self.is_table = src.kind == "TABLE"
        ts_col = src.timestamp_column
        self.extract_ts: Callable[[Sequence[Any]], int | None] | None = None
        if ts_col is not None:
            index = 3 + [c.name for c in src.columns].index(ts_col)
            col_type = src.column(ts_col).type  # type: ignore[union-attr]
            self.extract_ts = timestamp_extractor(index, col_type, src.timestamp_format)

    def decode(self, batch: RecordBatch) -> list[tuple[tuple[Any, ...], bool]]:
        """Rows with a flag telling a table tombstone (value None) from a data row."""
        out: list[tuple[tuple[Any, ...], bool]] = []
        key_des, value_des, header_fns = self.key_des, self.value_des, self.header_fns
        for off, ts, k, v, h in zip(
            batch.offsets, batch.timestamps, batch.keys, batch.values, batch.headers, strict=True
        ):
            try:
                keys = key_des(k) if k is not None else self.null_key
                if v is None:
                    if self.is_table and k is not None:
                        out.append(((ts, batch.partition, off, *keys, h), True))
                    continue
                values = value_des(v)
            except serde.SerdeError as exc:
                self.plog.deserialization_error(self.source.topic, batch.partition, off, exc)
                continue
            if values is None:
                continue
            row = (ts, batch.partition, off, *(keys or self.null_key), *values)
            if header_fns:
                row = (*row, *(fn(h) for fn in header_fns))
            row = (*row, h)
            if self.extract_ts is not None:
                try:
                    new_ts = self.extract_ts(row)
                except ValueError as exc:
                    self.plog.record_error(self.source.topic, batch.partition, off, exc)
                    continue
                if new_ts is None or new_ts < 0:
                    continue
                row = (new_ts, *row[1:])
            out.append((row, False))
        return out


def _header_reader(col: C.SourceColumn) -> Callable[[Any], Any]:
    if col.kind == C.HEADERS:
        return lambda headers: [{"KEY": k, "VALUE": v} for k, v in headers]
    key = col.header_key

    def last_value(headers: Any) -> Any:
        found = None
        for k, v in headers:
            if k == key:
                found = v
        return found

    return last_value


@dataclass
class SinkEncoder:
    """Projected rows (ROWTIME, keys..., values...) -> records appended to the sink topic."""

    sink: SinkSpec
    key_types: list[tuple[str, T.SqlType]]
    value_types: list[tuple[str, T.SqlType]]
    log: Log

    def __post_init__(self) -> None:
        self.key_ser = serde.make_serializer(
            format_info(self.sink.key_format), self.key_types, is_key=True
        )
        self.value_ser = serde.make_serializer(
            format_info(self.sink.value_format),
            self.value_types,
            is_key=False,
            wrap_single=self.sink.wrap_single_value is not False,
        )
        self.nkeys = len(self.key_types)
        self.ts_index: int | None = None
        if self.sink.timestamp_column is not None:
            names = [n for n, _ in self.key_types + self.value_types]
            self.ts_index = 1 + names.index(self.sink.timestamp_column)

    def write(self, rows: list[tuple[Any, ...]], tombstones: set[int]) -> None:
        """Rows are (ROWTIME, keys..., values..., headers); a tombstone row has no values."""
        if not rows:
            return
        n = self.nkeys
        keys, values, stamps, headers = [], [], [], []
        for i, row in enumerate(rows):
            key = row[1 : 1 + n]
            # An all-NULL key is a null key (not one NULL column): ksqlDB writes no key bytes.
            keys.append(self.key_ser(key) if any(k is not None for k in key) else None)
            values.append(None if i in tombstones else self.value_ser(row[1 + n : -1]))
            ts = row[0] if self.ts_index is None else row[self.ts_index]
            stamps.append(ts if ts is not None else row[0])
            headers.append(row[-1])
        self.log.append_batch(self.sink.topic, keys, values, stamps, headers)


class StatelessQuery:
    """Filter + project from one source into one sink (CSAS, INSERT INTO ... SELECT)."""

    def __init__(
        self,
        query_id: str,
        plan: QueryPlan,
        sink: SinkSpec,
        log: Log,
        plog: ProcessingLog,
    ) -> None:
        self.query_id = query_id
        self.plan = plan
        self.log = log
        self.plog = plog
        self.decoder = SourceDecoder(plan.source, plog)
        project = plan.root
        scope_input = project.input  # type: ignore[attr-defined]
        scope = Scope(scope_input.columns)
        self.stage = compile_stage(
            plan.where,
            project.exprs,
            scope,
            self._on_error,  # type: ignore[attr-defined]
        )
        self.nkeys = len(plan.key_outputs)
        self.encoder = SinkEncoder(
            sink,
            [(o.name, o.type) for o in plan.key_outputs],
            [(o.name, o.type) for o in plan.value_outputs],
            log,
        )
        self.group = f"_streamdb_query_{query_id}"
        self.positions: dict[int, int] = {}
        topic = log.topic(plan.source.topic)
        partitions = topic.partitions if topic else 1
        committed = log.committed(self.group)
        for p in range(partitions):
            self.positions[p] = committed.get((plan.source.topic, p), 0)

    def _on_error(self, exc: Exception, row: Sequence[Any]) -> None:
        self.plog.record_error(self.plan.source.topic, row[1], row[2], exc)

    def step(self, max_records: int = 10000) -> int:
        """Process what is available (up to max_records per partition); returns the count."""
        done = 0
        topic = self.plan.source.topic
        for partition, offset in self.positions.items():
            batch = self.log.read(topic, partition, offset, max_records)
            if not len(batch):
                continue
            self._process(self.decoder.decode(batch))
            self.positions[partition] = batch.next_offset
            self.log.commit(self.group, {(topic, partition): batch.next_offset})
            done += len(batch)
        return done

    def _process(self, decoded: list[tuple[tuple[Any, ...], bool]]) -> None:
        """Runs of data rows go through the compiled stage together; a tombstone between
        them is forwarded as a tombstone, keeping per-record order."""
        out: list[tuple[Any, ...]] = []
        tombstones: set[int] = set()
        run: list[tuple[Any, ...]] = []
        for row, is_tombstone in decoded:
            if not is_tombstone:
                run.append(row)
                continue
            if run:
                out.extend(self.stage(run))
                run = []
            tombstones.add(len(out))
            out.append((row[0], *row[3:]))
        if run:
            out.extend(self.stage(run))
        self.encoder.write(out, tombstones)

    def close(self) -> None:
        topic = self.plan.source.topic
        self.log.commit(self.group, {(topic, p): o for p, o in self.positions.items()})
