"""Conditional functions: COALESCE, IFNULL, NULLIF (ksqlDB's CONDITIONAL category), and
AS_VALUE, the identity ksqlDB uses to copy a key column into the value.

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


def _conditional(name: str, description: str, overload: Overload) -> None:
    # ksqlDB declares these in upper case, and its messages show them so.
    scalar(name, description, overload, category=CONDITIONAL, declared_name=name)


_conditional(
    "COALESCE",
    "Returns the first non-null argument, or NULL when all arguments are NULL.",
    Overload(["T", "T..."], "T", coalesce, null_propagating=False),
)
_conditional(
    "IFNULL",
    "Returns the first argument unless it is NULL, in which case the second argument.",
    Overload(["T", "T"], "T", ifnull, null_propagating=False),
)
_conditional(
    "NULLIF",
    "Returns NULL if the two arguments are equal, otherwise the first argument.",
    Overload(["T", "T"], "T", nullif, null_propagating=False),
)
scalar(
    "AS_VALUE",
    "Used exclusively in the projection of a query to allow a primary key column to be "
    "copied into the value schema. Has no effect if used anywhere else.",
    Overload(["T"], "T", lambda value: value, null_propagating=False),
    category="OTHER",
    declared_name="AS_VALUE",
)
