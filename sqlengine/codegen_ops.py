"""Runtime semantics that compiled expressions call: Java integer and floating arithmetic,
DECIMAL rounding, ksqlDB's CAST conversions, temporal parsing/printing and LIKE patterns.

Everything here is a plain function of Python values (see sqlengine.types for the forms);
sqlengine.codegen binds these into generated code as constants.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import (
    ROUND_HALF_UP,
    Context,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from decimal import Decimal as PyDecimal
from typing import Any

from sqlengine import types as T
from sqlengine.javatext import java_double_str, parse_java_double, parse_java_long

# All DECIMAL arithmetic runs in this context: wide enough to be exact before rounding to
# the result scale, HALF_UP like ksqlDB, and raising on x/0 (which becomes NULL + log).
DCTX = Context(prec=400, rounding=ROUND_HALF_UP, traps=[DivisionByZero, InvalidOperation, Overflow])

MS_PER_DAY = 86_400_000


# ---------------------------------------------------------------------------- arithmetic


def idiv32(a: int, b: int) -> int:
    """Java int division: truncates toward zero, wraps MIN_VALUE / -1, raises on / 0."""
    if b == 0:
        raise ArithmeticError("/ by zero")
    q = abs(a) // abs(b)
    q = q if (a < 0) == (b < 0) else -q
    return ((q + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def idiv64(a: int, b: int) -> int:
    if b == 0:
        raise ArithmeticError("/ by zero")
    q = abs(a) // abs(b)
    q = q if (a < 0) == (b < 0) else -q
    return ((q + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000


def null_operand() -> Any:
    """Arithmetic on NULL inside a lambda: ksqlDB's Java unboxes the operands and fails, so
    the function applying the lambda yields NULL (see sqlengine.codegen)."""
    raise TypeError("arithmetic on a NULL value inside a lambda")


def imod(a: int, b: int) -> int:
    """Java integer %: the result takes the sign of the dividend."""
    if b == 0:
        raise ArithmeticError("/ by zero")
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def fdiv(a: float, b: float) -> float:
    """Java double division: x/0.0 is +-Infinity, 0/0 is NaN."""
    if b == 0.0:
        if a == 0.0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def fmod(a: float, b: float) -> float:
    if b == 0.0 or math.isinf(a) or a != a or b != b:
        return math.nan
    return math.fmod(a, b)


def dec_quantum(scale: int) -> PyDecimal:
    return PyDecimal(1).scaleb(-scale)


def dec_fit(value: PyDecimal, precision: int, scale: int) -> PyDecimal:
    """Round HALF_UP to `scale`; raise when the value needs more than `precision` digits."""
    q = value.quantize(dec_quantum(scale), ROUND_HALF_UP, DCTX)
    if q.adjusted() >= precision - scale and q != 0:
        raise ArithmeticError(
            f"Numeric field overflow: A field with precision {precision} and scale {scale} "
            f"must round to an absolute value less than 10^{precision - scale}. Got {value}"
        )
    return q


# ---------------------------------------------------------------------------- Java text forms


def java_str(value: Any) -> str:
    """String.valueOf of a value as ksqlDB holds it (lists, maps, Connect structs)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double_str(value)
    if isinstance(value, PyDecimal):
        return format(value, "f")
    if isinstance(value, list):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{java_str(k)}={java_str(v)}" for k, v in value.items()) + "}"
    return str(value)


def struct_str(value: dict[str, Any]) -> str:
    """Kafka Connect's Struct.toString: null fields are left out."""
    inner = ",".join(f"{k}={java_str(v)}" for k, v in value.items() if v is not None)
    return "Struct{" + inner + "}"


# ---------------------------------------------------------------------------- temporal values

_EPOCH_DATE = dt.date(1970, 1, 1)
_TS = re.compile(
    r"(\d{4})(?:-(\d\d)(?:-(\d\d))?)?"
    r"(?:T(\d\d)(?::(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?)?"
    r"(Z|[+-]\d\d(?::?\d\d)?)?"
)
_TIME = re.compile(r"(\d\d)(?::(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?")


def _millis(frac: str | None) -> int:
    return int((frac or "0").ljust(3, "0")[:3])


def parse_timestamp(text: str) -> int:
    """ksqlDB's partial ISO timestamp: '2018', '2018-01-01T00:00:00.001', with an optional
    offset ('Z', '+0445', '+04:45'); UTC when absent. Returns epoch milliseconds."""
    m = _TS.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"Failed to parse timestamp '{text}'")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    moment = dt.datetime(
        int(y),
        int(mo or 1),
        int(d or 1),
        int(h or 0),
        int(mi or 0),
        int(s or 0),
        tzinfo=dt.UTC,
    )
    ms = (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    if tz and tz != "Z":
        digits = tz[1:].replace(":", "")
        offset = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        ms -= (offset if tz[0] == "+" else -offset) * 60_000
    return ms + _millis(frac)


def parse_date(text: str) -> int:
    m = _TS.fullmatch(text.strip())
    if m is None or m.group(4) is not None:
        raise ValueError(f"Failed to parse date '{text}'")
    y, mo, d = m.group(1), m.group(2), m.group(3)
    return (dt.date(int(y), int(mo or 1), int(d or 1)) - _EPOCH_DATE).days


def parse_time(text: str) -> int:
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"Failed to parse time '{text}'")
    h, mi, s, frac = m.groups()
    if int(h) > 23 or int(mi or 0) > 59 or int(s or 0) > 59:
        raise ValueError(f"Failed to parse time '{text}'")
    return ((int(h) * 60 + int(mi or 0)) * 60 + int(s or 0)) * 1000 + _millis(frac)


def format_timestamp(ms: int) -> str:
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"


def format_date(days: int) -> str:
    return (_EPOCH_DATE + dt.timedelta(days=days)).isoformat()


def format_time(ms: int) -> str:
    """Java's LocalTime.toString: HH:mm, HH:mm:ss or HH:mm:ss.SSS."""
    s, milli = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    text = f"{h:02d}:{m:02d}"
    if s or milli:
        text += f":{s:02d}"
    if milli:
        text += f".{milli:03d}"
    return text


# ---------------------------------------------------------------------------- parsing strings

_TRUE = frozenset({"true", "t", "yes", "y"})
_FALSE = frozenset({"false", "f", "no", "n"})


def parse_decimal(text: str) -> PyDecimal:
    s = text.strip()
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        raise ValueError(f"Cannot parse '{text}' as a DECIMAL")
    return PyDecimal(s)


def parse_boolean(text: str) -> bool:
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f'invalid input syntax for type BOOLEAN: "{text}"')


# ---------------------------------------------------------------------------- casts

B = T.Base
_TEMPORAL = (B.DATE, B.TIME, B.TIMESTAMP)


def can_cast(src: T.SqlType, dst: T.SqlType) -> bool:
    """Whether ksqlDB's CAST supports src -> dst."""
    if src == dst:
        return True
    if isinstance(src, T.Array) and isinstance(dst, T.Array):
        return can_cast(src.element, dst.element)
    if isinstance(src, T.Map) and isinstance(dst, T.Map):
        return can_cast(src.key, dst.key) and can_cast(src.value, dst.value)
    if isinstance(src, T.Struct) and isinstance(dst, T.Struct):
        return all(
            sf is None or can_cast(sf.type, f.type)
            for f in dst.fields
            for sf in [src.field(f.name)]
        )
    if dst.base is B.STRING:
        return src.base is not B.BYTES
    if not (src.is_primitive and dst.is_primitive):
        return False
    if dst.is_numeric:
        return src.is_numeric or src.base is B.STRING
    if dst.base is B.BOOLEAN:
        return src.base is B.STRING
    if dst.base in _TEMPORAL:
        if src.base is B.STRING:
            return True
        if src.base is B.TIMESTAMP:
            return True
        return src.base is B.DATE and dst.base is B.TIMESTAMP
    return False


Caster = Callable[[Any], Any]


def _wrap(bits: int) -> Caster:
    half, full = 1 << (bits - 1), (1 << bits) - 1
    return lambda v: ((v + half) & full) - half


def _double_to_int(bits: int) -> Caster:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def cast(v: float) -> int:
        if v != v:
            return 0
        if v >= hi:
            return hi
        if v <= lo:
            return lo
        return int(v)

    return cast


def _to_int(src: T.SqlType, bits: int) -> Caster | None:
    if src.base is B.DOUBLE:
        return _double_to_int(bits)
    wrap = _wrap(bits)
    if src.base is B.DECIMAL:
        return lambda v: wrap(int(v))
    if src.base is B.STRING:
        return lambda v: parse_java_long(v, bits, trim=True)
    if src.base is B.BIGINT and bits == 32:
        return wrap
    return None


def _to_decimal(src: T.SqlType, dst: T.Decimal) -> Caster:
    p, s = dst.precision, dst.scale
    if src.base is B.DOUBLE:

        def from_double(v: float) -> PyDecimal:
            if math.isnan(v) or math.isinf(v):
                raise ArithmeticError(f"Cannot convert {java_double_str(v)} to DECIMAL")
            return dec_fit(PyDecimal(repr(v)), p, s)

        return from_double
    if src.base is B.STRING:
        return lambda v: dec_fit(parse_decimal(v), p, s)
    return lambda v: dec_fit(PyDecimal(v), p, s)


def _to_string(src: T.SqlType) -> Caster | None:
    base = src.base
    if base is B.STRING:
        return None
    if base is B.BOOLEAN:
        return lambda v: "true" if v else "false"
    if base is B.DOUBLE:
        return java_double_str
    if base is B.DECIMAL:
        return lambda v: format(v, "f")
    if base is B.DATE:
        return format_date
    if base is B.TIME:
        return format_time
    if base is B.TIMESTAMP:
        return format_timestamp
    if base is B.STRUCT:
        return struct_str
    if base in (B.ARRAY, B.MAP):
        return java_str
    return str


def caster(src: T.SqlType, dst: T.SqlType) -> Caster | None:
    """The conversion CAST(src AS dst) applies to a non-NULL value; None when the value is
    already in dst's form. Callers check can_cast first."""
    if src == dst:
        return None
    if isinstance(src, T.Array) and isinstance(dst, T.Array):
        el = caster(src.element, dst.element)
        if el is None:
            return None
        return lambda v: [None if x is None else el(x) for x in v]
    if isinstance(src, T.Map) and isinstance(dst, T.Map):
        kc, vc = caster(src.key, dst.key), caster(src.value, dst.value)
        if kc is None and vc is None:
            return None
        kf = kc or (lambda x: x)
        vf = vc or (lambda x: x)
        return lambda v: {
            (None if k is None else kf(k)): (None if x is None else vf(x)) for k, x in v.items()
        }
    if isinstance(src, T.Struct) and isinstance(dst, T.Struct):
        plan = []
        for f in dst.fields:
            sf = src.field(f.name)
            plan.append((f.name, sf is not None, None if sf is None else caster(sf.type, f.type)))

        def cast_struct(v: dict[str, Any]) -> dict[str, Any]:
            out = {}
            for name, present, fc in plan:
                x = v.get(name) if present else None
                out[name] = x if x is None or fc is None else fc(x)
            return out

        return cast_struct
    base = dst.base
    if base is B.STRING:
        return _to_string(src)
    if base is B.INTEGER:
        return _to_int(src, 32)
    if base is B.BIGINT:
        return _to_int(src, 64)
    if base is B.DOUBLE:
        return parse_java_double if src.base is B.STRING else float
    if isinstance(dst, T.Decimal):
        return _to_decimal(src, dst)
    if base is B.BOOLEAN:
        return parse_boolean
    if base is B.TIMESTAMP:
        return parse_timestamp if src.base is B.STRING else (lambda v: v * MS_PER_DAY)
    if base is B.DATE:
        return parse_date if src.base is B.STRING else (lambda v: v // MS_PER_DAY)
    if base is B.TIME:
        return parse_time if src.base is B.STRING else (lambda v: v % MS_PER_DAY)
    if base is B.BYTES and src.base is B.STRING:  # implicit only: a function's BYTES param
        return lambda v: base64.b64decode(v.strip(), validate=True)
    raise TypeError(f"no cast from {src} to {dst}")


# ---------------------------------------------------------------------------- collections, LIKE


def array_index(arr: list[Any], i: int) -> Any:
    """ksqlDB's arr[i]: 1-based, negative counts from the end, out of range is NULL."""
    n = len(arr)
    if 0 < i <= n:
        return arr[i - 1]
    if 0 < -i <= n:
        return arr[n + i]
    return None


def like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    """SQL LIKE (% any run, _ one character, optional escape character) as a regex."""
    out = []
    chars = iter(pattern)
    for ch in chars:
        if escape is not None and ch == escape:
            nxt = next(chars, None)
            out.append(re.escape(nxt if nxt is not None else ch))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def like(value: str, pattern: str, escape: str | None) -> bool:
    return like_regex(pattern, escape).fullmatch(value) is not None
