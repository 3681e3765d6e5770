"""STDDEV_SAMP, STDDEV_SAMPLE, CORRELATION: ksqlDB's statistical aggregates.

The arithmetic follows ksqlDB's UDAFs step by step (Youngs-Cramer updates, Java int/long
wrapping, integer division where ksqlDB divides longs) so results agree to the last bit.
ksqlDB's STDDEV_SAMP returns the sample *variance* (no square root); STDDEV_SAMPLE returns
the standard deviation. Both are kept as ksqlDB ships them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sqlengine import types as T
from sqlengine.aggregates.core import (
    Aggregator,
    Call,
    UdafOverload,
    java_div,
    udaf,
    wrap64,
    wrapper_for,
)


def java_divide(a: float, b: float) -> float:
    """Floating-point division as Java does it: x/0 is ±Infinity or NaN, never an error."""
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def java_sqrt(x: float) -> float:
    return math.nan if x < 0 or math.isnan(x) else math.sqrt(x)


# ---------------------------------------------------------------------------- STDDEV


def _stddev(take_root: bool, integer_mean_in_merge: bool) -> Callable[[Call], Aggregator]:
    def build(call: Call) -> Aggregator:
        t = call.arg_types[0]
        wrap = wrapper_for(t)
        floating = t.base is T.Base.DOUBLE

        # Accumulator: [sum, count, m2] (ksqlDB's STRUCT<SUM, COUNT, M2>).
        def delta(acc: list[Any], v: Any) -> float:
            s, n = acc[0], acc[1]
            if floating:
                return v * (n + 1) - (s + v)
            return float(wrap64(v * (n + 1) - wrap(s + v)))

        def add(acc: list[Any], v: Any) -> list[Any]:
            if v is None:
                return acc
            n = acc[1] + 1
            m2 = delta(acc, v) ** 2 / (n * (n - 1)) if n > 1 else 0.0
            return [wrap(acc[0] + v), n, m2 + acc[2]]

        def undo(acc: list[Any], v: Any) -> list[Any]:
            if v is None:
                return acc
            n = acc[1] - 1
            m2 = delta(acc, v) ** 2 / (n * (n + 1)) if n > 0 else 0.0
            return [wrap(acc[0] - v), n, acc[2] - m2]

        def mean_gap(a: list[Any], b: list[Any]) -> float:
            if floating:
                return a[0] / a[1] - b[0] / b[1]
            if integer_mean_in_merge:
                return float(java_div(a[0], a[1]) - java_div(b[0], b[1]))
            return float(a[0]) / a[1] - float(b[0]) / b[1]

        def merge(a: list[Any], b: list[Any]) -> list[Any]:
            n = a[1] + b[1]
            m2 = a[2] + b[2]
            if a[1] and b[1]:
                gap = mean_gap(a, b)
                m2 += a[1] * b[1] * gap * gap / n
            return [wrap(a[0] + b[0]), n, m2]

        def result(acc: list[Any]) -> float:
            if acc[1] < 2:
                return 0.0
            variance = acc[2] / (acc[1] - 1)
            return java_sqrt(variance) if take_root else variance

        zero: Any = 0.0 if floating else 0
        state = T.Struct((T.Field("SUM", t), T.Field("COUNT", T.BIGINT), T.Field("M2", T.DOUBLE)))
        return Aggregator(T.DOUBLE, lambda: [zero, 0, 0.0], add, undo, merge, result, state)

    return build


STDDEV_TYPES = ["INT", "BIGINT", "DOUBLE"]

udaf(
    "STDDEV_SAMP",
    "Returns the sample standard deviation of the column. Applicable only to numeric types. "
    "(As in ksqlDB, the value returned is the sample variance.)",
    *(UdafOverload([p], [], "DOUBLE", _stddev(False, True)) for p in STDDEV_TYPES),
)
udaf(
    "STDDEV_SAMPLE",
    "Returns the sample standard deviation of the column. Applicable only to numeric types.",
    *(UdafOverload([p], [], "DOUBLE", _stddev(True, False)) for p in STDDEV_TYPES),
)


# ---------------------------------------------------------------------------- CORRELATION


def _correlation(call: Call) -> Aggregator:
    # Accumulator: [x_sum, y_sum, x_squared_sum, y_squared_sum, xy_sum, count].
    def step(acc: list[Any], pair: tuple[Any, Any], sign: int) -> list[Any]:
        x, y = pair
        if x is None or y is None:
            return acc
        if sign > 0:
            return [
                acc[0] + x,
                acc[1] + y,
                acc[2] + x * x,
                acc[3] + y * y,
                acc[4] + x * y,
                acc[5] + 1,
            ]
        return [acc[0] - x, acc[1] - y, acc[2] - x * x, acc[3] - y * y, acc[4] - x * y, acc[5] - 1]

    def merge(a: list[Any], b: list[Any]) -> list[Any]:
        return [p + q for p, q in zip(a, b, strict=True)]

    def result(acc: list[Any]) -> float:
        sx, sy, sxx, syy, sxy, n = acc
        numerator = n * sxy - sx * sy
        denominator = java_sqrt((n * sxx - sx * sx) * (n * syy - sy * sy))
        return java_divide(numerator, denominator)

    state = T.Struct(
        tuple(
            T.Field(name, T.DOUBLE)
            for name in ("X_SUM", "Y_SUM", "X_SQUARED_SUM", "Y_SQUARED_SUM", "XY_SUM")
        )
        + (T.Field("COUNT", T.BIGINT),)
    )
    return Aggregator(
        T.DOUBLE,
        lambda: [0.0, 0.0, 0.0, 0.0, 0.0, 0],
        lambda acc, pair: step(acc, pair, 1),
        lambda acc, pair: step(acc, pair, -1),
        merge,
        result,
        state,
    )


udaf(
    "CORRELATION",
    "Computes the Pearson correlation coefficient between two columns of data.",
    UdafOverload(["DOUBLE", "DOUBLE"], [], "DOUBLE", _correlation),
)
