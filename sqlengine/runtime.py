"""What every query's operators run against (`QueryContext`: the log, the processing log,
settings, state stores, worker processes) and the SOURCE's decoding of a topic's bytes into
rows (`SourceDecoder`). The operators are in `source_input` and `join_input`; `query` puts
them together and drives them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.builder import QueryPlan
from planner.logical import SinkSpec
from planner.physical import SERVICE_ID, query_topic_prefix
from planner.physical import service_id as configured_service_id
from sqlengine import catalog as C
from sqlengine import serde
from sqlengine.exactly_once import STEP_TASK, OutputGuard, uses_transactions
from sqlengine.log.base import Log, RecordBatch
from sqlengine.processing_log import ProcessingLog
from sqlengine.schema_registry import SchemaRegistry
from sqlengine.sink import RowSink, SinkEncoder, format_info
from sqlengine.state import KeyValueStore, MemoryStore, StateStores, StorePartitions
from sqlengine.tasks import StageTasks, default_threads
from sqlengine.timestamps import timestamp_extractor
from sqlengine.windowed_keys import split_windowed_key

OnError = Callable[[Exception, Sequence[Any]], None]  # an expression's error, with its row
# Records a query's step reads per partition at most, by default. Vectorized operators pay
# per batch (Arrow calls, worker messages, a commit) and a GROUP BY with the record cache on
# emits a changed group once per step, so a large step costs less per record; a per-record
# step is no slower for it.
STEP_RECORDS = 50_000


class QueryFailure(Exception):
    """An error that stops a persistent query (ksqlDB's query goes to the ERROR state)."""


@dataclass
class SourceDecoder:
    """Bytes of a source topic -> rows (ROWTIME, ROWPARTITION, ROWOFFSET, keys, values...).

    A record whose TIMESTAMP column is NULL, negative or unparseable is skipped, or with
    `fail_on_invalid_timestamp` (ksql.timestamp.throw.on.invalid) fails the query."""

    source: C.DataSource
    plog: ProcessingLog
    fail_on_invalid_timestamp: bool = False
    registry: SchemaRegistry | None = None

    def __post_init__(self) -> None:
        src = self.source
        keys = [(c.name, c.type) for c in src.key_columns]
        values = [(c.name, c.type) for c in src.value_columns]
        self.key_des = serde.make_deserializer(
            format_info(src.key_format), keys, is_key=True, topic=src.topic, registry=self.registry
        )
        self.value_des = serde.make_deserializer(
            format_info(src.value_format),
            values,
            is_key=False,
            wrap_single=src.wrap_single_value is not False,
            topic=src.topic,
            registry=self.registry,
        )
        self.null_key = [None] * len(keys)
        # With header columns, a row's non-key columns interleave values and headers in
        # schema order: (index into the values, None) or (-1, reader of the headers).
        self.body: list[tuple[int, Callable[[Any], Any] | None]] | None = None
        if src.header_columns:
            names = [c.name for c in src.value_columns]
            self.body = [
                (names.index(c.name), None) if c.kind == C.VALUE else (-1, _header_reader(c))
                for c in src.columns
                if c.kind != C.KEY
            ]
        self.is_table = src.kind == "TABLE"
        self.window = src.window
        self.session = src.window is not None and src.window.kind == "SESSION"
        ts_col = src.timestamp_column
        self.extract_ts: Callable[[Sequence[Any]], int | None] | None = None
        if ts_col is not None:
            index = 3 + [c.name for c in src.columns].index(ts_col)
            col_type = src.column(ts_col).type  # type: ignore[union-attr]
            self.extract_ts = timestamp_extractor(index, col_type, src.timestamp_format)

    def decode(self, batch: RecordBatch) -> list[tuple[tuple[Any, ...], bool]]:
        """Rows with a flag telling a null-value record, (ROWTIME, ROWPARTITION, ROWOFFSET,
        keys..., headers), from a data row. A table drops records without a key."""
        if self.window is None and self.extract_ts is None and self.body is None:
            return self._decode_plain(batch)
        out: list[tuple[tuple[Any, ...], bool]] = []
        key_des, value_des, body = self.key_des, self.value_des, self.body
        for off, ts, k, v, h in zip(
            batch.offsets, batch.timestamps, batch.keys, batch.values, batch.headers, strict=True
        ):
            if k is None and self.is_table:
                continue
            bounds: tuple[int, ...] = ()
            if self.window is not None and k is not None:
                k, start, end = split_windowed_key(k, self.session, self.window.size_ms)
                bounds = (start, end)
            try:
                keys = key_des(k) if k is not None else self.null_key
                if v is None:
                    null_row = (ts, batch.partition, off, *(keys or self.null_key), *bounds, h)
                    out.append((null_row, True))
                    continue
                values = value_des(v)
            except serde.SerdeError as exc:
                self.plog.deserialization_error(self.source.topic, batch.partition, off, exc)
                continue
            if values is None:
                continue
            if body is not None:
                values = [values[i] if fn is None else fn(h) for i, fn in body]
            row = (ts, batch.partition, off, *(keys or self.null_key), *values, *bounds, h)
            if self.extract_ts is not None:
                try:
                    new_ts = self.extract_ts(row)
                except ValueError as exc:
                    self._invalid_timestamp(batch.partition, off, exc)
                    continue
                if new_ts is None or new_ts < 0:
                    self._invalid_timestamp(
                        batch.partition, off, ValueError(f"Invalid timestamp: {new_ts}")
                    )
                    continue
                row = (new_ts, *row[1:])
            out.append((row, False))
        return out

    def _decode_plain(self, batch: RecordBatch) -> list[tuple[tuple[Any, ...], bool]]:
        """`decode` for the common source: no window, no timestamp column, no header
        columns. The hot path of every query, so it is lean; a batch's repeated keys are
        deserialized once."""
        out: list[tuple[tuple[Any, ...], bool]] = []
        append = out.append
        key_des, value_des, null_key = self.key_des, self.value_des, self.null_key
        partition, is_table = batch.partition, self.is_table
        keys_seen: dict[bytes, list[Any]] = {}
        for off, ts, k, v, h in zip(
            batch.offsets, batch.timestamps, batch.keys, batch.values, batch.headers, strict=True
        ):
            try:
                if k is None:
                    if is_table:
                        continue
                    keys = null_key
                else:
                    keys = keys_seen.get(k)  # type: ignore[assignment]
                    if keys is None:
                        keys = keys_seen[k] = key_des(k) or null_key
                if v is None:
                    append(((ts, partition, off, *keys, h), True))
                    continue
                values = value_des(v)
            except serde.SerdeError as exc:
                self.plog.deserialization_error(self.source.topic, partition, off, exc)
                continue
            if values is not None:
                append(((ts, partition, off, *keys, *values, h), False))
        return out

    def _invalid_timestamp(self, partition: int, offset: int, exc: Exception) -> None:
        if self.fail_on_invalid_timestamp:
            raise QueryFailure(
                "Fatal user code error in TimestampExtractor callback for record "
                f"{self.source.topic}-{partition}@{offset}: {exc}"
            ) from exc
        self.plog.record_error(self.source.topic, partition, offset, exc)


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


def query_group(query_id: str, service: str = SERVICE_ID) -> str:
    """The consumer group a persistent query commits its offsets (and its state) under,
    named as ksqlDB names it."""
    return query_topic_prefix(query_id, service)


def runs_vectorized(config: dict[str, str]) -> bool:
    """Do batches run vectorized where they can (`streamdb.vectorized`, default true)?"""
    return config.get("streamdb.vectorized", "true").strip().lower() != "false"


def configured_threads(config: dict[str, str]) -> int:
    """ksql.streams.num.stream.threads (default: the number of cores)."""
    threads = config.get("ksql.streams.num.stream.threads", config.get("num.stream.threads"))
    return int(threads or default_threads())


@dataclass(frozen=True)
class QueryContext:
    """What every query runtime runs against, and the settings it honours."""

    log: Log
    plog: ProcessingLog
    registry: SchemaRegistry | None = None
    fail_on_invalid_timestamp: bool = False  # ksql.timestamp.throw.on.invalid
    # ksqlDB's record cache (cache.max.bytes.buffering > 0, its default): a table's updates
    # to one key within a batch reach the sink as one record, the latest.
    record_cache: bool = True
    # A transient query (EMIT CHANGES) starts at the "earliest" or "latest" offsets, commits
    # none and keeps its state in memory; a persistent one (None) resumes where it committed.
    transient_start: str | None = None
    # Batches run vectorized where the query and the batch allow (`sqlengine.columnar`);
    # `streamdb.vectorized=false` keeps every batch on the per-record path.
    vectorized: bool = True
    # Worker processes a query's partitions may run on (ksql.streams.num.stream.threads).
    stream_threads: int = 1
    # Records a step reads per partition at most (ksql.streams.max.poll.records).
    step_records: int = STEP_RECORDS
    # The query's durable state stores (on local disk); None: state in memory only.
    stores: StateStores | None = None
    # ksql.service.id: names the query's consumer group and internal topics.
    service_id: str = SERVICE_ID
    # The source partitions this process owns, when servers split the query's (`scaleout`);
    # None: every partition.
    partitions: frozenset[int] | None = None
    # processing.guarantee=exactly_once_v2: each step is a transaction of the log (Log.step).
    exactly_once_v2: bool = False
    # ksql.persistence.default.format.key: the key format of a join whose sides have none.
    default_key_format: str = "KAFKA"

    @classmethod
    def of(
        cls,
        log: Log,
        plog: ProcessingLog,
        registry: SchemaRegistry | None,
        config: dict[str, str],
        state_dir: Path | None = None,
        partitioning: StorePartitions | None = None,
    ) -> QueryContext:
        cache = config.get(
            "ksql.streams.cache.max.bytes.buffering", config.get("cache.max.bytes.buffering")
        )
        return cls(
            log,
            plog,
            registry,
            config.get("ksql.timestamp.throw.on.invalid", "").lower() == "true",
            cache is None or cache.strip() not in ("0", ""),
            vectorized=runs_vectorized(config),
            stream_threads=configured_threads(config),
            step_records=int(
                config.get("ksql.streams.max.poll.records", config.get("max.poll.records"))
                or STEP_RECORDS
            ),
            stores=(
                StateStores(log, state_dir, partitioning=partitioning)
                if state_dir is not None
                else None
            ),
            partitions=partitioning.owned if partitioning is not None else None,
            service_id=configured_service_id(config),
            exactly_once_v2=uses_transactions(config),
            default_key_format=config.get("ksql.persistence.default.format.key") or "KAFKA",
        )

    def decoder(self, source: C.DataSource) -> SourceDecoder:
        return SourceDecoder(source, self.plog, self.fail_on_invalid_timestamp, self.registry)

    def encoder(self, sink: SinkSpec, plan: QueryPlan) -> SinkEncoder:
        """The sink's encoder for a plan's output columns. A key PARTITION BY builds of
        several columns is written even when all of them are NULL."""
        partitioning = plan.partitioning
        return SinkEncoder(
            sink,
            [(o.name, o.type) for o in plan.key_outputs],
            [(o.name, o.type) for o in plan.value_outputs],
            self.log,
            self.registry,
            keep_null_keys=partitioning is not None and len(partitioning.keys) > 1,
        )

    def start_offsets(self, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
        """Where a query starts reading each partition of its source topics."""
        committed = self.log.committed(group) if self.transient_start is None else {}
        offsets = {}
        for topic in topics:
            info = self.log.topic(topic)
            for p in range(info.partitions if info else 1):
                if self.partitions is not None and p not in self.partitions:
                    continue
                if self.transient_start == "latest":
                    offsets[(topic, p)] = self.log.end_offset(topic, p)
                else:
                    offsets[(topic, p)] = committed.get((topic, p), 0)
        return offsets

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Commit `group`'s offsets, with the state its stores hold for them."""
        if self.transient_start is not None:
            return
        if self.stores is None:
            self.log.commit(group, offsets)
        else:
            self.stores.commit(group, offsets)

    def step(self, group: str) -> AbstractContextManager[None]:
        """The scope of one step of a persistent query: under exactly_once_v2, a
        transaction of the log that the step's commit commits."""
        if self.exactly_once_v2 and self.transient_start is None:
            return self.log.step(group, STEP_TASK)
        return nullcontext()

    def output_guard(self, group: str, output: RowSink) -> OutputGuard | None:
        """Into a stream, each output exactly once across crashes (`exactly_once`): the
        guard of a persistent query whose output records a replayed step writes again in
        the same order (stateless queries, joins), set on its sink. Steps that are
        transactions need none."""
        if self.transient_start is not None or not isinstance(output, SinkEncoder):
            return None
        if self.partitions is not None:
            return None  # split across servers: each step's output at least once
        if self.exactly_once_v2 and self.log.transactional:
            return None
        if output.sink.kind != "STREAM":
            return None
        output.guard = OutputGuard(self.log, group, output.sink.topic)
        return output.guard

    def stage_tasks(
        self,
        build: Callable[..., Any],
        args: tuple[Any, ...],
        partitions: int,
        merges: bool = False,
    ) -> StageTasks | None:
        """Worker processes for a query's vectorized stage (`StageTasks`), if the query has
        partitions to spread and threads to spread them on. The query's own process is one
        of its threads: it runs a step's first batch while workers run the others; unless
        it `merges` every batch's result (into a GROUP BY's state, or a join's partitions
        by time), work enough for a thread: then workers run every batch of the step."""
        workers = min(self.stream_threads, partitions) - (0 if merges else 1)
        if self.stream_threads < 2 or workers < 1:
            return None
        return StageTasks(build, args, workers)

    def store(self, changelog: str, group: str) -> KeyValueStore:
        """A state store on local disk, durable through `changelog`, committed with the
        offsets of `group`; in memory for a transient query."""
        if self.transient_start is not None or self.stores is None:
            return MemoryStore()
        return self.stores.open(changelog, group)

    def close(self) -> None:
        """Release the stores' local storage (the query has committed)."""
        if self.stores is not None:
            self.stores.close()
