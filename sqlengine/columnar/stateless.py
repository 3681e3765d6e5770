"""A stateless query's whole batch at once: JSON values decoded to Arrow columns, WHERE and
SELECT by Arrow compute, keys and values encoded column-wise, ready to append to the sink.

`ColumnarStage.build` says whether a plan qualifies (a stream read as JSON with at most one
KAFKA STRING key, no PARTITION BY, table functions or sink timestamp, every expression
vectorizable); `run` then either gives the sink's columns for a batch or declines it, and the
query runs that batch per record. Both give the same records, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from planner.builder import QueryPlan
from planner.errors import PlanError
from planner.logical import FilterNode, ProjectNode, SinkSpec, SourceNode
from planner.scope import Scope
from planner.typing import Typer
from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.columnar import arrow_type
from sqlengine.columnar.expressions import (
    ColumnFn,
    Columns,
    NotVectorized,
    compile_column,
    compile_where,
)
from sqlengine.columnar.json_batch import JsonBatchDecoder, JsonBatchEncoder, supported
from sqlengine.log.base import RecordBatch

_PSEUDO = len(C.PSEUDO_COLUMNS)


@dataclass(frozen=True)
class SinkColumns:
    """A batch's results as the sink stores them."""

    timestamps: pa.Array
    keys: pa.Array
    values: pa.Array


def string_key(columns: list[C.SourceColumn] | list[tuple[str, T.SqlType]], fmt: C.Format) -> bool:
    """At most one key column, a STRING in the KAFKA format (its bytes are its UTF-8)."""
    types = [c.type if isinstance(c, C.SourceColumn) else c[1] for c in columns]
    return not types or (len(types) == 1 and types[0] == T.STRING and fmt.name == "KAFKA")


@dataclass
class ColumnarStage:
    reader: SourceReader
    where: ColumnFn | None
    outputs: list[tuple[ColumnFn, pa.DataType]]  # (expression, result type), keys first
    key_count: int
    encoder: JsonBatchEncoder
    batches: int = 0  # batches run vectorized
    declined: int = 0  # batches left to the per-record path

    @classmethod
    def build(cls, plan: QueryPlan, sink: SinkSpec) -> ColumnarStage | None:
        """The vectorized stage of a stateless plan writing to `sink`, if it has one."""
        source = plan.source
        project = plan.root
        if not (
            isinstance(project, ProjectNode)
            and _reads_source(project)
            and plan.aggregation is None
            and plan.join is None
            and plan.partitioning is None
            and qualifies_io(plan, source, sink)
        ):
            return None
        keys = [(o.name, o.type) for o in plan.key_outputs]
        outputs = [(o.name, o.type) for o in plan.value_outputs]
        node = project.input
        assert node is not None
        typer = Typer(Scope(node.columns))
        try:
            where = compile_where(plan.where, typer)
            compiled = []
            for o in plan.outputs:
                if typer.infer(o.expr) != o.type:
                    return None
                compiled.append((compile_column(o.expr, typer), arrow_type(o.type)))
        except (NotVectorized, PlanError):
            return None
        return cls(
            SourceReader(source),
            where,
            compiled,
            len(keys),
            JsonBatchEncoder(outputs),
        )

    def run(self, batch: RecordBatch) -> SinkColumns | None:
        """The sink's columns for `batch`, or None to process it per record."""
        columns = self._run(batch)
        if columns is None:
            self.declined += 1
        else:
            self.batches += 1
        return columns

    def _run(self, batch: RecordBatch) -> SinkColumns | None:
        cols = self.reader.read(batch)
        if cols is None:
            return None
        timestamps, n = cols[0], len(batch)
        results = [repeated(fn(cols), arrow, n) for fn, arrow in self.outputs]
        if self.where is not None:
            mask = repeated(self.where(cols), pa.bool_(), n)
            results = [r.filter(mask) for r in results]
            timestamps = timestamps.filter(mask)
        encoded = self.encoder.encode(results[self.key_count :])
        if encoded is None:
            return None
        if self.key_count:
            key_bytes = results[0].cast(pa.binary())
        else:
            key_bytes = pa.nulls(len(timestamps), pa.binary())
        return SinkColumns(timestamps, key_bytes, encoded)


class SourceReader:
    """A batch of a JSON stream as the columns of its rows (scope index -> array): the
    pseudo columns, the key (one STRING at most) and the decoded values."""

    def __init__(self, source: C.DataSource) -> None:
        values = [(c.name, c.type) for c in source.value_columns]
        self.decoder = JsonBatchDecoder(values)
        names = [c.name for c in source.columns]
        self.value_indexes = [_PSEUDO + names.index(name) for name, _ in values]
        self.key_index = _PSEUDO if source.key_columns else None
        # A TIMESTAMP column (BIGINT epoch ms) gives the rows their time.
        self.time_index = None
        if source.timestamp_column is not None:
            self.time_index = _PSEUDO + names.index(source.timestamp_column)

    def read(self, batch: RecordBatch) -> Columns | None:
        """The batch's columns; None to process it per record."""
        if any(batch.headers):
            return None
        timestamps, keys, values = batch.arrays()
        decoded = self.decoder.decode(values)
        if decoded is None:
            return None
        cols: Columns = dict(zip(self.value_indexes, decoded, strict=True))
        if self.time_index is not None:
            # A NULL or negative time is logged (or fails the query) per record.
            timestamps = cols[self.time_index]
            if timestamps.null_count or pc.min(timestamps).as_py() < 0:
                return None
        cols[0] = timestamps
        cols[1] = pa.scalar(batch.partition, pa.int32())
        cols[2] = batch.offset_array()
        if self.key_index is not None:
            try:
                cols[self.key_index] = keys.cast(pa.string())
            except pa.ArrowInvalid:  # not UTF-8: the per-record path replaces bad bytes
                return None
        return cols


def reads_json_stream(source: C.DataSource) -> bool:
    """Can `SourceReader` read this source?"""
    values = [(c.name, c.type) for c in source.value_columns]
    time = source.column(source.timestamp_column) if source.timestamp_column else None
    return (
        source.kind == "STREAM"
        and source.window is None
        and (time is None or (time.type == T.BIGINT and source.timestamp_format is None))
        and not source.header_columns
        and source.value_format.name == "JSON"
        and string_key(source.key_columns, source.key_format)
        and bool(values)
        and not (len(values) == 1 and source.wrap_single_value is False)
        and supported(values)
    )


def qualifies_io(plan: QueryPlan, source: C.DataSource, sink: SinkSpec) -> bool:
    """Can a query read `source` and write `sink` vectorized? A JSON stream with at most one
    KAFKA STRING key, into a JSON sink keyed the same way, its value columns and the query's
    outputs of types the vectorized path holds, values wrapped in objects."""
    outputs = [(o.name, o.type) for o in plan.value_outputs]
    return (
        reads_json_stream(source)
        and sink.value_format.name == "JSON"
        and sink.timestamp_column is None
        and sink.window is None
        and string_key([(o.name, o.type) for o in plan.key_outputs], sink.key_format)
        and bool(outputs)
        and not (len(outputs) == 1 and sink.wrap_single_value is False)
        and supported(outputs)
    )


def _reads_source(project: ProjectNode) -> bool:
    """Does the projection read the source's rows (maybe filtered), not a table function's
    flat map of them?"""
    node = project.input
    if isinstance(node, FilterNode):
        node = node.input
    return isinstance(node, SourceNode)


def repeated(value: pa.Array | pa.Scalar, arrow: pa.DataType | None, n: int) -> pa.Array:
    """An expression's result as a column of n rows (a constant is repeated), of type
    `arrow` (None: the value's own)."""
    if isinstance(value, pa.Scalar):
        arrow = arrow or value.type
        return pc.fill_null(pa.nulls(n, arrow), value) if value.is_valid else pa.nulls(n, arrow)
    if isinstance(value, pa.ChunkedArray):
        return value.combine_chunks()
    return value
