"""The function registry: overloads, type patterns and overload resolution.

A function is registered with one or more overloads. An overload states its parameter types as
*patterns* and its return type as a pattern or as a callable of the argument types:

    @scalar("LPAD", "Pads the input string ...")
    def lpad(s: str, n: int, pad: str) -> str: ...      # signature given by `overload` below

    register(ScalarFunction("ABS", "Absolute value", [
        Overload(["INT"], "INT", abs),
        Overload(["DECIMAL"], lambda ts: ts[0], abs),
    ]))

Pattern language (parsed once at registration):
- a concrete type: `INT`, `BIGINT`, `DOUBLE`, `STRING`, `ARRAY<STRING>`, `MAP<STRING, INT>` ...
- `DECIMAL` alone matches any DECIMAL(p, s);  `STRUCT` alone matches any struct,
  `STRUCT<A STRING, B INT>` that struct
- a generic variable: a single upper-case letter (`T`, `K`, `V`, `U`); bound by the first
  argument it matches; later uses must agree (after implicit widening)
- `ANY`: matches any type without binding
- `INTERVALUNIT`: a time-unit keyword argument (ast.IntervalUnit); the value passed is the
  unit's name, e.g. 'SECOND'
- `FUNC(T)->R`, `FUNC(T,U)->R`: a lambda; its parameters get the bound types, R is bound to
  the type of the lambda body; the implementation receives a Python callable
- a trailing `...` on the last parameter makes it variadic (zero or more): `STRING...`

Implementations receive plain Python values (see sqlengine.types for the representation).
With `null_propagating=True` (default) the compiled code returns NULL without calling the
implementation when any argument is NULL; otherwise the implementation handles None itself.
With `factory=True`, `impl(arg_types, return_type)` is called once at compile time and
returns the callable used per record (for functions whose work depends on argument types).
A function raising an exception yields NULL for that expression and an entry in the
processing log; the record is still emitted (ksqlDB's behaviour).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlengine import types as T


class FunctionError(Exception):
    """No overload of a function accepts the given argument types (or no such function)."""


# ---------------------------------------------------------------------------- patterns


@dataclass(frozen=True)
class Pattern:
    kind: str  # concrete | decimal | struct | var | any | unit | array | map | func
    sql_type: T.SqlType | None = None
    var: str | None = None
    children: tuple[Pattern, ...] = ()


_TOKEN = re.compile(r"\s*(->|[A-Za-z_][A-Za-z_0-9]*|\d+|[<>(),.])")


def parse_pattern(text: str) -> Pattern:
    tokens = _TOKEN.findall(text)
    pos = 0

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = tokens[pos]
        if expected is not None and tok.upper() != expected:
            raise ValueError(f"bad type pattern {text!r}: expected {expected} at {tok!r}")
        pos += 1
        return tok

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def struct_fields() -> T.Struct:
        """`STRUCT<A STRING, B INT>`: a concrete struct type (as a user function declares)."""
        take("<")
        fields = []
        while True:
            name = take().upper()
            field_type = _Binder().substitute(one())
            if field_type is None:
                raise ValueError(f"bad type pattern {text!r}: field {name} needs a concrete type")
            fields.append(T.Field(name, field_type))
            if take() == ">":
                return T.Struct(tuple(fields))

    def one() -> Pattern:
        word = take().upper()
        if word == "ARRAY":
            take("<")
            el = one()
            take(">")
            return Pattern("array", children=(el,))
        if word == "MAP":
            take("<")
            k = one()
            take(",")
            v = one()
            take(">")
            return Pattern("map", children=(k, v))
        if word == "FUNC":
            take("(")
            params = [one()]
            while peek() == ",":
                take(",")
                params.append(one())
            take(")")
            take("->")
            return Pattern("func", children=(*params, one()))
        if word == "DECIMAL" and peek() == "(":
            take("(")
            p = int(take())
            take(",")
            s = int(take())
            take(")")
            return Pattern("concrete", sql_type=T.Decimal(p, s))
        if word == "DECIMAL":
            return Pattern("decimal")
        if word == "STRUCT" and peek() == "<":
            return Pattern("concrete", sql_type=struct_fields())
        if word == "STRUCT":
            return Pattern("struct")
        if word == "ANY":
            return Pattern("any")
        if word == "INTERVALUNIT":
            return Pattern("unit")
        if len(word) == 1:
            return Pattern("var", var=word)
        if word in T.PRIMITIVE_NAMES:
            return Pattern("concrete", sql_type=T.PRIMITIVE_NAMES[word])
        raise ValueError(f"bad type pattern {text!r}: unknown type {word}")

    result = one()
    if pos != len(tokens):
        raise ValueError(f"bad type pattern {text!r}: trailing {tokens[pos:]}")
    return result


UNIT = "INTERVALUNIT"  # the pseudo type of an ast.IntervalUnit argument


@dataclass(frozen=True)
class LambdaType:
    """The type of a lambda argument after compilation of its body."""

    params: tuple[T.SqlType, ...]
    returns: T.SqlType


ArgType = T.SqlType | LambdaType | str | None  # str only for UNIT; None for a NULL literal

# Implicit conversions ksqlDB applies to function arguments, cheapest first.
# A STRING argument is parsed into a temporal or BYTES (base64) parameter.
_WIDENING: dict[T.Base, tuple[T.Base, ...]] = {
    T.Base.INTEGER: (T.Base.BIGINT, T.Base.DECIMAL, T.Base.DOUBLE),
    T.Base.BIGINT: (T.Base.DECIMAL, T.Base.DOUBLE),
    T.Base.DECIMAL: (T.Base.DOUBLE,),
    T.Base.STRING: (T.Base.DATE, T.Base.TIME, T.Base.TIMESTAMP, T.Base.BYTES),
}


def implicit_common_type(a: T.SqlType, b: T.SqlType) -> T.SqlType | None:
    """The type two arguments bound to one generic parameter both convert to, or None."""
    if _widen_to(a, b.base) is not None and not b.is_numeric:
        return b
    if _widen_to(b, a.base) is not None and not a.is_numeric:
        return a
    return T.common_type([a, b])


def _widen_to(actual: T.SqlType, target_base: T.Base) -> T.SqlType | None:
    if actual.base is target_base:
        return actual
    if target_base in _WIDENING.get(actual.base, ()):
        if target_base is T.Base.DECIMAL:
            return T.as_decimal(actual)
        return T.Primitive(target_base)
    return None


class _Binder:
    """Matches argument types against patterns, binding generic variables."""

    def __init__(self) -> None:
        self.bound: dict[str, T.SqlType] = {}
        self.cost = 0

    def match(self, pattern: Pattern, actual: ArgType) -> bool:
        if actual is None:  # NULL literal matches anything
            return pattern.kind != "unit"
        if pattern.kind == "unit":
            return actual == UNIT
        if actual == UNIT or isinstance(actual, LambdaType):
            return pattern.kind == "func" and isinstance(actual, LambdaType)
        assert isinstance(actual, T.SqlType)
        if pattern.kind == "any":
            return True
        if pattern.kind == "concrete":
            assert pattern.sql_type is not None
            if actual == pattern.sql_type:
                return True
            if isinstance(pattern.sql_type, T.Decimal) and actual.base is T.Base.DECIMAL:
                return True
            widened = _widen_to(actual, pattern.sql_type.base)
            if widened is not None and pattern.sql_type.is_primitive:
                self.cost += 1
                return True
            return False
        if pattern.kind == "decimal":
            if actual.base is T.Base.DECIMAL:
                return True
            if actual.base in (T.Base.INTEGER, T.Base.BIGINT):
                self.cost += 1
                return True
            return False
        if pattern.kind == "struct":
            return actual.base is T.Base.STRUCT
        if pattern.kind == "var":
            assert pattern.var is not None
            prior = self.bound.get(pattern.var)
            if prior is None:
                self.bound[pattern.var] = actual
                return True
            if prior == actual:
                return True
            widened = implicit_common_type(prior, actual)
            if widened is None:
                return False
            self.bound[pattern.var] = widened
            self.cost += 1
            return True
        if pattern.kind == "array":
            return isinstance(actual, T.Array) and self.match(pattern.children[0], actual.element)
        if pattern.kind == "map":
            return (
                isinstance(actual, T.Map)
                and self.match(pattern.children[0], actual.key)
                and self.match(pattern.children[1], actual.value)
            )
        return False

    def substitute(self, pattern: Pattern) -> T.SqlType | None:
        """The concrete type a pattern denotes under the current bindings (None if unbound)."""
        if pattern.kind == "concrete":
            return pattern.sql_type
        if pattern.kind == "var":
            return self.bound.get(pattern.var or "")
        if pattern.kind == "array":
            el = self.substitute(pattern.children[0])
            return None if el is None else T.Array(el)
        if pattern.kind == "map":
            k, v = (self.substitute(c) for c in pattern.children)
            return None if k is None or v is None else T.Map(k, v)
        return None


# ---------------------------------------------------------------------------- functions


ReturnSpec = str | Callable[[list[ArgType]], T.SqlType]


@dataclass
class Overload:
    params: list[str]
    returns: ReturnSpec
    impl: Callable[..., Any]
    null_propagating: bool = True
    factory: bool = False
    description: str = ""
    variadic: bool = field(init=False, default=False)
    patterns: list[Pattern] = field(init=False, default_factory=list)
    return_pattern: Pattern | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        params = list(self.params)
        if params and params[-1].endswith("..."):
            self.variadic = True
            params[-1] = params[-1][:-3]
        self.patterns = [parse_pattern(p) for p in params]
        if isinstance(self.returns, str):
            self.return_pattern = parse_pattern(self.returns)

    def arity_ok(self, n: int) -> bool:
        fixed = len(self.patterns) - (1 if self.variadic else 0)
        return n == len(self.patterns) or (self.variadic and n >= fixed)

    def pattern_at(self, i: int) -> Pattern:
        return self.patterns[min(i, len(self.patterns) - 1)]

    def signature(self) -> str:
        parts = list(self.params)
        return ", ".join(parts)


@dataclass
class Resolved:
    """The outcome of overload resolution for one call site."""

    overload: Overload
    return_type: T.SqlType
    param_types: list[T.SqlType | None]  # the type each argument is converted to (None: as is)
    impl: Callable[..., Any]


@dataclass
class ScalarFunction:
    """`declared_name` is the name as ksqlDB's implementation declares it, which its error
    messages show (mostly lower case: 'greatest'; the CONDITIONAL functions upper case)."""

    name: str
    description: str
    overloads: list[Overload]
    category: str = ""
    kind: str = "SCALAR"
    declared_name: str = ""

    def __post_init__(self) -> None:
        self.declared_name = self.declared_name or self.name.lower()

    def lambda_param_types(self, index: int, arg_types: list[ArgType]) -> list[T.SqlType] | None:
        """Types of the parameters of the lambda at argument `index`, from the other args.

        `arg_types` holds the types of the arguments before `index` (lambdas after them are
        not needed by any ksqlDB function)."""
        for ov in self.overloads:
            if index >= len(ov.patterns) and not ov.variadic:
                continue
            binder = _Binder()
            if not all(binder.match(ov.pattern_at(i), t) for i, t in enumerate(arg_types)):
                continue
            pattern = ov.pattern_at(index)
            if pattern.kind != "func":
                continue
            types = [binder.substitute(p) for p in pattern.children[:-1]]
            if all(t is not None for t in types):
                return [t for t in types if t is not None]
        return None

    def resolve(self, arg_types: list[ArgType]) -> Resolved:
        best: tuple[int, int, Overload, _Binder] | None = None
        for order, ov in enumerate(self.overloads):
            if not ov.arity_ok(len(arg_types)):
                continue
            binder = _Binder()
            ok = True
            for i, actual in enumerate(arg_types):
                pattern = ov.pattern_at(i)
                if pattern.kind == "func" and isinstance(actual, LambdaType):
                    ok = binder.match(pattern.children[-1], actual.returns)
                elif not binder.match(pattern, actual):
                    ok = False
                if not ok:
                    break
            if ok and (best is None or (binder.cost, order) < best[:2]):
                best = (binder.cost, order, ov, binder)
        if best is None:
            shown = ", ".join(_show(t) for t in arg_types)
            raise FunctionError(
                f"Function '{self.declared_name}' does not accept parameters ({shown}).\n"
                f"Valid alternatives are:\n"
                + "\n".join(f"{self.declared_name}({ov.signature()})" for ov in self.overloads)
            )
        _, _, ov, binder = best
        if ov.return_pattern is not None:
            ret = binder.substitute(ov.return_pattern)
            if ret is None:
                raise FunctionError(
                    f"Function '{self.declared_name}' cannot infer its return type here"
                )
        else:
            assert callable(ov.returns)
            ret = ov.returns(arg_types)
        param_types = [_conversion(ov.pattern_at(i), binder, t) for i, t in enumerate(arg_types)]
        impl = ov.impl(arg_types, ret) if ov.factory else ov.impl
        return Resolved(ov, ret, param_types, impl)


def _conversion(pattern: Pattern, binder: _Binder, actual: ArgType) -> T.SqlType | None:
    """The type an argument must be converted to before the call, or None for no conversion."""
    if not isinstance(actual, T.SqlType):
        return None
    if pattern.kind == "concrete" and pattern.sql_type is not None:
        target = pattern.sql_type
        if target.base is T.Base.DECIMAL:
            return None if actual.base is T.Base.DECIMAL else T.as_decimal(actual)
        return None if actual == target else target
    if pattern.kind == "decimal" and actual.base is not T.Base.DECIMAL:
        return T.as_decimal(actual)
    if pattern.kind in ("var", "array", "map"):
        target = binder.substitute(pattern)
        if target is not None and target.base is actual.base is T.Base.DECIMAL:
            return None  # as a Java BigDecimal, a DECIMAL reaches a function with its own scale
        return None if target is None or target == actual else target
    return None


def _show(t: ArgType) -> str:
    if t is None:
        return "null"
    if isinstance(t, LambdaType):
        return "LAMBDA"
    return T.long_name(t) if isinstance(t, T.SqlType) else str(t)


# ---------------------------------------------------------------------------- the registry


@dataclass
class FunctionInfo:
    """What SHOW FUNCTIONS / DESCRIBE FUNCTION print about a function of any kind."""

    name: str
    kind: str  # SCALAR | AGGREGATE | TABLE
    category: str
    description: str
    signatures: list[tuple[str, str, str]]  # (params, return type, description)


@dataclass(frozen=True)
class FunctionOrigin:
    """Who wrote a user-defined function and where it was loaded from (DESCRIBE FUNCTION)."""

    author: str
    version: str
    path: str


BUILT_IN = FunctionOrigin("", "", "internal")


class Registry:
    def __init__(self) -> None:
        self.scalars: dict[str, ScalarFunction] = {}
        self.others: dict[str, FunctionInfo] = {}  # aggregate and table functions' docs
        # Functions of any kind loaded from an extension directory (sqlengine.udf), by name.
        self.origins: dict[str, FunctionOrigin] = {}

    def origin(self, name: str) -> FunctionOrigin:
        return self.origins.get(name.upper(), BUILT_IN)

    def add(self, fn: ScalarFunction) -> None:
        key = fn.name.upper()
        existing = self.scalars.get(key)
        if existing is None:
            self.scalars[key] = fn
        else:
            existing.overloads.extend(fn.overloads)

    def scalar(self, name: str) -> ScalarFunction | None:
        return self.scalars.get(name.upper())

    def describe(self, name: str) -> FunctionInfo | None:
        fn = self.scalar(name)
        if fn is None:
            return self.others.get(name.upper())
        sigs = [
            (ov.signature(), ov.returns if isinstance(ov.returns, str) else "", ov.description)
            for ov in fn.overloads
        ]
        return FunctionInfo(fn.name.upper(), fn.kind, fn.category, fn.description, sigs)

    def names(self) -> list[FunctionInfo]:
        infos = [self.describe(n) for n in self.scalars] + list(self.others.values())
        return sorted((i for i in infos if i is not None), key=lambda i: i.name)


REGISTRY = Registry()


def scalar(
    name: str,
    description: str,
    *overloads: Overload,
    category: str = "",
    declared_name: str = "",
) -> None:
    """Register a scalar function (or more overloads of an existing one)."""
    REGISTRY.add(
        ScalarFunction(
            name.upper(), description, list(overloads), category, "SCALAR", declared_name
        )
    )


def udf(
    name: str,
    params: list[str],
    returns: ReturnSpec,
    *,
    description: str = "",
    category: str = "",
    null_propagating: bool = True,
    factory: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form: register the decorated Python function as one overload of `name`."""

    def wrap(impl: Callable[..., Any]) -> Callable[..., Any]:
        ov = Overload(params, returns, impl, null_propagating, factory, description)
        REGISTRY.add(ScalarFunction(name.upper(), description, [ov], category))
        return impl

    return wrap
