"""The test-only UDAFs ksqlDB's functional-test runner registers (not part of the product).

Their behaviour is inferred from the query-validation cases that use them: VAR_ARG,
MID_VAR_ARG, MULTI_ARG, FOUR_ARG, FIVE_ARG sum their integer columns and the lengths of their
string columns onto an initial value (the sum of the integer literals and the lengths of the
string literals); GENERIC_VAR_ARG and OBJ_COL_ARG collect their first column when no column
is NULL; TEST_UDAF sums (field-wise for structs). Import this module to register them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlengine import types as T
from sqlengine.aggregates.core import Aggregator, Call, UdafOverload, udaf, wrapper_for


def _measure(values: Sequence[Any]) -> int:
    """Integers count as themselves, strings as their length, NULLs as nothing."""
    return sum(len(v) if isinstance(v, str) else v for v in values if v is not None)


def _summing(call: Call) -> Aggregator:
    start = _measure(call.init_args)

    def add(acc: int, values: Sequence[Any]) -> int:
        return acc + _measure(values)

    return Aggregator(T.BIGINT, lambda: start, add, None, lambda a, b: a + b, lambda acc: acc)


def _collect_complete(call: Call) -> Aggregator:
    def add(acc: list[Any], values: Sequence[Any]) -> list[Any]:
        if all(v is not None for v in values):
            acc.append(values[0])
        return acc

    return Aggregator(call.return_type, list, add, None, lambda a, b: a + b, list)


udaf(
    "VAR_ARG",
    "Test UDAF: a BIGINT column and variadic STRING columns.",
    UdafOverload(["BIGINT", "STRING..."], [], "BIGINT", _summing),
    tuple_args=True,
)
udaf(
    "MID_VAR_ARG",
    "Test UDAF: variadic STRING columns between a BIGINT column and two INT literals.",
    UdafOverload(["BIGINT", "STRING..."], ["INT", "INT"], "BIGINT", _summing),
    tuple_args=True,
)
udaf(
    "MULTI_ARG",
    "Test UDAF: two columns, an INT literal and variadic STRING literals.",
    UdafOverload(["BIGINT", "STRING"], ["INT", "STRING..."], "BIGINT", _summing),
    tuple_args=True,
)
udaf(
    "FOUR_ARG",
    "Test UDAF: four columns, an INT literal and variadic STRING literals.",
    UdafOverload(
        ["BIGINT", "STRING", "STRING", "STRING"], ["INT", "STRING..."], "BIGINT", _summing
    ),
    tuple_args=True,
)
udaf(
    "FIVE_ARG",
    "Test UDAF: five columns, an INT literal and variadic STRING literals.",
    UdafOverload(
        ["BIGINT", "STRING", "STRING", "STRING", "INT"], ["INT", "STRING..."], "BIGINT", _summing
    ),
    tuple_args=True,
)
udaf(
    "GENERIC_VAR_ARG",
    "Test UDAF: collects its first column while no column is NULL.",
    UdafOverload(["T", "INT", "U..."], [], "ARRAY<T>", _collect_complete),
    tuple_args=True,
)
udaf(
    "OBJ_COL_ARG",
    "Test UDAF: collects its INT column while none of the other columns is NULL.",
    UdafOverload(["INT", "ANY..."], [], "ARRAY<INT>", _collect_complete),
    tuple_args=True,
)


def _test_sum(call: Call) -> Aggregator:
    t = call.arg_types[0]
    if isinstance(t, T.Struct):
        wraps = [wrapper_for(f.type) for f in t.fields]
        names = [f.name for f in t.fields]

        def combine(a: Any, b: Any, sign: int) -> Any:
            if b is None:
                return a
            if a is None:
                return dict(b)
            return {
                n: w((a[n] or 0) + sign * (b[n] or 0)) for n, w in zip(names, wraps, strict=True)
            }

        zero: Any = None
    else:
        wrap = wrapper_for(t)

        def combine(a: Any, b: Any, sign: int) -> Any:
            return a if b is None else wrap(a + sign * b)

        zero = 0
    return Aggregator(
        t,
        lambda: zero,
        lambda acc, v: combine(acc, v, 1),
        lambda acc, v: combine(acc, v, -1),
        lambda a, b: combine(a, b, 1),
        lambda acc: acc,
    )


udaf(
    "TEST_UDAF",
    "Test UDAF: sums INT or BIGINT values, or STRUCT<A INT, B INT> values field by field.",
    UdafOverload(["INT"], [], "INT", _test_sum),
    UdafOverload(["BIGINT"], [], "BIGINT", _test_sum),
    UdafOverload(["STRUCT"], [], lambda ts: ts[0], _test_sum),
)
