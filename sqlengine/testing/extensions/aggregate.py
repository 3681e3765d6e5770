"""ksqlDB's test-only aggregate functions (its test sources' TestUdaf and the variadic UDAFs),
loaded by the conformance runners as an extension directory, never by the product.

VAR_ARG, MID_VAR_ARG, MULTI_ARG, FOUR_ARG and FIVE_ARG sum their integer columns and the
lengths of their string columns onto an initial value: the sum of their integer literals and
the lengths of their string literals. GENERIC_VAR_ARG and OBJ_COL_ARG collect their first
column while no column is NULL. TEST_UDAF sums INT or BIGINT values, or STRUCT<A INT, B INT>
values field by field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlengine.udf import udaf


def _measure(values: Sequence[Any]) -> int:
    """Integers count as themselves, strings as their length, NULLs as nothing."""
    return sum(len(v) if isinstance(v, str) else v for v in values if v is not None)


class _Summing:
    def __init__(self, *literals: Any) -> None:
        self.start = _measure(literals)

    def initialize(self) -> int:
        return self.start

    def aggregate(self, total: int, *values: Any) -> int:
        return total + _measure(values)

    def merge(self, a: int, b: int) -> int:
        return a + b

    def map(self, total: int) -> int:
        return total


_SUMMING = [
    ("VAR_ARG", "a BIGINT column and variadic STRING columns", ["BIGINT", "STRING..."], []),
    (
        "MID_VAR_ARG",
        "variadic STRING columns between a BIGINT column and two INT literals",
        ["BIGINT", "STRING..."],
        ["INT", "INT"],
    ),
    (
        "MULTI_ARG",
        "two columns, an INT literal and variadic STRING literals",
        ["BIGINT", "STRING"],
        ["INT", "STRING..."],
    ),
    (
        "FOUR_ARG",
        "four columns, an INT literal and variadic STRING literals",
        ["BIGINT", "STRING", "STRING", "STRING"],
        ["INT", "STRING..."],
    ),
    (
        "FIVE_ARG",
        "five columns, an INT literal and variadic STRING literals",
        ["BIGINT", "STRING", "STRING", "STRING", "INT"],
        ["INT", "STRING..."],
    ),
]
for _name, _description, _columns, _literals in _SUMMING:
    udaf(
        _name,
        description=f"Test UDAF: {_description}.",
        params=_columns,
        init_params=_literals,
        returns="BIGINT",
    )(_Summing)


class _CollectComplete:
    def initialize(self) -> list[Any]:
        return []

    def aggregate(self, collected: list[Any], *values: Any) -> list[Any]:
        if all(v is not None for v in values):
            return [*collected, values[0]]
        return collected

    def merge(self, a: list[Any], b: list[Any]) -> list[Any]:
        return a + b

    def map(self, collected: list[Any]) -> list[Any]:
        return collected


udaf(
    "GENERIC_VAR_ARG",
    description="Test UDAF: collects its first column while no column is NULL.",
    params=["T", "INT", "U..."],
    returns="ARRAY<T>",
)(_CollectComplete)
udaf(
    "OBJ_COL_ARG",
    description="Test UDAF: collects its INT column while none of the other columns is NULL.",
    params=["INT", "ANY..."],
    returns="ARRAY<INT>",
)(_CollectComplete)


def _wrapping(bits: int) -> Any:
    """Java's integer overflow for a sum of `bits`-bit integers."""
    half = 1 << (bits - 1)

    def wrap(value: int) -> int:
        return (value + half) % (1 << bits) - half

    return wrap


class _Sum:
    """TEST_UDAF over INT (BIGINT overload: subclass with 64 bits); NULLs are skipped."""

    wrap = staticmethod(_wrapping(32))

    def initialize(self) -> int:
        return 0

    def aggregate(self, total: int, value: int | None) -> int:
        return total if value is None else self.wrap(total + value)

    def undo(self, total: int, value: int | None) -> int:
        return total if value is None else self.wrap(total - value)

    def merge(self, a: int, b: int) -> int:
        return self.wrap(a + b)

    def map(self, total: int) -> int:
        return total


class _LongSum(_Sum):
    wrap = staticmethod(_wrapping(64))


class _StructSum:
    """TEST_UDAF over STRUCT<A INT, B INT>: field by field; NULL structs and fields skipped."""

    def initialize(self) -> dict[str, int] | None:
        return None

    def _combine(self, a: dict[str, Any] | None, b: dict[str, Any] | None, sign: int) -> Any:
        if b is None:
            return a
        if a is None:
            return dict(b)
        return {n: (a[n] or 0) + sign * (b[n] or 0) for n in a}

    def aggregate(self, total: Any, value: Any) -> Any:
        return self._combine(total, value, 1)

    def undo(self, total: Any, value: Any) -> Any:
        return self._combine(total, value, -1)

    def merge(self, a: Any, b: Any) -> Any:
        return self._combine(a, b, 1)

    def map(self, total: Any) -> Any:
        return total


_TEST_UDAF = "Test UDAF: sums INT or BIGINT values, or STRUCT<A INT, B INT> values field by field."
udaf("TEST_UDAF", description=_TEST_UDAF, params=["INT"], returns="INT")(_Sum)
udaf("TEST_UDAF", description=_TEST_UDAF, params=["BIGINT"], returns="BIGINT")(_LongSum)
udaf("TEST_UDAF", description=_TEST_UDAF, params=["STRUCT"], returns=lambda types: types[0])(
    _StructSum
)
