"""Java's text forms of numbers, as ksqlDB (a JVM program) prints them."""

from __future__ import annotations

import math
import re
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


_LONG_TEXT = re.compile(r"[+-]?[0-9]+\Z")
_DOUBLE_TEXT = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)\Z"
)


def parse_java_long(text: str, bits: int, trim: bool = False) -> int:
    """Integer.parseInt / Long.parseLong (`bits` 32 or 64): optional sign and digits only,
    in range, else ValueError in Java's words. `trim`: surrounding blanks allowed, as
    ksqlDB's CAST allows them."""
    s = text.strip() if trim else text
    if not _LONG_TEXT.match(s):
        raise ValueError(f'For input string: "{text}"')
    i = int(s)
    if not -(1 << (bits - 1)) <= i < (1 << (bits - 1)):
        raise ValueError(f'For input string: "{text}"')
    return i


def parse_java_double(text: str) -> float:
    """Double.parseDouble: surrounding whitespace ignored, Java's spellings of NaN/Infinity."""
    s = text.strip()
    if not _DOUBLE_TEXT.match(s):
        raise ValueError(f'For input string: "{text}"')
    return float(s.rstrip("fFdD").replace("Infinity", "inf"))
