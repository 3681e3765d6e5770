"""A GROUP BY's updates of one batch encoded for its sink column-wise: the final projection
(the SELECT over group keys, aggregate results and window bounds) by Arrow compute, values as
JSON, keys (windowed keys for a windowed table) as bytes, each record's partition from its key
without the window, as Kafka Streams' WindowedStreamPartitioner puts it.

    UpdateEncoder.build(plan, sink) -> encoder, or None (the sink takes rows one by one)
    encoder.encode(times, keys, windows, results) -> (SinkColumns, base keys), or None

`encode` gives exactly the records `SinkEncoder.write` makes of the same updates, or declines
(a value the JSON encoder cannot prove it writes the same way), and the batch goes per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from planner.builder import QueryPlan
from planner.errors import PlanError
from planner.logical import SinkSpec
from planner.typing import Typer
from sqlengine.columnar import arrow_type
from sqlengine.columnar.expressions import ColumnFn, NotVectorized, compile_column
from sqlengine.columnar.json_batch import JsonBatchEncoder, supported
from sqlengine.columnar.stateless import SinkColumns, repeated, string_key


@dataclass
class UpdateEncoder:
    scope_types: list[pa.DataType]  # the post-aggregation scope's columns, in order
    nkeys: int  # group keys
    outputs: list[ColumnFn]  # the sink's key and value columns (a record's time: ROWTIME's)
    encoder: JsonBatchEncoder
    window_start: int | None  # WINDOWSTART's position in the scope (None: unwindowed)
    batches: int = 0  # batches encoded column-wise

    @classmethod
    def build(cls, plan: QueryPlan, sink: SinkSpec) -> UpdateEncoder | None:
        """The column-wise encoder of a GROUP BY's updates into `sink`, if it has one: no
        HAVING (a row that stops passing is a tombstone), results as they change (not EMIT
        FINAL), JSON values, one STRING key in the KAFKA format, time windows or none."""
        agg = plan.aggregation
        assert agg is not None
        values = [(o.name, o.type) for o in plan.value_outputs]
        keys = [(o.name, o.type) for o in plan.key_outputs]
        if (
            agg.having is not None
            or plan.emit == "FINAL"
            or sink.value_format.name != "JSON"
            or sink.timestamp_column is not None
            or len(keys) != 1
            or not string_key(keys, sink.key_format)
            or not values
            or (len(values) == 1 and sink.wrap_single_value is False)
            or not supported(values)
            or (agg.window is not None and agg.window.kind == "SESSION")
        ):
            return None
        scope_types = [arrow_type(c.type) for c in agg.post_scope.columns]
        if any(t is None for t in scope_types):
            return None
        typer = Typer(agg.post_scope)
        try:
            if any(typer.infer(o.expr) != o.type for o in plan.outputs):
                return None
            outputs = [compile_column(o.expr, typer) for o in plan.outputs]
        except (NotVectorized, PlanError):
            return None
        return cls(
            scope_types,  # type: ignore[arg-type]
            len(agg.keys),
            outputs,
            JsonBatchEncoder(values),
            len(scope_types) - 2 if agg.window is not None else None,
        )

    def encode(
        self,
        times: list[int],
        keys: list[tuple[Any, ...]],
        windows: list[tuple[int, int]] | None,
        results: list[tuple[Any, ...]],
    ) -> tuple[SinkColumns, pa.Array] | None:
        """The sink's records of a batch of updates (none deleted), with each record's key
        bytes without its window; None to write them per row."""
        n = len(times)
        if not n:
            return None
        columns = [times, *zip(*keys, strict=True), *zip(*results, strict=True)]
        if self.window_start is not None:
            assert windows is not None
            columns += list(zip(*windows, strict=True))
        cols = {
            i: pa.array(column, t)
            for i, (column, t) in enumerate(zip(columns, self.scope_types, strict=True))
        }
        key, *values = [repeated(fn(cols), None, n) for fn in self.outputs]
        if key.null_count:
            return None
        encoded = self.encoder.encode(values)
        if encoded is None:
            return None
        base_keys = key.cast(pa.binary())
        record_keys = base_keys
        if self.window_start is not None:
            starts = _big_endian(cols[self.window_start])
            record_keys = pc.binary_join_element_wise(base_keys, starts, pa.scalar(b""))
        self.batches += 1
        return SinkColumns(cols[0], record_keys, encoded), base_keys


def _big_endian(values: pa.Array) -> pa.Array:
    """int64 values as 8-byte big-endian binaries (a windowed key's start, as Kafka Streams
    writes it): the little-endian buffer viewed as fixed-size binaries, bytes reversed."""
    values = pa.concat_arrays([values.cast(pa.int64())])  # offset 0, a buffer of its own
    fixed = pa.Array.from_buffers(pa.binary(8), len(values), [None, values.buffers()[1]])
    return pc.binary_reverse(fixed.cast(pa.binary()))
