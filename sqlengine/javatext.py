"""Java's text forms of numbers, as ksqlDB (a JVM program) prints them."""

from __future__ import annotations

import math
from decimal import Context
from decimal import Decimal as PyDecimal


def java_double_str(d: float) -> str:
    """Java's Double.toString: 1.0E10, 0.001, 1.0E-4, NaN, Infinity."""
    if d != d:
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0.0:
        return "-0.0" if math.copysign(1.0, d) < 0 else "0.0"
    a = abs(d)
    if 1e-3 <= a < 1e7:
        text = repr(d)
        if "e" in text:  # repr switches to exponent form only outside this range
            text = format(PyDecimal(text), "f")
        return text if "." in text else text + ".0"
    shortest = PyDecimal(repr(d))
    if len(shortest.as_tuple().digits) == 1:
        # Java prints two digits, picking the two-digit decimal nearest the exact binary
        # value: Double.MIN_VALUE is 4.9E-324, not 5.0E-324.
        shortest = PyDecimal(d).normalize(Context(prec=2))
    sign, digits, exp = shortest.as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    exponent = exp + len(digits) - 1
    mantissa = ds[0] + "." + (ds[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{exponent}"
