"""Conditional functions: COALESCE, IFNULL, NULLIF (ksqlDB's CONDITIONAL category).

All arguments convert to their common type (the generic `T`), so `COALESCE(int_col, 1.5)`
yields a DOUBLE. None of these propagate NULL: handling NULL is their purpose.
"""

from __future__ import annotations

from typing import Any

from sqlengine.functions.registry import Overload, scalar

CONDITIONAL = "CONDITIONAL"


def coalesce(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def ifnull(value: Any, alternative: Any) -> Any:
    return alternative if value is None else value


def nullif(value: Any, other: Any) -> Any:
    return None if value is not None and value == other else value


scalar(
    "COALESCE",
    "Returns the first non-null argument, or NULL when all arguments are NULL.",
    Overload(["T", "T..."], "T", coalesce, null_propagating=False),
    category=CONDITIONAL,
)
scalar(
    "IFNULL",
    "Returns the first argument unless it is NULL, in which case the second argument.",
    Overload(["T", "T"], "T", ifnull, null_propagating=False),
    category=CONDITIONAL,
)
scalar(
    "NULLIF",
    "Returns NULL if the two arguments are equal, otherwise the first argument.",
    Overload(["T", "T"], "T", nullif, null_propagating=False),
    category=CONDITIONAL,
)
