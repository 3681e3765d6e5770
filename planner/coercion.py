"""ksqlDB's implicit coercion of user-supplied expression lists (IN values, ARRAY / MAP /
STRUCT constructors, CASE results) to one common type.

The rules are those of ksqlDB's CoercionUtil and DefaultSqlValueCoercer: the first typed
element sets the type; each later element widens it (numbers), is parsed into it (string
literals: LAX rules) or must convert to it (other expressions: STRICT rules). Literals are
converted at compile time; other expressions are converted by codegen where they are used.
"""

from __future__ import annotations

import re
from decimal import Decimal as PyDecimal
from typing import Any, Protocol

from grammar import ast
from grammar.printer import format_expr
from planner.errors import PlanError, type_name
from sqlengine import codegen_ops as ops
from sqlengine import types as T
from sqlengine.javatext import parse_java_double, parse_java_long

B = T.Base
_NUMERIC_ORDER = (B.INTEGER, B.BIGINT, B.DECIMAL, B.DOUBLE)
_PARSED_FROM_STRING = (B.TIMESTAMP, B.TIME, B.DATE, B.BYTES)  # STRICT: STRING parses into these
_LAX_TO_STRING = (B.BOOLEAN, *_NUMERIC_ORDER, B.TIMESTAMP, B.TIME, B.DATE)
_INT_RANGE = (-(1 << 31), (1 << 31) - 1)
_BIGINT_RANGE = (-(1 << 63), (1 << 63) - 1)
_JAVA_BIG_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def can_coerce(src: T.SqlType, dst: T.SqlType, lax: bool) -> T.SqlType | None:
    """The type holding values of both src and dst when src converts to dst, or None.
    `lax` adds the conversions allowed for user-entered literals (STRING <-> BOOLEAN and
    numbers, anything to STRING)."""
    if isinstance(src, T.Array) and isinstance(dst, T.Array):
        element = can_coerce(src.element, dst.element, lax)
        return None if element is None else T.Array(element)
    if isinstance(src, T.Map) and isinstance(dst, T.Map):
        key, value = can_coerce(src.key, dst.key, lax), can_coerce(src.value, dst.value, lax)
        return None if key is None or value is None else T.Map(key, value)
    if isinstance(src, T.Struct) and isinstance(dst, T.Struct):
        return _struct_union(src, dst, lax)
    a, b = src.base, dst.base
    if src.is_numeric and dst.is_numeric:
        if _NUMERIC_ORDER.index(a) > _NUMERIC_ORDER.index(b):
            return None
        return T.widen_numeric(src, dst) if b is B.DECIMAL else dst
    if a is b and src.is_primitive or a is B.STRING and b in _PARSED_FROM_STRING:
        return dst
    if lax and (b is B.STRING and a in _LAX_TO_STRING or a is B.STRING and b is B.BOOLEAN):
        return dst
    if lax and a is B.STRING and dst.is_numeric:
        return dst
    return None


def _struct_union(src: T.Struct, dst: T.Struct, lax: bool) -> T.Struct | None:
    names = list(dict.fromkeys([f.name for f in src.fields] + [f.name for f in dst.fields]))
    fields = []
    for name in names:
        sf, df = src.field(name), dst.field(name)
        if sf is None or df is None:
            fields.append(T.Field(name, (sf or df).type))  # type: ignore[union-attr]
            continue
        common = can_coerce(sf.type, df.type, lax)
        if common is None:
            return None
        fields.append(T.Field(name, common))
    return T.Struct(tuple(fields))


def decimal_type_of(value: PyDecimal) -> T.Decimal:
    """The DECIMAL type of a value as ksqlDB infers it (precision at least scale + 1)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if exponent > 0:  # no negative scale: 2E+1 is 20
        value = value.quantize(PyDecimal(1))
        _, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
    scale = -exponent
    if -1 < value < 1:
        return T.Decimal(scale + 1, scale)
    return T.Decimal(len(digits), max(scale, 0))


def string_numeric_type(text: str) -> T.SqlType:
    """The numeric type a string literal's text denotes; ValueError if it is no number."""
    s = text.strip()
    if not _JAVA_BIG_DECIMAL.fullmatch(s):
        raise ValueError(text)
    value = PyDecimal(s)
    if not any(ch in text for ch in ".eE"):
        if _INT_RANGE[0] < value < _INT_RANGE[1]:
            return T.INTEGER
        if _BIGINT_RANGE[0] < value < _BIGINT_RANGE[1]:
            return T.BIGINT
    return decimal_type_of(value)


def parse_literal(text: str, target: T.SqlType) -> Any:
    """A string literal read as a value of `target` (the LAX rules); PlanError if it is not."""
    base = target.base
    try:
        if base is B.STRING:
            return text
        if base in (B.INTEGER, B.BIGINT):
            return parse_java_long(text, 32 if base is B.INTEGER else 64, trim=True)
        if base is B.DOUBLE:
            return parse_java_double(text)
        if isinstance(target, T.Decimal):
            return ops.dec_fit(ops.parse_decimal(text), target.precision, target.scale)
        if base is B.BOOLEAN:
            return ops.parse_boolean(text)
        if base in _PARSED_FROM_STRING:
            convert = ops.caster(T.STRING, target)
            assert convert is not None
            return convert(text)
    except (ValueError, ArithmeticError):
        pass
    raise PlanError(f'invalid input syntax for type {base.value}: "{text}".', "codegen")


def literal_as(value: Any, src: T.SqlType, target: T.SqlType) -> Any:
    """A non-string literal's value converted to `target` (the LAX rules)."""
    if target.base is B.STRING:
        return ops.java_str(value)
    convert = ops.caster(src, target)
    return value if convert is None else convert(value)


class _Mismatch(PlanError):
    """An element that does not convert to the list's type (ksqlDB's InvalidCoercion)."""


def _mismatch(e: ast.Expr, t: T.SqlType | None, target: T.SqlType) -> _Mismatch:
    return _Mismatch(
        f"operator does not exist: {type_name(target)} = {type_name(t)} ({format_expr(e)})"
        "\nHint: You might need to add explicit type casts.",
        "codegen",
    )


class ElementTyper(Protocol):
    """What coercion needs of the expression typer (planner.typing.Typer): element types,
    and its notes of node types and coerced literal values (by node id)."""

    types: dict[int, T.SqlType | None]
    literals: dict[int, Any]

    def infer(self, e: ast.Expr) -> T.SqlType | None: ...


class ListCoercer:
    """Finds a list's common type with the Typer's element types and records the
    conversions of its literals (in `typer.literals` / `typer.types`)."""

    def __init__(self, typer: ElementTyper) -> None:
        self.typer = typer

    def unify(self, exprs: list[ast.Expr]) -> T.SqlType | None:
        """The common type of `exprs` (None if all are NULL); every element coerced to it."""
        common: T.SqlType | None = None
        for e in exprs:
            t = self.typer.infer(e)
            if common is None:
                common = t
            elif t is not None:
                common = self.common_with(e, t, common)
        if common is not None:
            for e in exprs:
                self.coerce(e, common)
        return common

    def common_with(self, e: ast.Expr, t: T.SqlType, target: T.SqlType) -> T.SqlType:
        """The common type of `target` and element `e` (of type t)."""
        if isinstance(e, ast.ArrayConstructor):
            if not isinstance(target, T.Array):
                raise _mismatch(e, t, target)
            return T.Array(self._nested(e, t, target, target.element, list(e.items)))
        if isinstance(e, ast.MapConstructor):
            if not isinstance(target, T.Map):
                raise _mismatch(e, t, target)
            key = self._nested(e, t, target, target.key, [k for k, _ in e.entries])
            return T.Map(key, self._nested(e, t, target, target.value, [v for _, v in e.entries]))
        if isinstance(e, ast.StructConstructor):
            if not isinstance(target, T.Struct):
                raise _mismatch(e, t, target)
            return self._struct(e, t, target)
        if isinstance(e, ast.Literal) and isinstance(e.value, str):
            if target.is_numeric:
                return _numeric_from_string(e.value, target)
            if target.base is B.BOOLEAN:
                parse_literal(e.value, target)
                return target
        lax = isinstance(e, ast.Literal)
        common = can_coerce(t, target, lax) or can_coerce(target, t, lax)
        if common is None:
            raise _mismatch(e, t, target)
        return common

    def _nested(
        self,
        outer: ast.Expr,
        outer_type: T.SqlType,
        outer_target: T.SqlType,
        target: T.SqlType,
        items: list[ast.Expr],
    ) -> T.SqlType:
        """The common type of a constructor's items and the matching part of the target; a
        mismatch inside is reported on the constructor as a whole."""
        common = target
        try:
            for item in items:
                t = self.typer.infer(item)
                if t is not None:
                    common = self.common_with(item, t, common)
        except _Mismatch:
            raise _mismatch(outer, outer_type, outer_target) from None
        return common

    def _struct(self, e: ast.StructConstructor, t: T.SqlType, target: T.Struct) -> T.Struct:
        values = dict(e.fields)
        names = list(dict.fromkeys([n for n, _ in e.fields] + [f.name for f in target.fields]))
        fields = []
        for name in names:
            target_field = target.field(name)
            value = values.get(name)
            value_type = None if value is None else self.typer.infer(value)
            if target_field is None:
                fields.append(T.Field(name, value_type or T.STRING))
            elif value is None or value_type is None:
                fields.append(target_field)
            else:
                common = self._nested(e, t, target, target_field.type, [value])
                fields.append(T.Field(name, common))
        return T.Struct(tuple(fields))

    def coerce(self, e: ast.Expr, target: T.SqlType) -> None:
        """Mark `e` as producing `target`: literals are converted now, constructors element-
        wise; other expressions are converted by codegen at their use."""
        types, literals = self.typer.types, self.typer.literals
        if isinstance(e, ast.Literal) and e.value is not None and e.type != target:
            if isinstance(e.value, str):
                literals[id(e)] = parse_literal(e.value, target)
            else:
                assert e.type is not None
                literals[id(e)] = literal_as(e.value, e.type, target)
            types[id(e)] = target
        elif isinstance(e, ast.ArrayConstructor) and isinstance(target, T.Array):
            for item in e.items:
                self.coerce(item, target.element)
            types[id(e)] = target
        elif isinstance(e, ast.MapConstructor) and isinstance(target, T.Map):
            for k, v in e.entries:
                self.coerce(k, target.key)
                self.coerce(v, target.value)
            types[id(e)] = target
        elif isinstance(e, ast.StructConstructor) and isinstance(target, T.Struct):
            for name, value in e.fields:
                field = target.field(name)
                if field is not None:
                    self.coerce(value, field.type)
            types[id(e)] = target


def _numeric_from_string(text: str, target: T.SqlType) -> T.SqlType:
    try:
        source = string_numeric_type(text)
    except ValueError:
        raise PlanError(
            f'invalid input syntax for type {target.base.value}: "{text}".', "codegen"
        ) from None
    if B.DOUBLE in (source.base, target.base):
        return T.DOUBLE
    if B.DECIMAL in (source.base, target.base):
        widened = T.widen_numeric(source, target)
        assert widened is not None
        return widened
    return (
        target if _NUMERIC_ORDER.index(source.base) <= _NUMERIC_ORDER.index(target.base) else source
    )
