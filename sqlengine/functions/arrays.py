"""Array functions (ksqlDB's ARRAY category).

Set-like functions (ARRAY_DISTINCT, _EXCEPT, _INTERSECT, _UNION) keep the first occurrence of
each element in input order and treat NULL as a value. Elements may be arrays, maps or structs,
so membership is by equality on a hashable copy, never on the Python object identity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from sqlengine import types as T
from sqlengine.functions.registry import ArgType, FunctionError, Overload, scalar
from sqlengine.javatext import java_double_str

ARRAY = "ARRAY"


def _frozen(v: Any) -> Any:
    """A hashable stand-in for a value with the same equality (lists, dicts, NaN)."""
    if isinstance(v, list):
        return ("list", tuple(_frozen(x) for x in v))
    if isinstance(v, dict):
        return ("dict", frozenset((k, _frozen(x)) for k, x in v.items()))
    if isinstance(v, float) and math.isnan(v):
        return ("nan",)  # Java's Double.equals: NaN equals NaN
    return v


def distinct(items: Iterable[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in items:
        key = _frozen(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _sort_key(v: Any) -> Any:
    # Java's Double.compareTo puts NaN above every other value.
    if isinstance(v, float):
        return (math.isnan(v), 0.0 if math.isnan(v) else v)
    return v


def java_string(v: Any) -> str:
    """Java's String.valueOf for the primitive value forms (Boolean, numbers, String)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return java_double_str(v)
    return str(v)  # int, str and Decimal (str(Decimal) matches BigDecimal.toString)


# ---------------------------------------------------------------------------- implementations


def array_contains(array: list[Any] | None, value: Any) -> bool:
    if array is None:
        return False
    key = _frozen(value)
    return any(_frozen(v) == key for v in array)


def array_except(left: list[Any], right: list[Any]) -> list[Any]:
    exclude = {_frozen(v) for v in right}
    return [v for v in distinct(left) if _frozen(v) not in exclude]


def array_intersect(left: list[Any], right: list[Any]) -> list[Any]:
    keep = {_frozen(v) for v in right}
    return [v for v in distinct(left) if _frozen(v) in keep]


def array_concat(left: list[Any] | None, right: list[Any] | None) -> list[Any] | None:
    if left is None and right is None:
        return None
    return [*(left or []), *(right or [])]


def array_remove(array: list[Any] | None, victim: Any) -> list[Any] | None:
    if array is None:
        return None
    key = _frozen(victim)
    return [v for v in array if _frozen(v) != key]


def array_join(array: list[Any] | None, delimiter: str | None = ",") -> str | None:
    if array is None:
        return None
    for v in array:
        if isinstance(v, (list, dict, bytes)):
            raise ValueError(
                f"error: hit element of type {type(v).__name__} which is currently not supported"
            )
    return ("" if delimiter is None else delimiter).join(java_string(v) for v in array)


def _extreme(pick: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    def impl(array: list[Any]) -> Any:
        present = [v for v in array if v is not None]
        return pick(present, key=_sort_key) if present else None

    return impl


def array_sort(array: list[Any] | None, direction: str | None = "ASC") -> list[Any] | None:
    if array is None or direction is None:
        return None
    order = direction.upper()
    if order not in ("ASC", "DESC"):
        return None
    present = sorted((v for v in array if v is not None), key=_sort_key, reverse=order == "DESC")
    return present + [None] * (len(array) - len(present))  # nulls last either way


def slice_array(array: list[Any] | None, start: int | None, end: int | None) -> list[Any] | None:
    """1-based, inclusive of `end`; out-of-range bounds give NULL (Java's subList)."""
    if array is None:
        return None
    lo = 0 if start is None else start - 1
    hi = len(array) if end is None else end
    if lo < 0 or hi > len(array):
        return None
    if lo > hi:
        raise ValueError(f"fromIndex({lo}) > toIndex({hi})")
    return array[lo:hi]


def generate_series(start: int, end: int, step: int | None = None) -> list[int]:
    if step is None:
        step = 1 if end - start > 0 else -1
    if step == 0:
        raise ValueError("GENERATE_SERIES step cannot be zero")
    diff = end - start
    if (diff > 0 and step < 0) or (diff < 0 and step > 0):
        raise ValueError("GENERATE_SERIES step has wrong sign")
    size = 1 + int(diff / step)
    return [start + i * step for i in range(size)]


def _entry_type(ts: list[ArgType]) -> T.SqlType:
    m = ts[0]
    if not isinstance(m, T.Map) or m.key != T.STRING:
        raise FunctionError("ENTRIES expects a MAP with STRING keys")
    return T.Array(T.Struct((T.Field("K", T.STRING), T.Field("V", m.value))))


def entries(m: dict[str, Any], sort: bool) -> list[dict[str, Any]]:
    items = sorted(m.items(), key=lambda kv: kv[0]) if sort else list(m.items())
    return [{"K": k, "V": v} for k, v in items]


# ---------------------------------------------------------------------------- registration


def _register(name: str, description: str, *overloads: Overload) -> None:
    scalar(name, description, *overloads, category=ARRAY)


_register(
    "ARRAY_CONTAINS",
    "Returns true if the array contains the value (false for a NULL array).",
    Overload(["ARRAY<T>", "T"], "BOOLEAN", array_contains, null_propagating=False),
)
_register(
    "ARRAY_DISTINCT",
    "Returns the distinct elements of an array, in order of first occurrence.",
    Overload(["ARRAY<T>"], "ARRAY<T>", distinct),
)
_register(
    "ARRAY_EXCEPT",
    "Returns the distinct elements of the first array that are not in the second.",
    Overload(["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", array_except),
)
_register(
    "ARRAY_INTERSECT",
    "Returns the distinct elements present in both arrays.",
    Overload(["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", array_intersect),
)
_register(
    "ARRAY_UNION",
    "Returns the distinct elements present in either array.",
    Overload(["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", lambda a, b: distinct([*a, *b])),
)
_register(
    "ARRAY_CONCAT",
    "Concatenates two arrays; a NULL array counts as empty unless both are NULL.",
    Overload(["ARRAY<T>", "ARRAY<T>"], "ARRAY<T>", array_concat, null_propagating=False),
)
_register(
    "ARRAY_REMOVE",
    "Removes every element equal to the given value (NULL removes NULL elements).",
    Overload(["ARRAY<T>", "T"], "ARRAY<T>", array_remove, null_propagating=False),
)
_register(
    "ARRAY_JOIN",
    "Joins the array's primitive elements into a string, with ',' or the given delimiter.",
    Overload(["ARRAY<T>"], "STRING", array_join),
    Overload(["ARRAY<T>", "STRING"], "STRING", array_join, null_propagating=False),
)
_register(
    "ARRAY_LENGTH",
    "Returns the number of elements in an array.",
    Overload(["ARRAY<T>"], "INT", len),
)
_register(
    "ARRAY_MAX",
    "Returns the largest non-null element of an array, NULL if there is none.",
    Overload(["ARRAY<T>"], "T", _extreme(max)),
)
_register(
    "ARRAY_MIN",
    "Returns the smallest non-null element of an array, NULL if there is none.",
    Overload(["ARRAY<T>"], "T", _extreme(min)),
)
_register(
    "ARRAY_SORT",
    "Sorts an array ascending, or in the given direction ('ASC' or 'DESC'); NULLs go last.",
    Overload(["ARRAY<T>"], "ARRAY<T>", array_sort),
    Overload(["ARRAY<T>", "STRING"], "ARRAY<T>", array_sort, null_propagating=False),
)
_register(
    "SLICE",
    "Returns the elements from a 1-based start index to an end index, both inclusive.",
    Overload(["ARRAY<T>", "INT", "INT"], "ARRAY<T>", slice_array, null_propagating=False),
)
_register(
    "GENERATE_SERIES",
    "Returns an array of values from start to end inclusive, by 1, -1 or the given step.",
    Overload(["INT", "INT"], "ARRAY<INT>", generate_series),
    Overload(["INT", "INT", "INT"], "ARRAY<INT>", generate_series),
    Overload(["BIGINT", "BIGINT"], "ARRAY<BIGINT>", generate_series),
    Overload(["BIGINT", "BIGINT", "INT"], "ARRAY<BIGINT>", generate_series),
)
scalar(
    "ENTRIES",
    "Returns a map's entries as an array of STRUCT<K, V>, optionally sorted by key.",
    Overload(["MAP<STRING, V>", "BOOLEAN"], _entry_type, entries),
    category="MAP",
)
