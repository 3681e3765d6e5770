"""GROUP BY queries at run time: the pre-aggregation stage over a source's rows, writing
into the aggregation step (`aggregation_step`: the operator, the final projection, output).

    source rows -> [WHERE + group keys + aggregate arguments] -> AggregationStep -> output

A table's rows lead with their key, so the step can replace each key's row; a row WHERE
rejects, like a tombstone, deletes it.
"""

from __future__ import annotations

from typing import Any

from grammar import ast
from planner.builder import QueryPlan
from planner.scope import source_scope
from sqlengine import catalog as C
from sqlengine.aggregation_step import AggregationStep
from sqlengine.codegen import compile_stage
from sqlengine.columnar.aggregation import ColumnarGroupBy
from sqlengine.log.base import RecordBatch
from sqlengine.runtime import PersistentQuery, QueryContext
from sqlengine.sink import RowSink
from sqlengine.tasks import StageTasks


class AggregateQuery(PersistentQuery):
    def __init__(self, query_id: str, plan: QueryPlan, output: RowSink, ctx: QueryContext) -> None:
        super().__init__(query_id, plan, ctx)
        agg = plan.aggregation
        assert agg is not None
        alias = plan.root.input.input.columns[0].source  # type: ignore[attr-defined]
        scope = source_scope(plan.source, alias)
        self.is_table = plan.source.kind == "TABLE"
        keys = [ast.ColumnRef(c.name, alias) for c in plan.source.key_columns]
        self.nkeys = len(keys)
        time, *pre = agg.pre_exprs()
        exprs = [time, *keys, *pre] if self.is_table else [time, *pre]
        # The record's headers last: an update carries those of the record that made it.
        exprs.append(ast.ColumnRef(C.RAW_HEADERS, alias))
        self.pre_stage = compile_stage(plan.where, exprs, scope, self._on_error)
        self.aggregation = AggregationStep(
            query_id,
            plan,
            output,
            ctx,
            self._on_error,
            self.nkeys if self.is_table else None,
            rows_carry_headers=True,
        )
        # A stream's batches are grouped vectorized when the query and the batch allow.
        self.columnar: ColumnarGroupBy | None = None
        # Batches are grouped in worker processes when the source has partitions to spread;
        # this process merges the groups into the store, in partition order, meanwhile.
        self.tasks: StageTasks | None = None
        if ctx.vectorized and self.aggregation.takes_groups():
            vectors = [c.aggregator.vector for c in agg.calls]
            window = self.aggregation.windowing()
            parts = ColumnarGroupBy.parts(plan, scope, vectors, window)
            self.columnar = ColumnarGroupBy.build(*parts) if parts is not None else None
            if self.columnar is not None:
                assert parts is not None
                self.tasks = ctx.stage_tasks(
                    ColumnarGroupBy.build, parts, len(self.positions), merges=True
                )

    def _start(self, batches: list[RecordBatch]) -> dict[tuple[str, int], int]:
        if self.tasks is not None:
            self.tasks.start(batches, self.aggregation.operator.stream_time)
        return {}

    def _process_batch(self, batch: RecordBatch) -> None:
        if self.columnar is not None:
            stream_time = self.aggregation.operator.stream_time
            ran, groups = (
                (False, None) if self.tasks is None else self.tasks.result(batch.partition)
            )
            if ran and groups is not None:
                groups = groups.started_at(stream_time)
            if groups is None:
                groups = self.columnar.run(batch, stream_time)
            if groups is not None:
                self.aggregation.write_groups(groups, self.columnar.kinds)
                return
        super()._process_batch(batch)

    def execution_modes(self) -> dict[str, str]:
        if self.columnar is None:
            return super().execution_modes()
        mode = "vectorized: Arrow batches, per record where a batch needs it"
        grouping = mode
        if self.tasks is not None:
            grouping += f"; in {self.tasks.processes} worker process(es)"
        return {"SELECT_KEY": grouping, "AGGREGATE": mode + "; partials merged per group"}

    def _process(self, decoded: list[tuple[tuple[Any, ...], bool]]) -> None:
        if not self.is_table:
            self.aggregation.write(
                self.pre_stage([r for r, is_null in decoded if not is_null]), set()
            )
            return
        rows: list[tuple[Any, ...]] = []
        tombstones: set[int] = set()
        for row, is_null in decoded:
            pre = None if is_null else next(iter(self.pre_stage([row])), None)
            if pre is None:
                tombstones.add(len(rows))
                pre = (row[0], *row[3 : 3 + self.nkeys], row[-1])  # a row's headers are last
            rows.append(pre)
        self.aggregation.write(rows, tombstones)

    def internal_topics(self) -> list[str]:
        return list(self.aggregation.changelogs)
