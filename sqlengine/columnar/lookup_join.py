"""A stream enriched from a table, a whole batch at once: the stream's JSON decoded to Arrow
columns, each distinct join key looked up in the table once, the table's columns gathered
by Arrow's `take`, WHERE and SELECT by Arrow compute, the sink's records encoded column-wise.

It runs a step only when the step read no table record: then every stream record of the
step sees the same table, as it does per record, and each partition's batch can run on its
own (in a worker process, with a snapshot of the table: `sqlengine.joins.TableLookup`). The
partitions' results are merged in timestamp order as the per-record path merges the records
(each partition's batch must be in timestamp order, else the step runs per record).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from grammar import ast
from planner.builder import QueryPlan
from planner.errors import PlanError
from planner.joins import JoinPlan
from planner.logical import SinkSpec
from planner.typing import Typer
from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.columnar import arrow_type
from sqlengine.columnar.expressions import Columns, NotVectorized, compile_column, compile_where
from sqlengine.columnar.json_batch import JsonBatchEncoder, supported
from sqlengine.columnar.stateless import SinkColumns, SourceReader, qualifies_io, repeated
from sqlengine.log.base import RecordBatch

_PSEUDO = len(C.PSEUDO_COLUMNS)
_BODY = 2  # a joined row: (ROWTIME, key, stream row..., table row...)


class ColumnarLookupJoin:
    def __init__(self, plan: QueryPlan, jp: JoinPlan, typer: Typer) -> None:
        stream, table = jp.sources[0], jp.sources[1]
        self.reader = SourceReader(stream.source)
        self.table_offset = _BODY + table.offset
        table_columns = [(0, C.ROWTIME, T.BIGINT)] + [
            (_PSEUDO + i, c.name, c.type) for i, c in enumerate(table.source.columns)
        ]
        referenced = {col.index for col in typer.columns.values()}
        self.table_columns = [
            (self.table_offset + i, arrow_type(t), i)
            for i, _, t in table_columns
            if self.table_offset + i in referenced
        ]
        self.join_key = typer.columns[id(jp.steps[0].left_expr)].index
        self.where = compile_where(plan.where, typer)
        self.outputs = [(compile_column(o.expr, typer), arrow_type(o.type)) for o in plan.outputs]
        self.key_count = len(plan.key_outputs)
        self.encoder = JsonBatchEncoder([(o.name, o.type) for o in plan.value_outputs])
        self.left_outer = jp.steps[0].kind == "LEFT"
        self.batches = 0

    @classmethod
    def build(cls, plan: QueryPlan, sink: SinkSpec) -> ColumnarLookupJoin | None:
        """The vectorized form of a one stream, one table join, if the plan has one."""
        jp = plan.join
        if jp is None or len(jp.steps) != 1 or jp.steps[0].shape != "STREAM_TABLE":
            return None
        if plan.aggregation is not None or plan.partitioning is not None:
            return None
        stream, table = jp.sources[0].source, jp.sources[1].source
        if not qualifies_io(plan, stream, sink) or table.header_columns or table.window:
            return None
        if not supported([(c.name, c.type) for c in table.columns]):
            return None
        if not isinstance(jp.steps[0].left_expr, ast.ColumnRef):
            return None
        typer = Typer(jp.row_scope)
        try:
            for o in plan.outputs:
                if typer.infer(o.expr) != o.type:
                    return None
            typer.infer(jp.steps[0].left_expr)
            return cls(plan, jp, typer)
        except (NotVectorized, PlanError, ValueError, KeyError):
            return None

    def run_step(
        self, batches: Sequence[RecordBatch], match: Callable[[Any], Sequence[Any] | None]
    ) -> SinkColumns | None:
        """The sink's columns for a step's stream `batches` (one per partition), or None to
        run them per record."""
        return merge_partitions([self.run(batch, match) for batch in batches])

    def run(
        self, batch: RecordBatch, match: Callable[[Any], Sequence[Any] | None]
    ) -> SinkColumns | None:
        """The sink's columns for one partition's batch (in its order), or None to run the
        step per record. Its rows' table sides come from `match`, the same table for every
        partition of the step (it read no table record)."""
        cols = self.reader.read(batch)
        if cols is None:
            return None
        times = cols[0]
        if len(times) > 1 and not pc.all(pc.greater_equal(times[1:], times[:-1])).as_py():
            return None
        n = len(batch)
        # The stream's row sits in the joined row after (ROWTIME, key).
        cols = {_BODY + i: repeated(c, None, n) for i, c in cols.items()}
        timestamps = cols[_BODY]
        cols[0] = timestamps
        join_keys = cols.get(self.join_key)
        if join_keys is None:
            return None
        cols[1] = join_keys
        found = self._gather(join_keys, cols, match)
        if found is None:
            return None
        results = [repeated(fn(cols), arrow, n) for fn, arrow in self.outputs]
        mask = found
        if self.where is not None:
            mask = pc.and_(mask, repeated(self.where(cols), pa.bool_(), n))
        results = [r.filter(mask) for r in results]
        encoded = self.encoder.encode(results[self.key_count :])
        if encoded is None:
            return None
        self.batches += 1
        keys = (
            results[0].cast(pa.binary()) if self.key_count else pa.nulls(len(encoded), pa.binary())
        )
        return SinkColumns(timestamps.filter(mask), keys, encoded)

    def _gather(
        self, join_keys: pa.Array, cols: Columns, match: Callable[[Any], Sequence[Any] | None]
    ) -> pa.Array | None:
        """Looks each distinct key up once; puts the table's referenced columns in `cols`;
        returns which rows have a result (all of them in a LEFT join)."""
        encoded = join_keys.dictionary_encode()
        rows = [match(key) for key in encoded.dictionary.to_pylist()]
        # A NULL key (the extra last entry) matches no row: a LEFT join keeps it with NULLs.
        hit = pa.array([row is not None for row in rows] + [self.left_outer], pa.bool_())
        positions = encoded.indices.fill_null(len(rows))
        for index, arrow, position in self.table_columns:
            column = [None if row is None else row[position] for row in rows] + [None]
            try:
                cols[index] = pa.array(column, arrow).take(positions)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                return None
        return hit.take(positions)


def merge_partitions(parts: Sequence[SinkColumns | None]) -> SinkColumns | None:
    """One step's partitions' results in the order the per-record path writes them, the
    order `heapq.merge` gives the runs (each sorted by time): by time, ties in partition
    order (filtering rows out of sorted runs keeps the merged order of the others). None if
    any partition has none."""
    if any(part is None for part in parts):
        return None
    runs = [part for part in parts if part is not None and len(part.timestamps)]
    if len(runs) == 1:
        return runs[0]
    if not runs:  # nothing passed: any part is the empty result
        return parts[0] if parts else None
    stamps = [part.timestamps for part in runs]
    # A stable sort of the runs laid end to end keeps ties in run order, then in each run's
    # own order: heapq.merge's order. Over sorted runs it is a merge (timsort), linear.
    order = pa.array(np.argsort(pa.concat_arrays(stamps).to_numpy(), kind="stable"))

    def merged(columns: list[pa.Array]) -> pa.Array:
        return pa.concat_arrays(columns).take(order)

    return SinkColumns(
        merged(stamps), merged([p.keys for p in runs]), merged([p.values for p in runs])
    )
