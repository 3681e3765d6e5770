"""A query at run time, put together from the operators of its physical plan
(`planner.physical.physical_plan`) and driven a step at a time.

    SOURCE [JOIN...]           -> SourceInput | JoinInput      (read, decode, join)
    FILTER, FLAT_MAP, PROJECT  -> FilterProject | the join's projection
    SELECT_KEY, AGGREGATE,     -> PreAggregate | the join's projection,
      SUPPRESS, HAVING, PROJECT      then AggregationStep
    SINK                       -> the output (a sink topic, or a push query's client)

Adjacent operators run fused, as one generated function or one vectorized pass over a batch.
A step reads a batch from every source partition; after its results are written (and its
state flushed) it commits the next offsets with that state, so a restart resumes where the
last step ended.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any, Protocol

from planner.builder import QueryPlan
from planner.joins import JoinPlan
from planner.physical import physical_plan
from planner.scope import source_scope
from sqlengine.aggregation_step import AggregationStep
from sqlengine.columnar.aggregation import ColumnarGroupBy
from sqlengine.columnar.stateless import ColumnarStage
from sqlengine.exactly_once import OutputGuard
from sqlengine.join_input import JoinInput, join_result_key, pre_aggregation_exprs
from sqlengine.log.base import RecordBatch
from sqlengine.repartition import RepartitionSink, RepartitionSource
from sqlengine.runtime import OnError, QueryContext, query_group
from sqlengine.scaleout import create_repartition_topic, needs_repartition, repartition_topic
from sqlengine.sink import RowSink, SinkEncoder
from sqlengine.source_input import (
    BatchOperator,
    FilterProject,
    PreAggregate,
    RowOperator,
    SourceInput,
    VectorizedGroupBy,
    VectorizedProject,
    source_node,
)


class Input(Protocol):
    """The operators a step's batches enter: (source index, batch) each."""

    def run(self, reads: list[tuple[int, RecordBatch]]) -> None: ...

    def start(self, reads: list[tuple[int, RecordBatch]]) -> bool:
        """Sends batches' vectorized work to worker processes ahead of `run` (each batch
        once); False when the input has no such work (then the query reads no step ahead)."""
        ...

    def abandon(self) -> None:
        """Drops the work started for batches `run` will not get."""
        ...

    def flush(self) -> None: ...

    def execution_modes(self) -> dict[str, str]: ...


class TopicInputs:
    """Inputs that each take the batches of one of the query's topics: a GROUP BY through
    its repartition topic reads the source into it and the topic into the aggregation."""

    def __init__(self, inputs: list[Input]) -> None:
        self.inputs = inputs

    def run(self, reads: list[tuple[int, RecordBatch]]) -> None:
        for i, input in enumerate(self.inputs):
            own = [(j, batch) for j, batch in reads if j == i]
            if own:
                input.run(own)

    def start(self, reads: list[tuple[int, RecordBatch]]) -> bool:
        return False

    def abandon(self) -> None:
        for input in self.inputs:
            input.abandon()

    def flush(self) -> None:
        for input in self.inputs:
            input.flush()

    def execution_modes(self) -> dict[str, str]:
        return {k: v for input in self.inputs for k, v in input.execution_modes().items()}


class Query:
    """A persistent query, or a transient push query's runtime: `input` runs its operators
    on a step's batches of `topics` (one per joined source, so a self-join reads its topic
    twice); `aggregation` is its GROUP BY's state, which pull queries read."""

    def __init__(
        self,
        query_id: str,
        plan: QueryPlan,
        ctx: QueryContext,
        topics: list[str],
        input: Input,
        guard: OutputGuard | None,
        aggregation: AggregationStep | None,
        internal_topics: Sequence[str],
    ) -> None:
        self.query_id = query_id
        self.plan = plan
        self.ctx = ctx
        self.input = input
        self.guard = guard
        self.aggregation = aggregation
        self.owned_topics = list(internal_topics)
        self.group = query_group(query_id, ctx.service_id)
        self.topics = topics
        self.positions = ctx.start_offsets(self.group, dict.fromkeys(self.topics))
        # The next step's batches, read ahead while workers can run them during this step.
        self.ahead: list[tuple[int, RecordBatch]] = []

    def step(self) -> int:
        """Process what is available (up to `ctx.step_records` per partition); returns the
        count."""
        reads, self.ahead = self.ahead or self._read(self.positions), []
        if not reads:
            return 0
        read = {(b.topic, b.partition): b.next_offset for _, b in reads}
        step = self.guard.begin_step(read) if self.guard is not None else {}
        if self.input.start(reads):
            # Workers take the next step's batches as soon as they are done with this
            # step's, while this process merges and appends this step's results.
            self.ahead = self._read({**self.positions, **read})
            self.input.start(self.ahead)
        self.input.run(reads)
        self.input.flush()
        self.positions.update(read)
        self.ctx.commit(self.group, {**read, **step})
        return sum(len(b) for _, b in reads)

    def _read(self, positions: dict[tuple[str, int], int]) -> list[tuple[int, RecordBatch]]:
        """A batch from every partition of the query's topics with records from `positions`
        on: (topic index, batch) each."""
        max_records = self.ctx.step_records
        reads: list[tuple[int, RecordBatch]] = []
        for i, topic in enumerate(self.topics):
            for (read_topic, partition), offset in positions.items():
                if read_topic != topic:
                    continue
                end = None
                if self.guard is not None:
                    end = self.guard.replay_end(topic, partition, offset)
                if end is None:
                    batch = self.ctx.log.read(topic, partition, offset, max_records)
                else:
                    batch = self._read_until(topic, partition, offset, end)
                if len(batch):
                    reads.append((i, batch))
        return reads

    def _read_until(self, topic: str, partition: int, offset: int, end: int) -> RecordBatch:
        """The records from `offset` to `end`, in one batch: a replayed step reads exactly
        the batches the step it replays read, however the log splits its reads (a Kafka
        fetch may return part of what is there), for the sink to leave out, record by
        record, what that step wrote already."""
        chunks = []
        while offset < end:
            chunk = self.ctx.log.read(topic, partition, offset, end - offset)
            if not len(chunk):
                break
            if chunk.next_offset > end:
                chunk = chunk.split(bisect_left(chunk.offsets, end))[0]
            chunks.append(chunk)
            offset = chunk.next_offset
        return RecordBatch.concat(topic, partition, chunks)

    def read_positions(self) -> dict[tuple[str, int], int]:
        """The next offset to read per source topic and partition."""
        return dict(self.positions)

    def internal_topics(self) -> list[str]:
        """Topics the query owns (state changelogs), deleted when it is terminated."""
        return list(self.owned_topics)

    def execution_modes(self) -> dict[str, str]:
        """How the query's operators run, by operator kind (EXPLAIN shows it)."""
        return self.input.execution_modes()

    def close(self) -> None:
        self.input.abandon()
        self.ahead = []
        self.ctx.commit(self.group, self.read_positions())
        self.ctx.close()


def build_query(query_id: str, plan: QueryPlan, output: RowSink, ctx: QueryContext) -> Query:
    """The runtime of `plan` writing to `output`, operator by operator of its physical plan."""
    kinds = {op.kind for op in physical_plan(query_id, plan, None).operators}

    def on_error(exc: Exception, row: Sequence[Any]) -> None:
        # A joined row has no single source record to name.
        partition, offset = (-1, -1) if plan.join is not None else (row[1], row[2])
        ctx.plog.record_error(plan.source.topic, partition, offset, exc)

    aggregation = None
    if "AGGREGATE" in kinds:
        table_keys = _aggregated_table_keys(plan)
        # A source's rows end with their record's headers (`PreAggregate`); a join's carry none.
        aggregation = AggregationStep(
            query_id,
            plan,
            output,
            ctx,
            on_error,
            table_keys,
            rows_carry_headers=plan.join is None,
        )
    guard = ctx.output_guard(query_group(query_id, ctx.service_id), output)
    topics = [plan.source.topic]
    owned: list[str] = []
    input: Input
    if "JOIN" in kinds:
        assert plan.join is not None
        join = _join_input(query_id, plan, plan.join, aggregation or output, ctx, on_error)
        topics = [js.source.topic for js in plan.join.sources]
        owned = [*join.changelogs, *join.ksql_topics]
        input = join
    elif aggregation is None:
        vectorized = _vectorized_project(plan, output, ctx)
        input = _source_input(plan, FilterProject(plan, output, on_error), vectorized, ctx)
    elif ctx.partitions is not None and needs_repartition(plan):  # split across servers
        repartition = repartition_topic(query_id, ctx.service_id)
        create_repartition_topic(ctx.log, repartition, _partitions(ctx, plan.source.topic))
        assert plan.aggregation is not None
        into = RepartitionSink(ctx.log, repartition, len(plan.aggregation.keys))
        pre_aggregate = _source_input(plan, PreAggregate(plan, into, on_error), None, ctx)
        input = TopicInputs([pre_aggregate, RepartitionSource(aggregation, ctx.stores)])
        topics.append(repartition)
    else:
        vectorized_group_by = _vectorized_group_by(plan, aggregation, ctx)
        rows = PreAggregate(plan, aggregation, on_error)
        input = _source_input(plan, rows, vectorized_group_by, ctx)
    if aggregation is not None:
        owned.extend(aggregation.changelogs)
    return Query(query_id, plan, ctx, topics, input, guard, aggregation, owned)


def _source_input(
    plan: QueryPlan, rows: RowOperator, vectorized: BatchOperator | None, ctx: QueryContext
) -> SourceInput:
    return SourceInput(ctx.decoder(plan.source), rows, vectorized, ctx.stores)


def _join_input(
    query_id: str,
    plan: QueryPlan,
    jp: JoinPlan,
    output: RowSink,
    ctx: QueryContext,
    on_error: OnError,
) -> JoinInput:
    """The joins, projecting to the query's SELECT, or over a GROUP BY to its
    pre-aggregation columns (an aggregation is no sink, so that join is never vectorized)."""
    exprs = (
        pre_aggregation_exprs(jp, plan.aggregation)
        if plan.aggregation is not None
        else plan.root.exprs  # type: ignore[attr-defined]
    )
    join = JoinInput(query_id, jp, plan.where, exprs, output, ctx, on_error)
    join.vectorize(plan, ctx, _partitions(ctx, plan.source.topic))
    return join


def _partitions(ctx: QueryContext, topic: str) -> int:
    info = ctx.log.topic(topic)
    return info.partitions if info is not None else 1


def _aggregated_table_keys(plan: QueryPlan) -> int | None:
    """How many key columns the rows an aggregation takes lead with: a table's key (a
    table's rows replace each other by key), none for a stream's rows."""
    if plan.join is not None:
        return len(join_result_key(plan.join)) or None
    return len(plan.source.key_columns) if plan.source.kind == "TABLE" else None


def _vectorized_project(
    plan: QueryPlan, output: RowSink, ctx: QueryContext
) -> VectorizedProject | None:
    """A query writing to a topic runs each batch vectorized when the batch allows; in worker
    processes when the source has partitions to spread."""
    if not ctx.vectorized or not isinstance(output, SinkEncoder):
        return None
    stage = ColumnarStage.build(plan, output.sink)
    if stage is None:
        return None
    partitions = _partitions(ctx, plan.source.topic)
    tasks = ctx.stage_tasks(ColumnarStage.build, (plan, output.sink), partitions)
    return VectorizedProject(stage, output, tasks)


def _vectorized_group_by(
    plan: QueryPlan, aggregation: AggregationStep, ctx: QueryContext
) -> VectorizedGroupBy | None:
    """A stream's batches are grouped vectorized when the query and the batch allow."""
    if not ctx.vectorized or not aggregation.takes_groups():
        return None
    agg = plan.aggregation
    assert agg is not None
    vectors = [c.aggregator.vector for c in agg.calls]
    scope = source_scope(plan.source, source_node(plan).alias)
    parts = ColumnarGroupBy.parts(plan, scope, vectors, aggregation.windowing())
    if parts is None:
        return None
    group_by = ColumnarGroupBy.build(*parts)
    if group_by is None:
        return None
    partitions = _partitions(ctx, plan.source.topic)
    tasks = ctx.stage_tasks(ColumnarGroupBy.build, parts, partitions, merges=True)
    return VectorizedGroupBy(group_by, aggregation, tasks)
