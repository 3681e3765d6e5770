"""ksqlDB's table functions: EXPLODE and CUBE_EXPLODE."""

from __future__ import annotations

import itertools
from typing import Any

from sqlengine import types as T
from sqlengine.table_functions.registry import UdtfOverload, udtf


def _explode(values: list[Any]) -> list[Any]:
    return list(values)


def _cube(values: list[Any]) -> list[list[Any]]:
    """Every combination of the elements with some of them replaced by NULL, in the order
    ksqlDB gives them (the first element varies slowest); a NULL element has one choice."""
    choices = [[None] if v is None else [None, v] for v in values]
    return [list(combo) for combo in itertools.product(*choices)]


def _element_type(types: list[Any]) -> T.SqlType:
    array = types[0]
    assert isinstance(array, T.Array)
    return array.element


udtf(
    "EXPLODE",
    "Explodes an array. This function outputs one value for each element of the array.",
    UdtfOverload(["ARRAY<DECIMAL>"], _element_type, _explode, names=["input"]),
    UdtfOverload(["ARRAY<T>"], "T", _explode, names=["list"]),
)
udtf(
    "CUBE_EXPLODE",
    "Takes as argument a list of columns and outputs all possible combinations of them.",
    UdtfOverload(["ARRAY<T>"], "ARRAY<T>", _cube, names=["columns"]),
)
