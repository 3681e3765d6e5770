"""Higher-order functions taking lambdas (ksqlDB's LAMBDA category): TRANSFORM, FILTER, REDUCE.

Lambdas arrive as Python callables. Map results are built like Java's `Collectors.toMap`:
a NULL value or a duplicate key is an error (the whole expression becomes NULL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlengine.functions.registry import Overload, scalar

LAMBDA = "LAMBDA"


def _to_map(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for k, v in pairs:
        if v is None:
            raise ValueError(f"null value for key {k!r} in a lambda's map result")
        if k in out:
            raise ValueError(f"Duplicate key {k!r} in a lambda's map result")
        out[k] = v
    return out


def transform_array(array: list[Any], fn: Callable[[Any], Any]) -> list[Any]:
    return [fn(v) for v in array]


def transform_map(
    m: dict[Any, Any],
    key_fn: Callable[[Any, Any], Any],
    value_fn: Callable[[Any, Any], Any],
) -> dict[Any, Any]:
    return _to_map((key_fn(k, v), value_fn(k, v)) for k, v in m.items())


def filter_array(array: list[Any], predicate: Callable[[Any], Any]) -> list[Any]:
    # A NULL predicate result drops the element, like a NULL WHERE condition.
    return [v for v in array if predicate(v) is True]


def filter_map(m: dict[Any, Any], predicate: Callable[[Any, Any], Any]) -> dict[Any, Any]:
    return _to_map((k, v) for k, v in m.items() if predicate(k, v) is True)


def reduce_array(array: list[Any] | None, state: Any, fn: Callable[[Any, Any], Any]) -> Any:
    """Folds the array into the state; a NULL array returns the initial state."""
    if state is None:
        return None
    for v in array or ():
        state = fn(state, v)
    return state


def reduce_map(m: dict[Any, Any] | None, state: Any, fn: Callable[[Any, Any, Any], Any]) -> Any:
    if state is None:
        return None
    for k, v in (m or {}).items():
        state = fn(state, k, v)
    return state


scalar(
    "TRANSFORM",
    "Applies a lambda to each element of an array, or two lambdas to each key and value of a map.",
    Overload(["ARRAY<T>", "FUNC(T)->U"], "ARRAY<U>", transform_array),
    Overload(["MAP<K, V>", "FUNC(K,V)->A", "FUNC(K,V)->B"], "MAP<A, B>", transform_map),
    category=LAMBDA,
)
scalar(
    "FILTER",
    "Keeps the elements of an array, or the entries of a map, for which the lambda is true.",
    Overload(["ARRAY<T>", "FUNC(T)->BOOLEAN"], "ARRAY<T>", filter_array),
    Overload(["MAP<K, V>", "FUNC(K,V)->BOOLEAN"], "MAP<K, V>", filter_map),
    category=LAMBDA,
)
scalar(
    "REDUCE",
    "Folds an array or a map into a single value, starting from the initial state.",
    Overload(["ARRAY<T>", "S", "FUNC(S,T)->S"], "S", reduce_array, null_propagating=False),
    Overload(["MAP<K, V>", "S", "FUNC(S,K,V)->S"], "S", reduce_map, null_propagating=False),
    category=LAMBDA,
)
