"""ksqlDB's aggregate functions (UDAFs), resolved once per query for the aggregation operator.

    agg = resolve_aggregate("TOPK", [T.INTEGER], [3])
    acc = agg.init()
    acc = agg.add(acc, 7)          # per record, in offset order
    agg.result(acc)                # -> [7]

`add` receives the column argument's value, or a tuple of values when the call has several
column arguments (CORRELATION(x, y), TOPK(x, y, 3)); NULL handling is the function's own.
`undo` is None for functions ksqlDB does not allow on table sources. Trailing literal
arguments (TOPK's k) are passed to `resolve_aggregate` as `init_args`; `init_arg_count`
tells the planner how many trailing arguments of a call must be literals.

ksqlDB's test-only UDAFs are an extension directory of the conformance runner
(sqlengine/testing/extensions), loaded like a user's functions (sqlengine.udf).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlengine import types as T
from sqlengine.aggregates import (  # noqa: F401  (imported to register their functions)
    arithmetic,
    distinct,
    gathering,
    ordering,
    statistics,
)
from sqlengine.aggregates.core import UDAFS, AggregateError, Aggregator, init_arg_count, resolve
from sqlengine.functions.registry import FunctionInfo

__all__ = [
    "AggregateError",
    "Aggregator",
    "aggregate_names",
    "init_arg_count",
    "is_aggregate",
    "resolve_aggregate",
]


def resolve_aggregate(
    name: str,
    arg_types: list[T.SqlType],
    init_args: list[Any],
    config: Mapping[str, Any] | None = None,
) -> Aggregator:
    """Resolve a call: the types of its column arguments, the values of its trailing literal
    arguments, and the query's config (`ksql.functions.collect_list.limit` ...).

    Raises AggregateError when no overload fits or a literal is out of range."""
    return resolve(name, arg_types, init_args, config)


def is_aggregate(name: str) -> bool:
    return name.upper() in UDAFS


def aggregate_names() -> list[FunctionInfo]:
    """The aggregate functions, for SHOW FUNCTIONS / DESCRIBE FUNCTION."""
    return sorted((fn.info() for fn in UDAFS.values()), key=lambda info: info.name)
