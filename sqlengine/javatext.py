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


def java_string_hash(text: str) -> int:
    """Java's String.hashCode, as an unsigned 32-bit value (over UTF-16 code units)."""
    h, units = 0, text.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i : i + 2], "big")) & 0xFFFFFFFF
    return h


def java_hash_map_order(keys: list[str], initial_capacity: int | None = None) -> list[str]:
    """The order a java.util.HashMap of these String keys, put in this order, iterates in:
    by bucket of the spread hash at the map's final capacity, then by insertion (a resize
    keeps a bucket's relative order). `initial_capacity`: as `new HashMap<>(n)` (rounded up
    to a power of two), else the default 16."""
    capacity = 16 if initial_capacity is None else 1 << max(initial_capacity - 1, 0).bit_length()
    while len(keys) > capacity * 3 // 4:
        capacity *= 2

    def bucket(key: str) -> int:
        h = java_string_hash(key)
        return (h ^ (h >> 16)) & (capacity - 1)

    return sorted(keys, key=bucket)
