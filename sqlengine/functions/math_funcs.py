"""Numeric functions (ksqlDB's MATHEMATICAL category) with Java's arithmetic semantics.

Doubles follow `java.lang.Math`: domain errors give NaN, overflow gives +-Infinity, division of
a non-zero value by zero gives Infinity. INT and BIGINT results wrap at 32/64 bits like Java.
Decimal functions compute in a wide context so DECIMAL(38+, s) values never lose digits.
"""

from __future__ import annotations

import decimal
import math
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlengine import types as T
from sqlengine.functions.registry import (
    ArgType,
    FunctionError,
    Overload,
    implicit_common_type,
    scalar,
)

MATH = "MATHEMATICAL"
_CTX = decimal.Context(prec=1000)  # wide enough that quantize never rounds integral digits
_INF = math.inf
_NAN = math.nan


def int32(v: int) -> int:
    """Java int overflow: wrap into [-2^31, 2^31)."""
    return (v + 2**31) % 2**32 - 2**31


def int64(v: int) -> int:
    """Java long overflow: wrap into [-2^63, 2^63)."""
    return (v + 2**63) % 2**64 - 2**63


def java_long(x: float) -> int:
    """Java's (long) cast of a double: truncates, saturates, NaN -> 0."""
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return 2**63 - 1 if x > 0 else -(2**63)
    return max(-(2**63), min(2**63 - 1, int(x)))


def java_round(x: float) -> int:
    """Java's Math.round(double): nearest long, ties toward positive infinity."""
    if not math.isfinite(x):
        return java_long(x)
    return java_long(float(math.floor(Decimal(x) + Decimal("0.5"))))


def _java_double(fn: Callable[..., float], overflow: Callable[..., float]) -> Callable[..., float]:
    """Wrap a math function: ValueError (domain) -> NaN, OverflowError -> `overflow(args)`."""

    def call(*args: float) -> float:
        try:
            return fn(*args)
        except ValueError:
            return _NAN
        except OverflowError:
            return overflow(*args)

    return call


def _signed_inf(x: float) -> float:
    return math.copysign(_INF, x)


def _ln(x: float) -> float:
    if x == 0:
        return -_INF
    if x < 0 or math.isnan(x):
        return _NAN
    return math.log(x)


def _pow(base: float, exp: float) -> float:
    odd_integer = math.isfinite(exp) and exp == math.floor(exp) and exp % 2 == 1
    try:
        return math.pow(base, exp)
    except ValueError:
        if base == 0:  # 0 ** negative
            return -_INF if odd_integer and math.copysign(1, base) < 0 else _INF
        return _NAN
    except OverflowError:
        return -_INF if base < 0 and odd_integer else _INF


def _cot(x: float) -> float:
    t = math.tan(x) if math.isfinite(x) else _NAN
    if t == 0:
        return math.copysign(_INF, t)
    return 1.0 / t


def _ceil(x: float) -> float:
    if not math.isfinite(x):
        return x
    r = float(math.ceil(x))
    return math.copysign(r, x) if r == 0 else r


def _to_radians(x: float) -> float:
    # Math.toRadians as in the JDK ksqlDB's expected outputs come from (divide, then multiply).
    return x / 180.0 * math.pi


def _to_degrees(x: float) -> float:
    return x * 180.0 / math.pi


def _floor(x: float) -> float:
    return x if not math.isfinite(x) else float(math.floor(x))


# ---------------------------------------------------------------------------- decimals


def _decimal_type(t: ArgType) -> T.Decimal:
    if isinstance(t, T.SqlType) and t.base in (T.Base.DECIMAL, T.Base.INTEGER, T.Base.BIGINT):
        return T.as_decimal(t)
    raise FunctionError(f"expected a DECIMAL argument, got {t}")


def _same_decimal(ts: list[ArgType]) -> T.SqlType:
    return _decimal_type(ts[0])


def _integral_decimal(ts: list[ArgType]) -> T.SqlType:
    """DECIMAL(p, s) -> DECIMAL(p - s, 0): the type of ROUND/TRUNC without decimal places."""
    d = _decimal_type(ts[0])
    return T.Decimal(max(d.precision - d.scale, 1), 0)


def _set_scale(v: Decimal, places: int, rounding: str) -> Decimal:
    return v.quantize(Decimal(1).scaleb(-places), rounding=rounding, context=_CTX)


def _round_mode(v: Decimal | float) -> str:
    # Math.round semantics: ties go up, i.e. away from zero above 0 and toward zero below.
    return decimal.ROUND_HALF_UP if v > 0 else decimal.ROUND_HALF_DOWN


def _keep_scale(result: Decimal, source: Decimal) -> Decimal:
    return result.quantize(Decimal(1).scaleb(source.as_tuple().exponent), context=_CTX)  # type: ignore[arg-type]


def _double_as_decimal(v: float) -> Decimal:
    """BigDecimal.valueOf(double): the shortest decimal string of the double."""
    if not math.isfinite(v):
        raise ValueError(f"Infinite or NaN: {v}")
    return Decimal(repr(v))


# ---------------------------------------------------------------------------- registration


def _unary_double(name: str, description: str, fn: Callable[[float], float]) -> None:
    scalar(name, description, Overload(["DOUBLE"], "DOUBLE", fn), category=MATH)


def _register_basics() -> None:
    scalar(
        "ABS",
        "Returns the absolute value of its argument.",
        Overload(["INT"], "INT", lambda v: int32(abs(v))),
        Overload(["BIGINT"], "BIGINT", lambda v: int64(abs(v))),
        Overload(["DOUBLE"], "DOUBLE", abs),
        Overload(["DECIMAL"], _same_decimal, abs),
        category=MATH,
    )
    for name, fn, dec_mode, verb in (
        ("CEIL", _ceil, decimal.ROUND_CEILING, "smallest integer greater than or equal to"),
        ("FLOOR", _floor, decimal.ROUND_FLOOR, "largest integer less than or equal to"),
    ):
        scalar(
            name,
            f"Returns the {verb} the specified numeric expression.",
            Overload(["INT"], "INT", _identity),
            Overload(["BIGINT"], "BIGINT", _identity),
            Overload(["DOUBLE"], "DOUBLE", fn),
            Overload(["DECIMAL"], _same_decimal, _decimal_integral(dec_mode)),
            category=MATH,
        )
    scalar(
        "ROUND",
        "Rounds a value to the given number of decimal places (default 0); "
        "ties round up, toward positive infinity.",
        Overload(["INT"], "BIGINT", _identity),
        Overload(["BIGINT"], "BIGINT", _identity),
        Overload(["DOUBLE"], "BIGINT", java_round),
        Overload(["DOUBLE", "INT"], "DOUBLE", _round_double_places),
        Overload(["DECIMAL"], _integral_decimal, lambda v: _set_scale(v, 0, _round_mode(v))),
        Overload(
            ["DECIMAL", "INT"],
            _same_decimal,
            lambda v, places: _keep_scale(_set_scale(v, places, _round_mode(v)), v),
        ),
        category=MATH,
    )
    scalar(
        "TRUNC",
        "Truncates a value toward zero to the given number of decimal places (default 0).",
        Overload(["INT"], "BIGINT", _identity),
        Overload(["BIGINT"], "BIGINT", _identity),
        Overload(["DOUBLE"], "BIGINT", java_long),
        Overload(
            ["DOUBLE", "INT"],
            "DOUBLE",
            lambda v, places: float(_set_scale(_double_as_decimal(v), places, decimal.ROUND_DOWN)),
        ),
        Overload(["DECIMAL"], _integral_decimal, lambda v: _set_scale(v, 0, decimal.ROUND_DOWN)),
        Overload(
            ["DECIMAL", "INT"],
            _same_decimal,
            lambda v, places: _keep_scale(_set_scale(v, places, decimal.ROUND_DOWN), v),
        ),
        category=MATH,
    )
    scalar(
        "SIGN",
        "Returns the sign of a numeric value as an INT: -1, 0 or 1.",
        Overload(["INT"], "INT", _int_sign),
        Overload(["BIGINT"], "INT", _int_sign),
        Overload(
            ["DOUBLE"], "INT", lambda v: 0 if v == 0 or math.isnan(v) else (1 if v > 0 else -1)
        ),
        category=MATH,
    )


def _identity(v: Any) -> Any:
    return v


def _int_sign(v: int) -> int:
    return (v > 0) - (v < 0)


def _decimal_integral(mode: str) -> Callable[[Decimal], Decimal]:
    return lambda v: _keep_scale(_set_scale(v, 0, mode), v)


def _round_double_places(v: float, places: int) -> float:
    d = _double_as_decimal(v)
    return float(_set_scale(d, places, _round_mode(d)))


def _register_transcendental() -> None:
    _unary_double(
        "SQRT", "Returns the square root of a value.", _java_double(math.sqrt, _signed_inf)
    )
    _unary_double("CBRT", "Returns the cube root of a value.", math.cbrt)
    _unary_double(
        "EXP",
        "Returns Euler's number e raised to the power of a value.",
        _java_double(math.exp, lambda x: _INF),
    )
    _unary_double("LN", "Returns the natural logarithm of a value.", _ln)
    scalar(
        "LOG",
        "Returns the natural logarithm of a value, or its logarithm in the given base.",
        Overload(["DOUBLE"], "DOUBLE", _ln),
        Overload(
            ["DOUBLE", "DOUBLE"],
            "DOUBLE",
            lambda base, v: _NAN if base <= 0 or base == 1 else _ln(v) / _ln(base),
        ),
        category=MATH,
    )
    scalar(
        "POWER",
        "Returns the base raised to the power of the exponent.",
        Overload(["DOUBLE", "DOUBLE"], "DOUBLE", _pow),
        category=MATH,
    )
    _unary_double("DEGREES", "Converts radians to degrees.", _to_degrees)
    _unary_double("RADIANS", "Converts degrees to radians.", _to_radians)
    scalar("PI", "Returns the value of pi.", Overload([], "DOUBLE", lambda: math.pi), category=MATH)
    scalar(
        "RANDOM",
        "Returns a random DOUBLE value between 0.0 (inclusive) and 1.0 (exclusive).",
        Overload([], "DOUBLE", random.random),
        category=MATH,
    )
    nan_outside = _java_double
    for name, fn, overflow in (
        ("SIN", math.sin, _signed_inf),
        ("COS", math.cos, _signed_inf),
        ("TAN", math.tan, _signed_inf),
        ("ASIN", math.asin, _signed_inf),
        ("ACOS", math.acos, _signed_inf),
        ("ATAN", math.atan, _signed_inf),
        ("SINH", math.sinh, _signed_inf),
        ("COSH", math.cosh, lambda x: _INF),
        ("TANH", math.tanh, _signed_inf),
    ):
        _unary_double(
            name, f"Returns the {name.lower()} of a value (radians).", nan_outside(fn, overflow)
        )
    _unary_double("COT", "Returns the cotangent of a value (radians).", _cot)
    scalar(
        "ATAN2",
        "Returns the angle theta of the polar coordinates of the cartesian point (x, y).",
        Overload(["DOUBLE", "DOUBLE"], "DOUBLE", math.atan2),
        category=MATH,
    )


# ---------------------------------------------------------------------------- GREATEST / LEAST

_COMPARABLE = frozenset(
    {
        T.Base.INTEGER,
        T.Base.BIGINT,
        T.Base.DOUBLE,
        T.Base.DECIMAL,
        T.Base.STRING,
        T.Base.BYTES,
        T.Base.DATE,
        T.Base.TIME,
        T.Base.TIMESTAMP,
    }
)


def _extreme_type(name: str) -> Callable[[list[ArgType]], T.SqlType]:
    """Return type of GREATEST/LEAST: the common type, rejecting what ksqlDB finds ambiguous."""

    def returns(ts: list[ArgType]) -> T.SqlType:
        typed = [t for t in ts if isinstance(t, T.SqlType)]
        shown = ", ".join("null" if t is None else _java_name(t) for t in ts)
        ambiguous = FunctionError(
            f"Function '{name.lower()}' cannot be resolved due to ambiguous method parameters "
            f"({shown})."
        )
        if not typed:
            raise ambiguous
        result: T.SqlType | None = typed[0]
        for t in typed[1:]:
            result = None if result is None else implicit_common_type(result, t)
        if result is None or result.base not in _COMPARABLE:
            raise FunctionError(f"Function '{name.lower()}' does not accept parameters ({shown}).")
        # STRING arguments parsed into a temporal overload's type take no part in the choice.
        bases = {t.base for t in typed if t.base is not T.Base.STRING or t == result}
        # ksqlDB has INT, BIGINT, DOUBLE and DECIMAL overloads: mixing integer types without a
        # DOUBLE matches several of them equally well.
        if result.base is not T.Base.DOUBLE and len(bases) > 1:
            raise ambiguous
        return result

    return returns


def _java_name(t: T.SqlType) -> str:
    return "INTEGER" if t.base is T.Base.INTEGER else str(t)


def _register_extremes() -> None:
    for name, pick, word in (("GREATEST", max, "highest"), ("LEAST", min, "lowest")):

        def impl(*vals: Any, pick: Callable[..., Any] = pick) -> Any:
            present = [v for v in vals if v is not None]
            return pick(present) if present else None

        scalar(
            name,
            f"Returns the {word} non-null value among a variable number of comparable columns.",
            Overload(["T", "T..."], _extreme_type(name), impl, null_propagating=False),
            category=MATH,
        )


# ---------------------------------------------------------------------------- GEO_DISTANCE

_EARTH_RADIUS = {"km": 6371.0, "mi": 3959.0}
_UNIT_NAMES = {
    **dict.fromkeys(("mi", "mile", "miles"), "mi"),
    **dict.fromkeys(("km", "kilometer", "kilometers", "kilometre", "kilometres"), "km"),
}


def geo_distance(
    lat1: float | None,
    lon1: float | None,
    lat2: float | None,
    lon2: float | None,
    units: str | None = None,
) -> float | None:
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    if not all(-90 <= v <= 90 for v in (lat1, lat2)):
        raise ValueError(
            "valid latitude values for GeoDistance function are in the range of -90 to 90 "
            "decimal degrees"
        )
    if not all(-180 <= v <= 180 for v in (lon1, lon2)):
        raise ValueError(
            "valid longitude values for GeoDistance function are in the range of -180 to +180 "
            "decimal degrees"
        )
    radius = _EARTH_RADIUS["km"]
    if units is not None and units.strip():
        unit = _UNIT_NAMES.get(units.strip().lower())
        if unit is None:
            raise ValueError(
                "GeoDistance function units parameter must be one of mi, mile, miles, km, "
                "kilometer, kilometers, kilometre or kilometres. Values are case-insensitive."
            )
        radius = _EARTH_RADIUS[unit]
    d_lat = _to_radians(lat2 - lat1)
    d_lon = _to_radians(lon2 - lon1)
    lat1_cos, lat2_cos = math.cos(_to_radians(lat1)), math.cos(_to_radians(lat2))
    a = math.sin(d_lat / 2) ** 2 + math.sin(d_lon / 2) ** 2 * lat1_cos * lat2_cos
    return 2 * math.asin(math.sqrt(a)) * radius


def _register_geo() -> None:
    scalar(
        "GEO_DISTANCE",
        "Computes the great-circle distance between two (lat, lon) points in decimal degrees, "
        "in kilometers or in the given unit ('KM' or 'MI').",
        Overload(["DOUBLE"] * 4, "DOUBLE", geo_distance),
        Overload(["DOUBLE"] * 4 + ["STRING"], "DOUBLE", geo_distance, null_propagating=False),
        category=MATH,
    )


_register_basics()
_register_transcendental()
_register_extremes()
_register_geo()
