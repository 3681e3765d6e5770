"""Arrow views of what a pull query reads: a table's current state, a stream's records.

A view has one column per column a pull query may name: ROWTIME, the key columns, the
value (and header) columns, and WINDOWSTART/WINDOWEND of a windowed source. Building one
costs a pass over the rows in Python, so views are kept per source and *version* (a
table's read positions, a stream's end offsets) and rebuilt only when the data changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.analytics.values import arrow_array, arrow_type
from sqlengine.columnar.stateless import SourceReader, reads_json_stream
from sqlengine.log.base import RecordBatch

Row = tuple[Any, ...]


@dataclass(frozen=True)
class ViewColumn:
    name: str
    type: T.SqlType
    index: int  # where the decoded row holds it


def view_columns(source: C.DataSource) -> list[ViewColumn]:
    """The columns of `source`'s view, with their places in its decoded rows (ROWTIME,
    ROWPARTITION, ROWOFFSET, columns..., [WINDOWSTART, WINDOWEND], headers); the record
    position orders what aggregates like COLLECT_LIST gather."""
    base = len(C.PSEUDO_COLUMNS)
    out = [ViewColumn(name, t, i) for i, (name, t) in enumerate(C.PSEUDO_COLUMNS)]
    out += [ViewColumn(c.name, c.type, base + i) for i, c in enumerate(source.columns)]
    if source.window is not None:
        n = base + len(source.columns)
        out += [ViewColumn(C.WINDOWSTART, T.BIGINT, n), ViewColumn(C.WINDOWEND, T.BIGINT, n + 1)]
    return out


def to_arrow(rows: list[Row], source: C.DataSource) -> pa.Table:
    columns = view_columns(source)
    if not rows:
        arrays = [arrow_array([], c.type) for c in columns]
    else:
        transposed = list(zip(*rows, strict=True))
        arrays = [arrow_array(list(transposed[c.index]), c.type) for c in columns]
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


def stream_view(
    source: C.DataSource,
    batches: Iterable[RecordBatch],
    decode: Callable[[RecordBatch], list[Row]],
) -> pa.Table:
    """A stream's records as its view: a JSON stream's batches decoded whole by the
    vectorized reader (sqlengine.columnar), any other batch record by record (`decode`)."""
    columns = view_columns(source)
    schema = pa.schema([(c.name, arrow_type(c.type)) for c in columns])
    reader = SourceReader(source) if reads_json_stream(source) else None
    tables = []
    for batch in batches:
        read = reader.read(batch) if reader is not None else None
        if read is None:
            tables.append(to_arrow(decode(batch), source))
            continue
        arrays = [_array(read[c.index], len(batch)) for c in columns]
        tables.append(
            pa.Table.from_arrays(
                [
                    a.cast(f.type) if a.type != f.type else a
                    for a, f in zip(arrays, schema, strict=True)
                ],
                schema=schema,
            )
        )
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _array(column: pa.Array | pa.Scalar, length: int) -> pa.Array:
    """A column of the vectorized reader (the partition is one scalar for the batch)."""
    return pa.repeat(column, length) if isinstance(column, pa.Scalar) else column


class ViewCache:
    """The last view built per source (and per kind: a table's rows in its scan order, or
    in no order), reused while its version is unchanged. A version of None (nothing tells
    whether the data changed) is never cached."""

    def __init__(self) -> None:
        self._views: dict[tuple[str, bool], tuple[C.DataSource, Any, pa.Table]] = {}

    def view(
        self, source: C.DataSource, version: Any, build: Callable[[], pa.Table], ordered: bool
    ) -> pa.Table:
        key = (source.name, ordered)
        cached = self._views.get(key)
        if cached is not None and cached[0] is source and version is not None:
            if cached[1] == version:
                return cached[2]
        table = build()
        if version is None:
            self._views.pop(key, None)
        else:
            self._views[key] = (source, version, table)
        return table
