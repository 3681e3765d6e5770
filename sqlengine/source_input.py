"""The operators of a query over one source: the SOURCE that reads its batches, and what
takes the rows it decodes.

    batch -> SOURCE (decode) -> FilterProject (FILTER, FLAT_MAP, PROJECT) -> sink
                             -> PreAggregate (FILTER, SELECT_KEY)         -> AggregationStep

A batch the query can run vectorized skips the row path: a `BatchOperator` takes the whole
batch (decode, filter and projection over Arrow columns into the sink; or the GROUP BY's
grouping into the aggregation), in this process or in worker processes.
"""

from __future__ import annotations

from typing import Any, Protocol

from grammar import ast
from planner.builder import QueryPlan
from planner.logical import PlanNode, SourceNode
from planner.scope import Scope, source_scope
from planner.table_functions import FlatMapNode
from sqlengine import catalog as C
from sqlengine.aggregation_step import AggregationStep
from sqlengine.codegen import compile_stage
from sqlengine.columnar.aggregation import ColumnarGroupBy
from sqlengine.columnar.stateless import ColumnarStage
from sqlengine.flatmap import projection_stage
from sqlengine.log.base import RecordBatch
from sqlengine.rekey import null_row_keys
from sqlengine.runtime import OnError, SourceDecoder
from sqlengine.sink import RowSink, SinkEncoder
from sqlengine.state import StateStores
from sqlengine.tasks import StageTasks

Decoded = list[tuple[tuple[Any, ...], bool]]  # rows, each with its null-value flag
VECTORIZED = "vectorized: Arrow batches, per record where a batch needs it"


class RowOperator(Protocol):
    """Takes a batch's decoded rows, in order."""

    def process(self, decoded: Decoded) -> None: ...


class BatchOperator(Protocol):
    """Takes whole batches, vectorized; `run` is False for a batch it cannot take, which
    then goes the row path."""

    def start(self, batches: list[RecordBatch]) -> bool:
        """Sends batches to worker processes (each once); False when it has none."""
        ...

    def abandon(self) -> None: ...

    def run(self, batch: RecordBatch) -> bool: ...

    def execution_modes(self) -> dict[str, str]: ...


def source_node(plan: QueryPlan) -> SourceNode:
    """The plan's (single) source node, under its projection and filters."""
    node: PlanNode | None = plan.root
    while not isinstance(node, SourceNode):
        node = getattr(node, "input", None)
        assert node is not None, "a single-source plan ends in its source"
    return node


class SourceInput:
    """SOURCE: a step's batches of one topic, one partition after the other."""

    def __init__(
        self,
        decoder: SourceDecoder,
        rows: RowOperator,
        vectorized: BatchOperator | None,
        stores: StateStores | None,
    ) -> None:
        self.decoder = decoder
        self.rows = rows
        self.vectorized = vectorized
        self.stores = stores

    def run(self, reads: list[tuple[int, RecordBatch]]) -> None:
        batches = [batch for _, batch in reads]
        if self.vectorized is not None:
            self.vectorized.start(batches)
        for batch in batches:
            if self.stores is not None:
                self.stores.processing(batch.partition)
            if self.vectorized is None or not self.vectorized.run(batch):
                self.rows.process(self.decoder.decode(batch))

    def start(self, reads: list[tuple[int, RecordBatch]]) -> bool:
        return self.vectorized is not None and self.vectorized.start([b for _, b in reads])

    def abandon(self) -> None:
        if self.vectorized is not None:
            self.vectorized.abandon()

    def flush(self) -> None:
        """Nothing to flush: an aggregation flushes its store as each batch is written."""

    def execution_modes(self) -> dict[str, str]:
        if self.vectorized is None:
            return {"PROJECT": "per record: generated Python"}
        return self.vectorized.execution_modes()


class FilterProject:
    """FILTER, FLAT_MAP and PROJECT of one source's rows, compiled into one stage, into the
    output."""

    def __init__(self, plan: QueryPlan, output: RowSink, on_error: OnError) -> None:
        self.plan = plan
        project = plan.root
        scope_input = project.input  # type: ignore[attr-defined]
        is_table = plan.source.kind == "TABLE"
        # A table's filter turns the rows it rejects into tombstones (as a KTable filter does),
        # so there the predicate is computed as a leading column instead of dropping rows.
        self.filter_to_tombstones = is_table and plan.where is not None
        # A stream forwards a null-value record as is, unless a filter or a table function
        # (which has no value to read) drops it.
        flat_map = isinstance(scope_input, FlatMapNode)
        self.drop_null_values = not is_table and (plan.where is not None or flat_map)
        self.stage = (
            compile_stage(
                None,
                [plan.where, *project.exprs],  # type: ignore[list-item, attr-defined]
                Scope(scope_input.columns),
                on_error,
            )
            if self.filter_to_tombstones
            else projection_stage(plan, on_error)
        )
        self.null_row_keys = null_row_keys(plan, on_error)
        self.windowed = plan.source.window is not None
        self.output = output

    def process(self, decoded: Decoded) -> None:
        """Runs of data rows go through the compiled stage together; a null-value record
        between them becomes a tombstone in place, keeping per-record order."""
        out: list[tuple[Any, ...]] = []
        tombstones: set[int] = set()
        run: list[tuple[Any, ...]] = []

        def flush() -> None:
            for projected in self.stage(run):
                if self.filter_to_tombstones:
                    if projected[0] is not True:
                        tombstones.add(len(out))
                    projected = projected[1:]
                out.append(projected)
            run.clear()

        for row, is_null in decoded:
            if not is_null:
                run.append(row)
            elif not self.drop_null_values:
                flush()
                tombstones.add(len(out))
                bounds = row[-3:-1] if self.windowed else ()
                out.append((row[0], *self.null_row_keys(row), *bounds, row[-1]))
        flush()
        self.output.write(out, tombstones)


class PreAggregate:
    """FILTER and SELECT_KEY of a GROUP BY: each row's group keys and aggregate arguments,
    written into the aggregation (or its repartition topic). A table's rows lead with their
    key, so the aggregation can replace each key's row; a row WHERE rejects, like a
    tombstone, deletes it."""

    def __init__(self, plan: QueryPlan, aggregation: RowSink, on_error: OnError) -> None:
        agg = plan.aggregation
        assert agg is not None
        alias = source_node(plan).alias
        self.is_table = plan.source.kind == "TABLE"
        keys = [ast.ColumnRef(c.name, alias) for c in plan.source.key_columns]
        self.nkeys = len(keys)
        time, *pre = agg.pre_exprs()
        exprs = [time, *keys, *pre] if self.is_table else [time, *pre]
        # The record's headers last: an update carries those of the record that made it.
        exprs.append(ast.ColumnRef(C.RAW_HEADERS, alias))
        self.stage = compile_stage(plan.where, exprs, source_scope(plan.source, alias), on_error)
        self.aggregation = aggregation

    def process(self, decoded: Decoded) -> None:
        if not self.is_table:
            self.aggregation.write(self.stage([r for r, is_null in decoded if not is_null]), set())
            return
        rows: list[tuple[Any, ...]] = []
        tombstones: set[int] = set()
        for row, is_null in decoded:
            pre = None if is_null else next(iter(self.stage([row])), None)
            if pre is None:
                tombstones.add(len(rows))
                pre = (row[0], *row[3 : 3 + self.nkeys], row[-1])  # a row's headers are last
            rows.append(pre)
        self.aggregation.write(rows, tombstones)


class VectorizedProject:
    """FILTER and PROJECT over Arrow columns, from the batch's bytes to the sink's. Worker
    processes run a step's other batches while this process runs its first."""

    def __init__(
        self, columnar: ColumnarStage, sink: SinkEncoder, tasks: StageTasks | None
    ) -> None:
        self.columnar = columnar
        self.sink = sink
        self.tasks = tasks

    def start(self, batches: list[RecordBatch]) -> bool:
        if self.tasks is None:
            return False
        self.tasks.start(batches[1:])
        return True

    def abandon(self) -> None:
        if self.tasks is not None:
            self.tasks.abandon()

    def run(self, batch: RecordBatch) -> bool:
        ran, columns = (False, None) if self.tasks is None else self.tasks.result(batch)
        if not ran:
            columns = self.columnar.run(batch)
        if columns is None:
            return False
        self.sink.write_columns(columns)
        return True

    def execution_modes(self) -> dict[str, str]:
        mode = VECTORIZED
        if self.tasks is not None:
            mode += f"; on this process and {self.tasks.processes} worker process(es)"
        return {"FILTER": mode, "PROJECT": mode}


class VectorizedGroupBy:
    """FILTER and SELECT_KEY over Arrow columns: a batch's groups with their partial
    aggregates, merged into the aggregation's store. Worker processes group every batch of a
    step while this process merges; a worker's grouping is kept only if no window of its
    batch closed meanwhile (`Groups.started_at`), else the batch is grouped again here."""

    def __init__(
        self, columnar: ColumnarGroupBy, aggregation: AggregationStep, tasks: StageTasks | None
    ) -> None:
        self.columnar = columnar
        self.aggregation = aggregation
        self.tasks = tasks

    def start(self, batches: list[RecordBatch]) -> bool:
        if self.tasks is None:
            return False
        self.tasks.start(batches, self.aggregation.operator.stream_time)
        return True

    def abandon(self) -> None:
        if self.tasks is not None:
            self.tasks.abandon()

    def run(self, batch: RecordBatch) -> bool:
        stream_time = self.aggregation.operator.stream_time
        ran, groups = (False, None) if self.tasks is None else self.tasks.result(batch)
        if ran and groups is not None:
            groups = groups.started_at(stream_time)
        if groups is None:
            groups = self.columnar.run(batch, stream_time)
        if groups is None:
            return False
        self.aggregation.write_groups(groups, self.columnar.kinds)
        return True

    def execution_modes(self) -> dict[str, str]:
        grouping = VECTORIZED
        if self.tasks is not None:
            grouping += f"; in {self.tasks.processes} worker process(es)"
        return {"SELECT_KEY": grouping, "AGGREGATE": VECTORIZED + "; partials merged per group"}
