"""The operators of a query over joined sources: SOURCE of each, the JOIN steps, and the
projection of the joined rows.

    source 0 --key--> step 1 --key--> step 2 ... --> [WHERE + SELECT] --> sink
    source 1 --key--> step 1 (right)                [WHERE + pre-aggregation] --> AggregationStep
    source 2 --key--> step 2 (right)

Records of all source partitions are taken in timestamp order (as Kafka Streams picks the
record with the lowest timestamp among its inputs). Each side is keyed by its join
expression as it is read: re-keying in process stands for ksqlDB's repartition topics. Join
state lives in one durable store per step, flushed before offsets are committed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import pyarrow.compute as pc

from grammar import ast
from planner.aggregation import AggregationPlan
from planner.builder import QueryPlan
from planner.errors import PlanError
from planner.internal_topics import DEFAULT_KEY_FORMAT_CONFIG, join_internal_topics
from planner.joins import JOIN_KEY, JOIN_ROWTIME, JoinPlan, JoinStep, source_columns
from planner.physical import join_changelog, query_topic_prefix
from planner.scope import Scope
from sqlengine import serde
from sqlengine.codegen import compile_stage
from sqlengine.columnar.lookup_join import ColumnarLookupJoin, merge_partitions
from sqlengine.joins import (
    Body,
    Change,
    ForeignKeyJoin,
    StreamStreamJoin,
    StreamTableJoin,
    TableTableJoin,
    Window,
    hashable,
)
from sqlengine.log.base import RecordBatch, TopicExistsError
from sqlengine.runtime import OnError, QueryContext, query_group
from sqlengine.serde.registry_serde import unwraps, writer_schema
from sqlengine.sink import RowSink, SinkEncoder, format_info
from sqlengine.state import KeyValueStore
from sqlengine.tasks import StageTasks

# A table up to this size is copied to worker processes for them to join batches with.
_MAX_SHIPPED_TABLE_ROWS = 100_000

Operator = StreamStreamJoin | StreamTableJoin | TableTableJoin | ForeignKeyJoin


def _operator(
    step: JoinStep, jp: JoinPlan, store: KeyValueStore, foreign_key: Callable[[Body], Any]
) -> Operator:
    left_width = jp.sources[step.right].offset
    right_width = jp.sources[step.right].width
    outer = (step.kind in ("LEFT", "FULL"), step.kind in ("RIGHT", "FULL"))
    if step.shape == "STREAM_STREAM":
        before, after, grace, explicit = step.window_ms()
        window = Window(before, after, grace, explicit)
        return StreamStreamJoin(store, window, outer, (left_width, right_width))
    if step.shape == "STREAM_TABLE":
        return StreamTableJoin(store, outer[0], right_width)
    if step.shape == "FOREIGN_KEY":
        return ForeignKeyJoin(store, foreign_key, outer[0], right_width)
    return TableTableJoin(store, outer, (left_width, right_width))


def create_internal_topics(query_id: str, jp: JoinPlan, ctx: QueryContext) -> list[str]:
    """Creates the internal topics ksqlDB's topology of the joins has (see
    planner/internal_topics.py), each with its source's partitions, and registers the key
    schema of those whose key format is a Schema Registry one. The join itself re-keys its
    sides in process; the topics stand where ksqlDB's are, for tools that list them."""
    prefix = query_topic_prefix(query_id, ctx.service_id)
    config = {DEFAULT_KEY_FORMAT_CONFIG: ctx.default_key_format}
    names = []
    for topic in join_internal_topics(jp, config):
        name = f"{prefix}-{topic.name}"
        names.append(name)
        if ctx.log.topic(name) is None:
            source = ctx.log.topic(topic.source.topic)
            partitions = source.partitions if source is not None else 1
            policy = {"cleanup.policy": "compact"} if topic.changelog else {}
            with suppress(TopicExistsError):  # by another process of the query meanwhile
                ctx.log.create_topic(name, partitions, config=policy)
        if topic.key_format.schema_registry and ctx.registry is not None:
            fmt = format_info(topic.key_format.format)
            columns = [("ROWKEY", topic.key_type)]
            unwrap = unwraps(fmt.name.upper(), columns, is_key=True, wrap_single=False)
            subject = serde.subject_of(name, is_key=True)
            writer_schema(fmt, columns, unwrap=unwrap, registry=ctx.registry, subject=subject)
    return names


def join_result_key(jp: JoinPlan) -> list[ast.Expr]:
    """The key a table-producing join's rows lead with (its tombstones carry it alone):
    a foreign-key join's is the left table's key, any other the join key."""
    if jp.result_kind != "TABLE":
        return []
    if jp.foreign_key:
        left = jp.sources[0]
        return [ast.ColumnRef(c.name, left.alias) for c in left.source.key_columns]
    return [ast.ColumnRef(jp.synthetic_key or JOIN_KEY)]


def pre_aggregation_exprs(jp: JoinPlan, agg: AggregationPlan) -> list[ast.Expr]:
    """What a GROUP BY over a join projects its joined rows to: the time, the result's key
    (a table's rows replace each other by key) and the pre-aggregation columns."""
    _, *pre = agg.pre_exprs()
    return [ast.ColumnRef(JOIN_ROWTIME), *join_result_key(jp), *pre]


@dataclass
class _Output:
    """Records for the sink: rows, which of them are tombstones, their windows."""

    rows: list[tuple[Any, ...]]
    tombstones: set[int]
    windows: list[tuple[int, int]]


class JoinInput:
    """SOURCE of every joined topic and the JOIN steps, then the projection of the joined
    rows (WHERE and SELECT, or a GROUP BY's pre-aggregation columns) into the output."""

    def __init__(
        self,
        query_id: str,
        jp: JoinPlan,
        where: ast.Expr | None,
        exprs: list[ast.Expr],
        output: RowSink,
        ctx: QueryContext,
        on_error: OnError,
    ) -> None:
        self.jp = jp
        self.on_error = on_error
        self.decoders = [ctx.decoder(js.source) for js in jp.sources]
        self.changelogs = [
            join_changelog(query_id, i, ctx.service_id) for i in range(1, len(jp.steps) + 1)
        ]
        group = query_group(query_id, ctx.service_id)
        self.stores = [ctx.store(name, group) for name in self.changelogs]
        # ksqlDB's repartition topics and store changelogs: deleted with the query.
        self.ksql_topics = (
            create_internal_topics(query_id, jp, ctx) if ctx.transient_start is None else []
        )
        body = jp.body_scope
        # Step k's left key reads the joined body; its right key reads the right source's row.
        self.left_keys = [self._key_fn(s.left_expr, body) for s in jp.steps]
        self.right_keys = [
            self._key_fn(
                s.right_expr,
                Scope(source_columns(jp.sources[s.right].source, jp.sources[s.right].alias, 0)),
            )
            for s in jp.steps
        ]
        self.ops = [
            _operator(s, jp, store, self.left_keys[0])
            for s, store in zip(jp.steps, self.stores, strict=True)
        ]
        self.is_table = jp.result_kind == "TABLE"
        window = jp.sources[0].source.window
        self.windowed = window is not None
        self.session_windows = window is not None and window.kind == "SESSION"
        self.window_size = (window.size_ms or 0) if window is not None else 0
        # A foreign-key join's result is keyed by the left table's key, maybe of many columns.
        self.multi_key = jp.foreign_key and len(jp.sources[0].source.key_columns) > 1
        self.has_where = where is not None
        self.stage = compile_stage(
            None, [where, *exprs] if where is not None else exprs, jp.row_scope, on_error
        )
        self.output = output
        # One stream enriched from one table takes the direct path (`_lookup_join`).
        single = self.ops[0] if len(self.ops) == 1 else None
        self.lookup_join = (
            single
            if isinstance(single, StreamTableJoin) and not self.windowed and not self.is_table
            else None
        )
        # ... and runs a step vectorized (`vectorize`) when the step read only stream records.
        self.columnar: ColumnarLookupJoin | None = None
        # ... its partitions in worker processes, with a snapshot of the table.
        self.tasks: StageTasks | None = None

    def vectorize(self, plan: QueryPlan, ctx: QueryContext, partitions: int) -> None:
        """Run steps that read only stream records over Arrow columns, from the stream's
        bytes to the sink's, when the join is one stream enriched from one table."""
        if (
            not ctx.vectorized
            or self.lookup_join is None
            or not isinstance(self.output, SinkEncoder)
        ):
            return
        self.columnar = ColumnarLookupJoin.build(plan, self.output.sink)
        if self.columnar is not None:
            build_args = (plan, self.output.sink)
            # The query's process merges the partitions' results by time and appends them
            # all: work enough for a thread, so workers run every batch of a step.
            self.tasks = ctx.stage_tasks(
                ColumnarLookupJoin.build, build_args, partitions, merges=True
            )

    def _key_fn(self, expr: Any, scope: Scope) -> Callable[[Body], Any]:
        """A row's join key. Usually a plain column: then an item get, not a stage call."""
        if isinstance(expr, ast.ColumnRef):
            try:
                return itemgetter(scope.resolve(expr.name, expr.source).index)
            except PlanError:
                pass  # not resolvable here: compiling it reports the error
        stage = compile_stage(None, [expr], scope, self.on_error)
        return lambda body: stage([body])[0][0]

    def run(self, reads: list[tuple[int, RecordBatch]]) -> None:
        """A step's batches: (source index, batch). A step's output depends only on its
        batches and the state committed before it, so a replayed step writes the same
        records in the same order."""
        if self._run_vectorized(reads):
            return
        ahead, rest = self._table_first(reads)
        if ahead:
            self._run_per_record(ahead)
        if rest and not self._run_vectorized(rest):
            self._run_per_record(rest)

    def _table_first(
        self, reads: list[tuple[int, RecordBatch]]
    ) -> tuple[list[tuple[int, RecordBatch]], list[tuple[int, RecordBatch]]]:
        """A step that read table records too, cut in two: first the table's records with
        the stream's up to the table's last record time (per record, merged by time), then
        the stream's later records, which all see the same table and may run vectorized.
        The per-record merge orders the records so anyway. (reads, []) when nothing is cut."""
        if self.columnar is None or all(i for i, _ in reads) or not any(i for i, _ in reads):
            return reads, []
        last = max(pc.max(batch.arrays()[0]).as_py() for i, batch in reads if i)
        ahead, rest = [], []
        for i, batch in reads:
            cut = len(batch) if i else _leading_until(batch, last)
            head, tail = batch.split(cut)
            ahead += [(i, head)] if len(head) else []
            rest += [(i, tail)] if len(tail) else []
        return ahead, rest

    def start(self, reads: list[tuple[int, RecordBatch]]) -> bool:
        """A step's stream batches go to workers ahead of `run`, with
        the table as it is now: unless the step reads table records (then nothing is read
        ahead of it, and a step read ahead of one that read none finds the same table)."""
        if self.columnar is None or self.tasks is None or any(i for i, _ in reads):
            return False
        assert self.lookup_join is not None
        table = self.lookup_join.snapshot(_MAX_SHIPPED_TABLE_ROWS)
        if table is None:
            return False
        self.tasks.start([batch for _, batch in reads], table.match)
        return True

    def abandon(self) -> None:
        if self.tasks is not None:
            self.tasks.abandon()

    def flush(self) -> None:
        for store in self.stores:
            store.flush()

    def _run_vectorized(self, reads: list[tuple[int, RecordBatch]]) -> bool:
        """A step that read only stream records, vectorized; False when it cannot be."""
        if self.columnar is None or any(i for i, _ in reads):
            return False
        assert self.lookup_join is not None and isinstance(self.output, SinkEncoder)
        batches = [b for _, b in reads]
        self.start(reads)  # unless it was read ahead
        tasks = self.tasks
        parts = []
        for batch in batches:  # every worker's answer is read, whatever the others give
            ran, part = (False, None) if tasks is None else tasks.result(batch)
            parts.append(part if ran else self.columnar.run(batch, self.lookup_join.match))
        columns = merge_partitions(parts)
        if columns is None:
            return False
        self.output.write_columns(columns)
        return True

    def _run_per_record(self, reads: list[tuple[int, RecordBatch]]) -> None:
        runs = [
            [(row[0], i, row, is_null) for row, is_null in self.decoders[i].decode(batch)]
            for i, batch in reads
        ]
        merged = heapq.merge(*runs, key=lambda r: r[0])
        if self.lookup_join is not None:
            self._lookup_join(merged, self.lookup_join)
        else:
            changes: list[Change] = []
            for _, i, row, is_null in merged:
                changes += self._changes(i, row, is_null)
            out = self._output(changes)
            self.output.write(out.rows, out.tombstones, out.windows if self.windowed else None)

    def _lookup_join(
        self, merged: Iterable[tuple[int, int, tuple[Any, ...], bool]], op: StreamTableJoin
    ) -> None:
        """The common join, one stream enriched from one table, without the general
        machinery: each stream record looks its table row up and becomes a projection input
        (ROWTIME, key, stream row, table row) directly; table records update the table in
        between, in timestamp order, as `_changes` does."""
        key_of = self.left_keys[0]
        joined = []
        for _, i, row, is_null in merged:
            if i:
                self._changes(i, row, is_null)  # the table side: an update, no output
                continue
            if is_null:
                continue
            key = key_of(row)
            right = op.match(key)
            if right is not None:
                joined.append((row[0], key, *row, *right))
        projected = self.stage(joined)
        if self.has_where:  # WHERE is the leading column: a stream drops the rows it rejects
            projected = [p[1:] for p in projected if p[0] is True]
        self.output.write([(*p, ()) for p in projected], set(), None)

    def _changes(self, i: int, row: tuple[Any, ...], is_null: bool) -> list[Change]:
        """Feed one source record to the step it enters; returns the last step's output."""
        js = self.jp.sources[i]
        body = None if is_null else row
        step = max(0, i - 1)
        if js.source.kind == "STREAM":
            if body is None:
                return []
            key = self.left_keys[0](body) if i == 0 else self.right_keys[step](body)
        else:
            # A table is joined on its primary key (a foreign-key join's result keeps it).
            nkeys = len(js.source.key_columns)
            key = tuple(row[3 : 3 + nkeys]) if nkeys > 1 else row[3]
        if self.windowed:
            key = self._windowed_key(key, row[-3], row[-2])
        change = Change(key, row[0], body)
        changes = self.ops[0].left(change) if i == 0 else self.ops[step].right(change)
        for k in range(step + 1, len(self.ops)):
            rekey = self.jp.steps[k - 1].result_kind == "STREAM"
            fed: list[Change] = []
            for c in changes:
                key = self.left_keys[k](c.body) if rekey and c.body is not None else c.key
                fed += self.ops[k].left(Change(key, c.timestamp, c.body))
            changes = fed
        return changes

    def _windowed_key(self, key: Any, start: int, end: int) -> tuple[Any, ...]:
        """What windowed records join on: their keys as serialized, which frame a session
        window by start and end but a time window by its start alone (so time windows of
        different sizes match on their start)."""
        return (key, start, end) if self.session_windows else (key, start)

    def _split_key(self, key: Any) -> tuple[Any, tuple[int, int]]:
        """A result key and its window: a time window ends where the join's key format (the
        left source's window size) puts it, whichever side's record produced the result."""
        if self.session_windows:
            inner, start, end = key
            return inner, (start, end)
        inner, start = key
        return inner, (start, start + self.window_size)

    def _output(self, changes: list[Change]) -> _Output:
        """The sink records of a batch's join results. The projection runs once over all of
        them (WHERE as a leading column, so results line up with changes); then, in order,
        WHERE drops stream rows, and turns table rows into tombstones as a KTable filter."""
        keyed = (
            [self._split_key(c.key) for c in changes]
            if self.windowed
            else [(c.key, (0, 0)) for c in changes]
        )
        results = iter(
            self.stage(
                [
                    (c.timestamp, key, *c.body)
                    for c, (key, _) in zip(changes, keyed, strict=True)
                    if c.body is not None
                ]
            )
        )
        out = _Output([], set(), [])
        for change, (key, window) in zip(changes, keyed, strict=True):
            projected = None if change.body is None else next(results)
            if self.has_where:
                passes = projected is not None and projected[0] is True
                projected = projected[1:] if passes else None  # type: ignore[index]
                if not self.is_table and not passes:
                    continue
                if self.is_table and not self._still_passing(key, passes):
                    continue
            if projected is None:
                out.tombstones.add(len(out.rows))
                out.rows.append((change.timestamp, *(key if self.multi_key else (key,)), ()))
            else:
                out.rows.append((*projected, ()))
            out.windows.append(window)
        return out

    def _still_passing(self, key: Any, passes: bool) -> bool:
        """Whether a filtered table row is emitted: a row that passes always is; one that
        stops passing is deleted once; one that never passed is not emitted at all."""
        store, mark = self.stores[-1], ("passing", hashable(key))
        was_passing = store.get(mark, False)
        if passes:
            store.put(mark, True)
        else:
            store.delete(mark)
        return passes or was_passing

    def execution_modes(self) -> dict[str, str]:
        if self.columnar is None:
            return {"PROJECT": "per record: generated Python"}
        mode = "vectorized: Arrow batches when a step reads no table record, else per record"
        if self.tasks is not None:
            mode += f"; on this process and {self.tasks.processes} worker process(es)"
        return {"JOIN": mode, "PROJECT": mode}


def _leading_until(batch: RecordBatch, time: int) -> int:
    """How many records open the batch with times up to `time`, if no later one has such a
    time (the batch is in time order around it); else the whole batch's length."""
    at_most = pc.less_equal(batch.arrays()[0], time)
    count = pc.sum(at_most).as_py() or 0
    return len(batch) if pc.any(at_most.slice(count)).as_py() else count
