"""COUNT, SUM, SUM_LIST, AVG, MIN, MAX: ksqlDB's arithmetic and comparison aggregates.

Integer sums wrap like Java's int/long; a DECIMAL sum keeps its argument's precision and
scale and fails on overflow (ksqlDB's DecimalSumKudaf).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any

from sqlengine import types as T
from sqlengine.aggregates.core import (
    AggregateError,
    Aggregator,
    Call,
    UdafOverload,
    identity,
    udaf,
    wrapper_for,
)

NUMERIC = ["INT", "BIGINT", "DOUBLE", "DECIMAL"]
# Types MIN/MAX/TOPK order (ksqlDB's comparable SQL types).
COMPARABLE = [*NUMERIC, "DATE", "TIME", "TIMESTAMP", "STRING", "BYTES"]


def _same(ts: list[T.SqlType]) -> T.SqlType:
    return ts[0]


# ---------------------------------------------------------------------------- COUNT


def _count(call: Call) -> Aggregator:
    def add(acc: int, v: Any) -> int:
        return acc if v is None and call.arg_types else acc + 1

    def undo(acc: int, v: Any) -> int:
        return acc if v is None and call.arg_types else acc - 1

    vector = "count_values" if call.arg_types else "count"
    return Aggregator(T.BIGINT, lambda: 0, add, undo, lambda a, b: a + b, identity, vector=vector)


udaf(
    "COUNT",
    "Counts records; with a column, only records where it is not NULL.",
    UdafOverload([], [], "BIGINT", _count, "Counts all records."),
    UdafOverload(["ANY"], [], "BIGINT", _count, "Counts records with a non-NULL value."),
)


# ---------------------------------------------------------------------------- SUM


def _decimal_sum(t: T.Decimal) -> tuple[Callable[[Any, Any], Any], Callable[[Any], Any]]:
    digits = t.precision - t.scale
    bound = decimal.Decimal(10) ** digits
    quantum = decimal.Decimal(1).scaleb(-t.scale)

    def add(acc: decimal.Decimal, v: decimal.Decimal) -> decimal.Decimal:
        total = acc + v
        if abs(total) >= bound:
            raise AggregateError(
                f"Numeric field overflow: A field with precision {t.precision} and scale "
                f"{t.scale} must round to an absolute value less than 10^{digits}. Got {total:f}"
            )
        return total

    return add, lambda acc: acc.quantize(quantum)


def _sum(call: Call) -> Aggregator:
    t = call.arg_types[0]
    wrap = wrapper_for(t)

    def plus(acc: Any, v: Any) -> Any:
        return wrap(acc + v)

    zero: Any = 0.0 if t.base is T.Base.DOUBLE else 0
    result = identity
    if isinstance(t, T.Decimal):
        zero = decimal.Decimal(0)
        plus, result = _decimal_sum(t)

    def add(acc: Any, v: Any) -> Any:
        return acc if v is None else plus(acc, v)

    def add_number(acc: Any, v: Any) -> Any:
        return acc if v is None else wrap(acc + v)  # `add`, one call less per record

    def undo(acc: Any, v: Any) -> Any:
        return acc if v is None else wrap(acc - v)

    adds = add if isinstance(t, T.Decimal) else add_number
    return Aggregator(t, lambda: zero, adds, undo, plus, result, vector="sum")


udaf(
    "SUM",
    "Computes the sum for a key.",
    *(UdafOverload([p], [], _same, _sum) for p in NUMERIC),
)


def _sum_list(call: Call) -> Aggregator:
    element = call.return_type
    wrap = wrapper_for(element)
    zero: Any = 0.0 if element.base is T.Base.DOUBLE else 0

    def total(values: list[Any]) -> Any:
        s = zero
        for x in values:
            if x is not None:
                s = wrap(s + x)
        return s

    def add(acc: Any, v: list[Any] | None) -> Any:
        return acc if v is None else wrap(acc + total(v))

    def undo(acc: Any, v: list[Any] | None) -> Any:
        return acc if v is None else wrap(acc - total(v))

    return Aggregator(element, lambda: zero, add, undo, lambda a, b: wrap(a + b), identity)


udaf(
    "SUM_LIST",
    "Returns the sum of elements contained in the list.",
    *(UdafOverload([f"ARRAY<{p}>"], [], p, _sum_list) for p in ["INT", "BIGINT", "DOUBLE"]),
)


# ---------------------------------------------------------------------------- AVG


def _avg(call: Call) -> Aggregator:
    t = call.arg_types[0]
    wrap = wrapper_for(t)
    zero: Any = 0.0 if t.base is T.Base.DOUBLE else 0

    # Accumulator: [sum, count] (ksqlDB's STRUCT<SUM, COUNT>).
    def add(acc: list[Any], v: Any) -> list[Any]:
        if v is not None:
            acc[0], acc[1] = wrap(acc[0] + v), acc[1] + 1
        return acc

    def undo(acc: list[Any], v: Any) -> list[Any]:
        if v is not None:
            acc[0], acc[1] = wrap(acc[0] - v), acc[1] - 1
        return acc

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        return [wrap(a[0] + b[0]), a[1] + b[1]]

    def result(acc: list[Any]) -> float:
        return 0.0 if acc[1] == 0 else float(acc[0]) / acc[1]

    state = T.Struct((T.Field("SUM", t), T.Field("COUNT", T.BIGINT)))
    return Aggregator(T.DOUBLE, lambda: [zero, 0], add, undo, merge, result, state, "avg")


udaf(
    "AVG",
    "Returns the average value of the column computed as the sum divided by the count. "
    "Applicable only to numeric types.",
    *(UdafOverload([p], [], "DOUBLE", _avg) for p in ["INT", "BIGINT", "DOUBLE"]),
)


# ---------------------------------------------------------------------------- MIN / MAX


def _signed_bytes(b: bytes) -> bytes:
    """A key ordering bytes as Java's ByteBuffer.compareTo does (signed bytes)."""
    return bytes(x ^ 0x80 for x in b)


def sort_key(t: T.SqlType) -> Callable[[Any], Any] | None:
    """The ordering key of a comparable type's values, when Python's own order differs."""
    return _signed_bytes if t.base is T.Base.BYTES else None


def _extremum(pick: Callable[..., Any]) -> Callable[[Call], Aggregator]:
    def build(call: Call) -> Aggregator:
        key = sort_key(call.arg_types[0])

        def add(acc: Any, v: Any) -> Any:
            if v is None:
                return acc
            if acc is None:
                return v
            return pick(acc, v, key=key) if key else pick(acc, v)

        vector = "min" if pick is min else "max"
        return Aggregator(call.return_type, lambda: None, add, None, add, identity, vector=vector)

    return build


udaf(
    "MIN",
    "Computes the minimum value for a key.",
    *(UdafOverload([p], [], _same, _extremum(min)) for p in COMPARABLE),
)
udaf(
    "MAX",
    "Computes the maximum value for a key.",
    *(UdafOverload([p], [], _same, _extremum(max)) for p in COMPARABLE),
)
