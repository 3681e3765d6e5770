"""Map functions (ksqlDB's MAP category): MAP_KEYS, MAP_VALUES, MAP_UNION, AS_MAP.

ENTRIES (map -> array of structs) lives with the array functions.
"""

from __future__ import annotations

from typing import Any

from sqlengine.functions.registry import Overload, scalar

MAP = "MAP"


def map_union(left: dict[Any, Any] | None, right: dict[Any, Any] | None) -> dict[Any, Any] | None:
    """Entries of both maps; the second map's value wins for a shared key."""
    if left is None and right is None:
        return None
    return {**(left or {}), **(right or {})}


def as_map(keys: list[str], values: list[Any]) -> dict[str, Any]:
    """Pairs keys with values by position; keys beyond the values get NULL."""
    return {k: (values[i] if i < len(values) else None) for i, k in enumerate(keys)}


scalar(
    "MAP_KEYS",
    "Returns an array of the keys of a map.",
    Overload(["MAP<K, V>"], "ARRAY<K>", lambda m: list(m.keys())),
    category=MAP,
)
scalar(
    "MAP_VALUES",
    "Returns an array of the values of a map.",
    Overload(["MAP<K, V>"], "ARRAY<V>", lambda m: list(m.values())),
    category=MAP,
)
scalar(
    "MAP_UNION",
    "Merges two maps; on a shared key the second map's value wins. NULL maps are skipped.",
    Overload(["MAP<K, V>", "MAP<K, V>"], "MAP<K, V>", map_union, null_propagating=False),
    category=MAP,
)
scalar(
    "AS_MAP",
    "Builds a map from an array of keys and an array of values, paired by position.",
    Overload(["ARRAY<STRING>", "ARRAY<V>"], "MAP<STRING, V>", as_map),
    category=MAP,
)
