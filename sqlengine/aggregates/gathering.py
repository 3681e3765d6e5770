"""COLLECT_LIST, COLLECT_SET, HISTOGRAM, ATTR: aggregates that gather values.

Values compare with Python equality, which matches Java's equals for ksqlDB's value forms
(maps and structs compare by content, whatever their field order).
"""

from __future__ import annotations

from typing import Any

from sqlengine import types as T
from sqlengine.aggregates.core import Aggregator, Call, UdafOverload, limit_config, udaf

LIST_LIMIT = "ksql.functions.collect_list.limit"
SET_LIMIT = "ksql.functions.collect_set.limit"
HISTOGRAM_LIMIT = 1000


def _fresh_list() -> list[Any]:
    return []


def _collect_list(call: Call) -> Aggregator:
    limit = limit_config(call.config, LIST_LIMIT)

    def add(acc: list[Any], v: Any) -> list[Any]:
        if limit is None or len(acc) < limit:
            acc.append(v)
        return acc

    def undo(acc: list[Any], v: Any) -> list[Any]:
        # ksqlDB removes the last occurrence; absent means it was beyond the limit.
        for i in range(len(acc) - 1, -1, -1):
            if acc[i] == v:
                del acc[i]
                break
        return acc

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        room = len(b) if limit is None else max(0, limit - len(a))
        return a + b[:room]

    return Aggregator(call.return_type, _fresh_list, add, undo, merge, list)


udaf(
    "COLLECT_LIST",
    "Gather all of the values from an input grouping into a single Array field. The size "
    f"can be limited by setting {LIST_LIMIT}.",
    UdafOverload(["T"], [], "ARRAY<T>", _collect_list),
)


def _collect_set(call: Call) -> Aggregator:
    limit = limit_config(call.config, SET_LIMIT)

    def add(acc: list[Any], v: Any) -> list[Any]:
        if (limit is None or len(acc) < limit) and v not in acc:
            acc.append(v)
        return acc

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        for v in b:
            if len(a) == limit:
                break
            if v not in a:
                a.append(v)
        return a

    return Aggregator(call.return_type, _fresh_list, add, None, merge, list)


udaf(
    "COLLECT_SET",
    "Gather all of the distinct values from an input grouping into a single Array. Not "
    f"available for table sources. The size can be limited by setting {SET_LIMIT}.",
    UdafOverload(["T"], [], "ARRAY<T>", _collect_set),
)


def _histogram(call: Call) -> Aggregator:
    def add(acc: dict[str, int], v: str | None) -> dict[str, int]:
        if v is not None and (len(acc) < HISTOGRAM_LIMIT or v in acc):
            acc[v] = acc.get(v, 0) + 1
        return acc

    def undo(acc: dict[str, int], v: str | None) -> dict[str, int]:
        if v is not None and v in acc:
            if acc[v] > 1:
                acc[v] -= 1
            else:
                del acc[v]
        return acc

    def merge(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
        for k, n in b.items():
            if len(a) < HISTOGRAM_LIMIT or k in a:
                a[k] = a.get(k, 0) + n
        return a

    return Aggregator(call.return_type, dict, add, undo, merge, dict)


udaf(
    "HISTOGRAM",
    "Returns a map of each distinct String from the input Stream or Table and how many times "
    f"each occurs. The map is limited to {HISTOGRAM_LIMIT} entries; further values are ignored.",
    UdafOverload(["STRING"], [], "MAP<STRING, BIGINT>", _histogram),
)


def _attr(call: Call) -> Aggregator:
    # Accumulator: [[value, count], ...]; NULL is a value like any other.
    def update(acc: list[list[Any]], v: Any, n: int) -> list[list[Any]]:
        found = False
        for entry in acc:
            if entry[0] == v:
                found = True
                entry[1] = max(0, entry[1] + n)
        if not found and n > 0:
            acc.append([v, n])
        return acc

    def merge(a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
        for v, n in b:
            update(a, v, n)
        return a

    def result(acc: list[list[Any]]) -> Any:
        present = [entry[0] for entry in acc if entry[1] > 0]
        return present[0] if len(present) == 1 else None

    state = T.Array(T.Struct((T.Field("VALUE", call.return_type), T.Field("COUNT", T.INTEGER))))
    return Aggregator(
        call.return_type,
        _fresh_list,
        lambda acc, v: update(acc, v, 1),
        lambda acc, v: update(acc, v, -1),
        merge,
        result,
        state,
    )


udaf(
    "ATTR",
    "Returns the single value a column takes in a group; NULL if it takes more than one.",
    UdafOverload(["T"], [], "T", _attr),
)
