"""TOPK, TOPKDISTINCT, EARLIEST_BY_OFFSET, LATEST_BY_OFFSET: aggregates over an order.

EARLIEST/LATEST_BY_OFFSET keep ksqlDB's intermediate state, a (SEQ, VAL) pair per kept value:
the aggregation operator feeds values in offset order, and the sequence number orders values
of different session windows when they merge. Sequence numbers start from the wall clock in
nanoseconds at import, so numbers drawn after a restart still order after restored ones.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from sqlengine import types as T
from sqlengine.aggregates.arithmetic import COMPARABLE, sort_key
from sqlengine.aggregates.core import AggregateError, Aggregator, Call, UdafOverload, udaf

_sequence = itertools.count(time.time_ns())


def _fresh_list() -> list[Any]:
    return []


def _positive(call: Call, what: str) -> int:
    n = call.init_args[0]
    if n is None or n < 1:
        raise AggregateError(f"{what} must be 1 or greater")
    return int(n)


# ---------------------------------------------------------------------------- TOPK


def _topk_type(ts: list[T.SqlType]) -> T.SqlType:
    """ARRAY<T>; with extra columns, ARRAY<STRUCT<sort_col T, col0 ..., col1 ...>>."""
    if len(ts) == 1:
        return T.Array(ts[0])
    fields = [T.Field("sort_col", ts[0])]
    fields += [T.Field(f"col{i}", t) for i, t in enumerate(ts[1:])]
    return T.Array(T.Struct(tuple(fields)))


def _topk(call: Call) -> Aggregator:
    k = _positive(call, "k")
    order = sort_key(call.arg_types[0])
    with_columns = len(call.arg_types) > 1

    def key(entry: Any) -> Any:
        v = entry[0] if with_columns else entry
        return order(v) if order else v

    def add(acc: list[Any], values: tuple[Any, ...]) -> list[Any]:
        if values[0] is None:
            return acc
        entry = list(values) if with_columns else values[0]
        if len(acc) == k:
            if key(entry) <= key(acc[-1]):
                return acc
            acc[-1] = entry
        else:
            acc.append(entry)
        acc.sort(key=key, reverse=True)  # stable: ties keep arrival order, as in Java
        return acc

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        merged: list[Any] = []
        i = j = 0
        while len(merged) < k and (i < len(a) or j < len(b)):
            if j >= len(b) or (i < len(a) and key(a[i]) >= key(b[j])):
                merged.append(a[i])
                i += 1
            else:
                merged.append(b[j])
                j += 1
        return merged

    result: Callable[[Any], Any] = list
    if with_columns:
        names = ["sort_col", *(f"col{i}" for i in range(len(call.arg_types) - 1))]

        def result(acc: list[Any]) -> list[dict[str, Any]]:
            return [dict(zip(names, entry, strict=True)) for entry in acc]

    return Aggregator(call.return_type, _fresh_list, add, None, merge, result)


udaf(
    "TOPK",
    "Computes the top k values for a column, per key; with further columns, the top k rows "
    "ordered by the first column, as structs.",
    *(UdafOverload([p, "ANY..."], ["INT"], _topk_type, _topk) for p in COMPARABLE),
    tuple_args=True,
)


def _topk_distinct(call: Call) -> Aggregator:
    k = _positive(call, "k")
    order = sort_key(call.arg_types[0])

    def key(v: Any) -> Any:
        return order(v) if order else v

    def add(acc: list[Any], v: Any) -> list[Any]:
        if v is None or (len(acc) == k and key(v) <= key(acc[-1])) or v in acc:
            return acc
        if len(acc) == k:
            acc[-1] = v
        else:
            acc.append(v)
        acc.sort(key=key, reverse=True)
        return acc

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        merged: list[Any] = []
        i = j = 0
        while len(merged) < k and (i < len(a) or j < len(b)):
            x = a[i] if i < len(a) else None
            y = b[j] if j < len(b) else None
            if y is None or (x is not None and key(x) > key(y)):
                merged.append(x)
                i += 1
            elif x is None or key(y) > key(x):
                merged.append(y)
                j += 1
            else:
                merged.append(x)
                i, j = i + 1, j + 1
        return merged

    return Aggregator(call.return_type, _fresh_list, add, None, merge, list)


udaf(
    "TOPKDISTINCT",
    "Calculates the top k distinct values for a column, per key.",
    # The return type from the column's type (ARRAY<DECIMAL(p, s)> keeps its precision).
    *(UdafOverload([p], ["INT"], _topk_type, _topk_distinct) for p in COMPARABLE),
)


# ---------------------------------------------------------------------------- by offset


def _by_offset_state(t: T.SqlType) -> T.SqlType:
    return T.Struct((T.Field("SEQ", T.BIGINT), T.Field("VAL", t)))


def _values(acc: list[tuple[int, Any]]) -> list[Any]:
    return [v for _, v in acc]


def _one(acc: tuple[int, Any] | None) -> Any:
    return None if acc is None else acc[1]


def _later(a: tuple[int, Any] | None, b: tuple[int, Any] | None) -> tuple[int, Any] | None:
    if a is None or b is None:
        return a if b is None else b
    return a if a[0] >= b[0] else b


def _earlier(a: tuple[int, Any] | None, b: tuple[int, Any] | None) -> tuple[int, Any] | None:
    if a is None or b is None:
        return a if b is None else b
    return a if a[0] < b[0] else b


def _by_offset(latest: bool, many: bool) -> Callable[[Call], Aggregator]:
    def build(call: Call) -> Aggregator:
        t = call.arg_types[0]
        ignore_nulls = bool(call.init_args[-1]) if len(call.init_args) > int(many) else True
        state = _by_offset_state(t)
        if not many:
            return Aggregator(
                t,
                lambda: None,
                _latest_one(ignore_nulls) if latest else _earliest_one(ignore_nulls),
                None,
                _later if latest else _earlier,
                _one,
                state,
            )
        n = _positive(call, "earliestN")

        def add(acc: list[tuple[int, Any]], v: Any) -> list[tuple[int, Any]]:
            if v is None and ignore_nulls:
                return acc
            if latest:
                acc.append((next(_sequence), v))
                del acc[:-n]
            elif len(acc) < n:
                acc.append((next(_sequence), v))
            return acc

        def merge(a: list[tuple[int, Any]], b: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
            merged = sorted(a + b, key=lambda entry: entry[0])
            return merged[-n:] if latest else merged[:n]

        return Aggregator(T.Array(t), _fresh_list, add, None, merge, _values, T.Array(state))

    return build


def _earliest_one(ignore_nulls: bool) -> Callable[[Any, Any], Any]:
    def add(acc: tuple[int, Any] | None, v: Any) -> tuple[int, Any] | None:
        if acc is not None or (v is None and ignore_nulls):
            return acc
        return (next(_sequence), v)

    return add


def _latest_one(ignore_nulls: bool) -> Callable[[Any, Any], Any]:
    def add(acc: tuple[int, Any] | None, v: Any) -> tuple[int, Any] | None:
        if v is None and ignore_nulls:
            return acc
        return (next(_sequence), v)

    return add


def _offset_overloads(latest: bool) -> list[UdafOverload]:
    word = "latest" if latest else "earliest"
    return [
        UdafOverload(["T"], [], "T", _by_offset(latest, False), f"The {word} non-NULL value."),
        UdafOverload(
            ["T"],
            ["BOOLEAN"],
            "T",
            _by_offset(latest, False),
            f"The {word} value; the flag says whether NULLs are ignored.",
        ),
        UdafOverload(
            ["T"], ["INT"], "ARRAY<T>", _by_offset(latest, True), f"The {word} N non-NULL values."
        ),
        UdafOverload(
            ["T"],
            ["INT", "BOOLEAN"],
            "ARRAY<T>",
            _by_offset(latest, True),
            f"The {word} N values; the flag says whether NULLs are ignored.",
        ),
    ]


udaf(
    "EARLIEST_BY_OFFSET",
    "This function returns the oldest N values for the column, computed by offset.",
    *_offset_overloads(latest=False),
)
udaf(
    "LATEST_BY_OFFSET",
    "This function returns the most recent N values for the column, computed by offset.",
    *_offset_overloads(latest=True),
)
