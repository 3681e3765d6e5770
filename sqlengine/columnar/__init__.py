"""Vectorized execution: a whole batch of records as Arrow columns, decoded, filtered,
projected and encoded by Arrow compute instead of per record.

Every piece here either gives exactly what the per-record path (`sqlengine.runtime`,
`sqlengine.codegen`, `sqlengine.serde`) gives for a batch, or declines (returns None), and
the caller runs the per-record path for that batch. Declining is always correct; it happens
for records the fast path cannot prove it handles the same way (bad JSON, values needing
ksqlDB's coercions, odd field-name casing, headers, tombstones...).
"""

from __future__ import annotations

import pyarrow as pa

from sqlengine import types as T

_ARROW_TYPES: dict[T.Base, pa.DataType] = {
    T.Base.BOOLEAN: pa.bool_(),
    T.Base.INTEGER: pa.int32(),
    T.Base.BIGINT: pa.int64(),
    T.Base.DOUBLE: pa.float64(),
    T.Base.STRING: pa.string(),
}


def arrow_type(t: T.SqlType | None) -> pa.DataType | None:
    """The Arrow type the vectorized path holds a column of SQL type `t` in; None when it
    has none (that column keeps a query on the per-record path)."""
    return None if t is None else _ARROW_TYPES.get(t.base)
