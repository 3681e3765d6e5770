"""JSON-decoded objects <-> streamdb value forms, with the coercions of ksqlDB's JSON deserializer.

`json_reader(t)` builds (once per type, cached) a function turning a non-null JSON-decoded object
(bool, int, float, decimal.Decimal, str, list, dict) into the value form of `t`:

| target     | accepts                                                                     |
|------------|-----------------------------------------------------------------------------|
| BOOLEAN    | true/false only (ksqlDB rejects "true" and 1)                                |
| INT/BIGINT | numbers (fractions truncate toward zero, then wrap to 32/64 bits as Java's  |
|            | intValue/longValue do); strings Integer.parseInt/Long.parseLong accept      |
| DOUBLE     | numbers; strings Double.parseDouble accepts ("1.5", "1e3", "NaN")           |
| DECIMAL    | numbers and numeric strings, made to fit DECIMAL(p, s) without rounding     |
| STRING     | strings; numbers and booleans as their text; objects as compact JSON text;  |
|            | arrays as "[a, b, null]" (elements coerced to text, as ksqlDB does)         |
| BYTES      | base64 text                                                                 |
| DATE       | numbers / numeric strings: days since the epoch                             |
| TIME       | numbers / numeric strings: ms of day, 0..86400000                           |
| TIMESTAMP  | numbers / numeric strings: epoch ms                                         |
| ARRAY/MAP  | arrays / objects, elements recursively (MAP keys are JSON's text keys,      |
|            | coerced to the key type)                                                    |
| STRUCT     | objects; a field is looked up by its exact name, then by the upper-cased    |
|            | JSON keys (ksqlDB's rule, so `FOO` matches "foo" but `foo` never "FOO");    |
|            | missing fields are NULL                                                     |

Failures raise `CoercionError` with ksqlDB's message and JSON path (", path: $.A[0]").

`json_writer(t, exact_decimal, temporal_text)` builds the reverse: value form -> JSON-compatible
object, or None when the value form already is one. DOUBLE becomes a float (written 1.0; NaN and
infinities as Jackson quotes them: "NaN", "Infinity", "-Infinity"), BYTES base64 text,
DATE/TIME/TIMESTAMP their ints (in topics) or, with temporal_text, the text ksqlDB's REST API
returns ("2021-01-01", "01:00:00", "2019-07-09T01:00:00.000"), DECIMAL either an exact
orjson.Fragment keeping its scale (what the JSON serializer writes, e.g. 10.50) or a float
(for `value_to_json`).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation
from functools import cache
from typing import Any

import orjson

from sqlengine.codegen_ops import format_date, format_timestamp
from sqlengine.javatext import (
    java_double_str,
    java_hash_map_order,
    parse_java_double,
    parse_java_long,
)
from sqlengine.serde.base import java_type_name
from sqlengine.types import BOOLEAN as _BOOLEAN
from sqlengine.types import BYTES as _BYTES
from sqlengine.types import DOUBLE as _DOUBLE
from sqlengine.types import TIME as _TIME
from sqlengine.types import Array, Base, Map, SqlType, Struct
from sqlengine.types import Decimal as DecimalType

Reader = Callable[[Any], Any]
Writer = Callable[[Any], Any]

_MS_PER_DAY = 86_400_000
_JAVA_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_WIDE = Context(prec=1000)


class CoercionError(ValueError):
    """A JSON value that does not convert to its column's type; `path` is its JSON path."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def under(self, step: str) -> CoercionError:
        return CoercionError(self.message, step + self.path)

    def __str__(self) -> str:
        return f"{self.message}, path: ${self.path}"


def wrap_int(i: int, bits: int) -> int:
    """Two's-complement wrap, as Java's narrowing of a long/BigInteger does."""
    half = 1 << (bits - 1)
    return ((i + half) & ((half << 1) - 1)) - half


def parse_java_decimal(text: str) -> Decimal:
    """new BigDecimal(text): no whitespace, no NaN/Infinity."""
    if not _JAVA_DECIMAL_TEXT.match(text):
        raise ValueError(f'Character array is not a valid decimal number: "{text}"')
    return Decimal(text)


def fit_decimal(d: Decimal, t: DecimalType) -> Decimal:
    """ksqlDB's DecimalUtil.ensureFit: `d` at scale t.scale, refusing overflow and rounding."""
    if not d.is_finite():
        raise CoercionError(f"Cannot fit decimal '{d}' into {java_type_name(t)}")
    integral = t.precision - t.scale
    if abs(d) >= _WIDE.power(10, integral):
        raise CoercionError(
            f"Numeric field overflow: A field with precision {t.precision} and scale {t.scale} "
            f"must round to an absolute value less than 10^{integral}. Got {d:f}"
        )
    fitted = _WIDE.quantize(d, Decimal((0, (1,), -t.scale)))
    if fitted != d:
        _, digits, exponent = d.as_tuple()
        raise CoercionError(
            f"Cannot fit decimal '{d:f}' into DECIMAL({t.precision}, {t.scale}) without "
            f"rounding. (Requires {len(digits)},{-int(exponent)})"
        )
    return fitted


def _node_name(obj: Any) -> str:
    """The Jackson node class ksqlDB names in conversion errors."""
    kind = type(obj)
    if kind is bool:
        return "BooleanNode"
    if kind is int:
        if wrap_int(obj, 32) == obj:
            return "IntNode"
        return "LongNode" if wrap_int(obj, 64) == obj else "BigIntegerNode"
    if kind is float or kind is Decimal:
        return "DecimalNode"
    if kind is str:
        return "TextNode"
    return "ArrayNode" if kind is list else "ObjectNode"


def _cannot_convert(obj: Any, t: SqlType) -> CoercionError:
    return CoercionError(
        f"Can't convert type. sourceType: {_node_name(obj)}, requiredType: {java_type_name(t)}"
    )


def _cannot_coerce_string(t: SqlType) -> CoercionError:
    return CoercionError(f"Can't coerce string to type. targetType: {t.base.value}")


def _whole_number(obj: Any, t: SqlType, bits: int) -> int:
    """A JSON number or numeric string as a Java int/long (INT, BIGINT, DATE, TIME, TIMESTAMP)."""
    kind = type(obj)
    if kind is int:
        return wrap_int(obj, bits)
    if kind is float or kind is Decimal:
        if not math.isfinite(obj):
            raise _cannot_convert(obj, t)
        return wrap_int(int(obj), bits)
    if kind is str:
        try:
            return parse_java_long(obj, bits)
        except ValueError:
            raise _cannot_coerce_string(t) from None
    raise _cannot_convert(obj, t)


def _read_boolean(obj: Any) -> bool:
    if obj is True or obj is False:
        return obj
    raise _cannot_convert(obj, _BOOLEAN)


def _read_double(obj: Any) -> float:
    kind = type(obj)
    if kind is float or kind is int or kind is Decimal:
        return float(obj)
    if kind is str:
        try:
            return parse_java_double(obj)
        except ValueError:
            raise _cannot_coerce_string(_DOUBLE) from None
    raise _cannot_convert(obj, _DOUBLE)


def _json_text(obj: Any) -> Any:
    """orjson `default`: Decimals (exact JSON parsing) are written as the number they are."""
    if isinstance(obj, Decimal):
        return orjson.Fragment(str(obj))
    raise TypeError


def _read_string(obj: Any) -> str:
    kind = type(obj)
    if kind is str:
        return obj
    if kind is bool:
        return "true" if obj else "false"
    if kind is int:
        return str(obj)
    if kind is float:
        # Jackson reads JSON numbers as BigDecimal here, so their text is BigDecimal.toString().
        return str(Decimal(repr(obj)))
    if kind is Decimal:
        return str(obj)
    if kind is dict:
        return orjson.dumps(obj, default=_json_text).decode()
    return "[" + ", ".join("null" if x is None else _read_string(x) for x in obj) + "]"


def _read_bytes(obj: Any) -> bytes:
    if type(obj) is not str:
        raise _cannot_convert(obj, _BYTES)
    try:
        return base64.b64decode(obj, validate=True)
    except (binascii.Error, ValueError):
        raise CoercionError(f"Value is not a valid Base64 encoded string: {obj}") from None


def _decimal_reader(t: DecimalType) -> Reader:
    def read(obj: Any) -> Decimal:
        kind = type(obj)
        if kind is Decimal:
            d = obj
        elif kind is int:
            d = Decimal(obj)
        elif kind is float:
            d = Decimal(repr(obj))
        elif kind is str:
            try:
                d = parse_java_decimal(obj)
            except (ValueError, InvalidOperation):
                raise _cannot_coerce_string(t) from None
        else:
            raise _cannot_convert(obj, t)
        return fit_decimal(d, t)

    return read


def _time_reader(obj: Any) -> int:
    ms = _whole_number(obj, _TIME, 64)
    if not 0 <= ms <= _MS_PER_DAY:
        raise CoercionError(
            "Time values must use number of milliseconds greater than 0 and less than "
            f"{_MS_PER_DAY}."
        )
    return ms


def _array_reader(t: Array) -> Reader:
    element = json_reader(t.element)

    def read(obj: Any) -> list[Any]:
        if type(obj) is not list:
            raise _cannot_convert(obj, t)
        try:
            return [None if x is None else element(x) for x in obj]
        except CoercionError:
            for i, x in enumerate(obj):
                try:
                    None if x is None else element(x)
                except CoercionError as e:
                    raise e.under(f"[{i}]") from None
            raise

    return read


def _map_reader(t: Map) -> Reader:
    key = None if t.key.base is Base.STRING else json_reader(t.key)
    value = json_reader(t.value)

    def read(obj: Any) -> dict[Any, Any]:
        if type(obj) is not dict:
            raise _cannot_convert(obj, t)
        out = {}
        # ksqlDB reads a map into a HashMap sized to it: its entries come in that map's order,
        # which functions folding over a map (REDUCE) see.
        order = obj if len(obj) < 2 or key is not None else java_hash_map_order(list(obj), len(obj))
        for k in order:
            v = obj[k]
            try:
                mapped = k if key is None else key(k)
            except CoercionError as e:
                raise e.under(f".{k}.key") from None
            try:
                out[mapped] = None if v is None else value(v)
            except CoercionError as e:
                raise e.under(f".{k}.value") from None
        return out

    return read


_MISSING = object()


def fields_reader(fields: list[tuple[str, SqlType]], t: SqlType) -> Callable[[Any], list[Any]]:
    """Reads a JSON object into the list of its fields' values (a STRUCT, or a whole row).

    A field is looked up by its exact name, then among the object's keys upper-cased; a
    value already in its value form (the common case) is taken as is. The reader is Python
    generated once per schema, so each record costs a few dict gets; names and converters
    enter the generated code as bound constants, never as source text.
    `t` is the type named when `obj` is not an object at all.
    """
    env: dict[str, Any] = {"MISSING": _MISSING, "cannot_convert": _cannot_convert, "T": t}
    env["convert"] = _convert_field
    lines = [
        "def read(obj):",
        "    if type(obj) is not dict:",
        "        raise cannot_convert(obj, T)",
        "    upper = None",
    ]
    for i, (name, ftype) in enumerate(fields):
        env[f"N{i}"], env[f"R{i}"] = name, json_reader(ftype)
        as_is, low, high = _as_is(ftype)
        lines += [
            f"    v{i} = obj.get(N{i}, MISSING)",
            f"    if v{i} is MISSING:",
            "        if upper is None:",
            "            upper = {k.upper(): x for k, x in obj.items()}",
            f"        v{i} = upper.get(N{i})",
        ]
        if as_is is None:
            done = "False"
        else:
            env[f"P{i}"] = as_is
            done = f"type(v{i}) is P{i}"
            if low is not None:
                env[f"L{i}"], env[f"H{i}"] = low, high
                done += f" and L{i} <= v{i} <= H{i}"
        lines += [
            f"    if v{i} is not None and not ({done}):",
            f"        v{i} = convert(R{i}, v{i}, N{i})",
        ]
    lines.append("    return [" + ", ".join(f"v{i}" for i in range(len(fields))) + "]")
    exec("\n".join(lines), env)  # noqa: S102 - generated from the schema only, see above
    return env["read"]  # type: ignore[no-any-return]


def _convert_field(reader: Reader, value: Any, name: str) -> Any:
    try:
        return reader(value)
    except CoercionError as e:
        raise e.under(f".{name}") from None


def _as_is(t: SqlType) -> tuple[type | None, int | None, int | None]:
    """The JSON-decoded Python type a value of `t` needs no conversion from (with the range
    an integer must lie in), or None where every value is converted."""
    if t.base is Base.INTEGER:
        return int, -(2**31), 2**31 - 1
    if t.base in (Base.BIGINT, Base.TIMESTAMP):
        return int, -(2**63), 2**63 - 1
    simple = {Base.STRING: str, Base.DOUBLE: float, Base.BOOLEAN: bool}
    return simple.get(t.base), None, None


def _struct_reader(t: Struct) -> Reader:
    names = [f.name for f in t.fields]
    read_fields = fields_reader([(f.name, f.type) for f in t.fields], t)

    def read(obj: Any) -> dict[str, Any]:
        return dict(zip(names, read_fields(obj), strict=True))

    return read


@cache
def json_reader(t: SqlType) -> Reader:
    """The converter from a non-null JSON-decoded object to the value form of `t`."""
    base = t.base
    if base is Base.BOOLEAN:
        return _read_boolean
    if base is Base.INTEGER:
        return lambda obj: _whole_number(obj, t, 32)
    if base in (Base.BIGINT, Base.TIMESTAMP):
        return lambda obj: _whole_number(obj, t, 64)
    if base is Base.DATE:
        return lambda obj: _whole_number(obj, t, 32)
    if base is Base.TIME:
        return _time_reader
    if base is Base.DOUBLE:
        return _read_double
    if base is Base.STRING:
        return _read_string
    if base is Base.BYTES:
        return _read_bytes
    if isinstance(t, DecimalType):
        return _decimal_reader(t)
    if isinstance(t, Array):
        return _array_reader(t)
    if isinstance(t, Map):
        return _map_reader(t)
    if isinstance(t, Struct):
        return _struct_reader(t)
    raise TypeError(f"no JSON reader for {t}")


def _write_double(v: float) -> float | str:
    # Jackson (QUOTE_NON_NUMERIC_NUMBERS) writes non-finite doubles as "NaN", "Infinity", ...
    return float(v) if math.isfinite(v) else java_double_str(v)


def _java_printed_as_python(v: float) -> bool:
    """Whether a finite double's text is the same in Java and Python: 0, and magnitudes in
    [0.001, 10^7), where neither uses an exponent."""
    return v == 0.0 or 1e-3 <= abs(v) < 1e7


def _write_double_as_java(v: float) -> float | str | orjson.Fragment:
    """A DOUBLE for orjson as Jackson writes it: Java's Double.toString (1.0E12, 1.0E-4)."""
    if not math.isfinite(v):
        return java_double_str(v)
    v = float(v)
    return v if _java_printed_as_python(v) else orjson.Fragment(java_double_str(v))


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _exact_decimal(d: Decimal) -> orjson.Fragment:
    return orjson.Fragment(f"{d:f}")


def _time_text(ms: int) -> str:
    """A TIME as ksqlDB's REST API writes it: HH:mm:ss, and the milliseconds when not zero."""
    seconds, milli = divmod(ms, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    text = f"{hour:02d}:{minute:02d}:{second:02d}"
    return f"{text}.{milli:03d}" if milli else text


_TEMPORAL_TEXT: dict[Base, Writer] = {
    Base.DATE: format_date,
    Base.TIME: _time_text,
    Base.TIMESTAMP: format_timestamp,
}


def _array_writer(t: Array, exact_decimal: bool, temporal_text: bool) -> Writer | None:
    element = json_writer(t.element, exact_decimal, temporal_text)
    if element is None:
        return None
    return lambda v: [None if x is None else element(x) for x in v]


def _map_writer(t: Map, exact_decimal: bool, temporal_text: bool) -> Writer:
    key = json_writer(t.key, exact_decimal, temporal_text)
    value = json_writer(t.value, exact_decimal, temporal_text)

    def text_key(k: Any) -> str:
        # JSON object keys are text: STRING keys as they are, others (and NULL) as JSON text.
        if type(k) is str:
            return k
        return orjson.dumps(k if key is None else key(k)).decode()

    if value is None:
        if t.key.base is Base.STRING:
            return lambda v: v if None not in v else {text_key(k): x for k, x in v.items()}
        return lambda v: {text_key(k): x for k, x in v.items()}
    return lambda v: {text_key(k): None if x is None else value(x) for k, x in v.items()}


def _struct_writer(t: Struct, exact_decimal: bool, temporal_text: bool) -> Writer:
    fields = [(f.name, json_writer(f.type, exact_decimal, temporal_text)) for f in t.fields]
    if all(w is None for _, w in fields):
        names = [name for name, _ in fields]
        return lambda v: {name: v.get(name) for name in names}

    def write(v: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, w in fields:
            x = v.get(name)
            out[name] = x if x is None or w is None else w(x)
        return out

    return write


@cache
def json_writer(t: SqlType, exact_decimal: bool, temporal_text: bool = False) -> Writer | None:
    """The converter from a non-null value of `t` to a JSON-compatible object; None = identity.

    exact_decimal: DECIMAL as an orjson.Fragment holding its exact text and DOUBLE as Java
    prints it (for orjson.dumps), else both as a float.
    """
    base = t.base
    if base is Base.DOUBLE:
        return _write_double_as_java if exact_decimal else _write_double
    if base is Base.BYTES:
        return _b64
    if isinstance(t, DecimalType):
        return _exact_decimal if exact_decimal else float
    if temporal_text and base in _TEMPORAL_TEXT:
        return _TEMPORAL_TEXT[base]
    if isinstance(t, Array):
        return _array_writer(t, exact_decimal, temporal_text)
    if isinstance(t, Map):
        return _map_writer(t, exact_decimal, temporal_text)
    if isinstance(t, Struct):
        return _struct_writer(t, exact_decimal, temporal_text)
    return None
