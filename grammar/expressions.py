"""Building grammar.ast nodes from Lark parse trees: the shared base (positions, names,
literal typing) and the expression, literal and type rules. Statement rules build on it in
grammar.transform."""

from __future__ import annotations

import sys
from dataclasses import replace
from decimal import Decimal as PyDecimal
from typing import Any

from lark import Token, Transformer, v_args
from lark.tree import Meta

from grammar import ast
from sqlengine import types as T

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
DOUBLE_MAX = PyDecimal(sys.float_info.max)

UNIT_NAMES: dict[str, str] = {
    "MILLISECOND": "MILLISECOND",
    "MILLISECONDS": "MILLISECOND",
    "SECOND": "SECOND",
    "SECONDS": "SECOND",
    "MINUTE": "MINUTE",
    "MINUTES": "MINUTE",
    "HOUR": "HOUR",
    "HOURS": "HOUR",
    "DAY": "DAY",
    "DAYS": "DAY",
}


class BuildError(Exception):
    """A statement that is well-formed but invalid (ksqlDB reports these as parse failures).
    `message` is the full text in ksqlDB's words; line/column locate the offending part."""

    def __init__(self, message: str, line: int, column: int, token: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.token = token


def unquote(text: str, quote: str) -> str:
    return text[1:-1].replace(quote * 2, quote)


def identifier_text(token: Token) -> str:
    if token.type == "QUOTED_IDENTIFIER":
        return unquote(token.value, '"')
    if token.type == "BACKQUOTED_IDENTIFIER":
        return unquote(token.value, "`")
    return token.value.upper()  # IDENTIFIER, DIGIT_IDENTIFIER


def decimal_type(value: PyDecimal) -> T.Decimal:
    """ksqlDB's DecimalUtil.fromValue: BigDecimal precision, but at least scale + 1 below 1."""
    _sign, digits, exponent = value.as_tuple()
    scale = max(-int(exponent), 0)
    if abs(value) < 1:
        return T.Decimal(scale + 1, scale)
    precision = len(digits) + max(int(exponent), 0)
    return T.Decimal(precision, scale)


@v_args(meta=True)
class ExpressionBuilder(Transformer):
    """Lark transformer producing grammar.ast expression nodes; `line`/`column` locate the
    statement in its script, so every node's position is absolute."""

    def __init__(self, text: str, line: int = 1, column: int = 1) -> None:
        super().__init__()
        self._text = text
        self._line = line
        self._column = column
        # `-` folds into a number literal written right after it (ksqlDB's grammar reads
        # `-5` as one literal, so -2147483648 is an INT), never into `-(5)`.
        self._parenthesized: set[int] = set()
        self._number_text: dict[int, str] = {}
        # Integer literals too big for BIGINT, unless a `-` before them makes them fit.
        self._overflows: dict[int, BuildError] = {}

    # ------------------------------------------------------------------ positions

    def absolute(self, line: int, column: int) -> tuple[int, int]:
        """The position in the script of a position in this statement's text."""
        if line == 1:
            column += self._column - 1
        return line + self._line - 1, column

    def _at(self, line: int, column: int) -> dict[str, int]:
        line, column = self.absolute(line, column)
        return {"line": line, "column": column}

    def _pos(self, meta: Meta) -> dict[str, int]:
        if meta.empty:
            return {"line": self._line, "column": self._column}
        return self._at(meta.line, meta.column)

    def _tok_pos(self, token: Token) -> dict[str, int]:
        return self._at(token.line or 1, token.column or 1)

    # ------------------------------------------------------------------ entry points

    def start(self, meta: Meta, c: list[Any]) -> ast.Statement:
        self._raise_overflow()
        return replace(c[0], text=self._text)

    def expression_start(self, meta: Meta, c: list[Any]) -> ast.Expr:
        self._raise_overflow()
        return c[0]

    def _raise_overflow(self) -> None:
        if self._overflows:
            raise next(iter(self._overflows.values()))

    # ------------------------------------------------------------------ expressions

    def _binary(self, op: str, meta: Meta, left: ast.Expr, right: ast.Expr) -> ast.BinaryOp:
        return ast.BinaryOp(op=op, left=left, right=right, **self._pos(meta))

    def or_(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        return self._binary("OR", meta, c[0], c[1])

    def and_(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        return self._binary("AND", meta, c[0], c[1])

    def not_(self, meta: Meta, c: list[Any]) -> ast.UnaryOp:
        return ast.UnaryOp(op="NOT", operand=c[0], **self._pos(meta))

    def comparison(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        left, op, right = c
        return self._binary("<>" if op.value == "!=" else op.value, meta, left, right)

    def binary(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        left, op, right = c
        return self._binary(op.value, meta, left, right)

    def between(self, meta: Meta, c: list[Any]) -> ast.Between:
        value, negated, low, high = c
        return ast.Between(
            value=value, low=low, high=high, negated=negated is not None, **self._pos(meta)
        )

    def in_list(self, meta: Meta, c: list[Any]) -> ast.InList:
        value, negated, *items = c
        return ast.InList(
            value=value, items=tuple(items), negated=negated is not None, **self._pos(meta)
        )

    def like(self, meta: Meta, c: list[Any]) -> ast.Like:
        value, negated, pattern, escape = c
        return ast.Like(
            value=value,
            pattern=pattern,
            escape=unquote(escape.value, "'") if escape is not None else None,
            negated=negated is not None,
            **self._pos(meta),
        )

    def is_null(self, meta: Meta, c: list[Any]) -> ast.IsNull:
        return ast.IsNull(value=c[0], negated=c[1] is not None, **self._pos(meta))

    def is_distinct(self, meta: Meta, c: list[Any]) -> ast.BinaryOp:
        left, negated, right = c
        op = "IS NOT DISTINCT FROM" if negated is not None else "IS DISTINCT FROM"
        return self._binary(op, meta, left, right)

    def negate(self, meta: Meta, c: list[Any]) -> ast.Expr:
        operand = c[1]
        if isinstance(operand, ast.Literal) and id(operand) not in self._parenthesized:
            text = self._number_text.get(id(operand))
            if text is not None:
                self._overflows.pop(id(operand), None)
                return self._number(text, negative=True, **self._pos(meta))
        return ast.UnaryOp(op="-", operand=operand, **self._pos(meta))

    def plus(self, meta: Meta, c: list[Any]) -> ast.UnaryOp:
        return ast.UnaryOp(op="+", operand=c[1], **self._pos(meta))

    def subscript(self, meta: Meta, c: list[Any]) -> ast.Subscript:
        return ast.Subscript(base=c[0], index=c[1], **self._pos(meta))

    def dereference(self, meta: Meta, c: list[Any]) -> ast.Dereference:
        return ast.Dereference(base=c[0], field_name=c[1], **self._pos(meta))

    def paren(self, meta: Meta, c: list[Any]) -> ast.Expr:
        self._parenthesized.add(id(c[0]))
        return c[0]

    def tuple(self, meta: Meta, c: list[Any]) -> tuple[ast.Expr, ...]:
        return tuple(c)

    def column_ref(self, meta: Meta, c: list[Any]) -> ast.ColumnRef:
        return ast.ColumnRef(name=c[0], **self._pos(meta))

    def keyword_column(self, meta: Meta, c: list[Token]) -> ast.ColumnRef:
        return ast.ColumnRef(name=c[0].value.upper(), **self._pos(meta))

    def qualified_column_ref(self, meta: Meta, c: list[Any]) -> ast.ColumnRef:
        return ast.ColumnRef(name=c[1], source=c[0], **self._pos(meta))

    def count_star(self, meta: Meta, c: list[Any]) -> ast.FunctionCall:
        return ast.FunctionCall(name=c[0], args=(), star=True, **self._pos(meta))

    def function_call(self, meta: Meta, c: list[Any]) -> ast.FunctionCall:
        name, distinct, *args = c
        return ast.FunctionCall(
            name=name,
            args=tuple(a for a in args if a is not None),
            distinct=distinct is not None,
            **self._pos(meta),
        )

    def interval_unit(self, meta: Meta, c: list[Any]) -> ast.IntervalUnit:
        return ast.IntervalUnit(unit=UNIT_NAMES[c[0]], **self._pos(meta))

    def lambda_one(self, meta: Meta, c: list[Any]) -> ast.Lambda:
        return ast.Lambda(params=(c[0],), body=c[1], **self._pos(meta))

    def lambda_paren(self, meta: Meta, c: list[Any]) -> ast.Lambda:
        return ast.Lambda(params=(self._lambda_param(c[0]),), body=c[1], **self._pos(meta))

    def lambda_many(self, meta: Meta, c: list[Any]) -> ast.Lambda:
        params = tuple(self._lambda_param(p) for p in c[0])
        return ast.Lambda(params=params, body=c[1], **self._pos(meta))

    @staticmethod
    def _lambda_param(expr: ast.Expr) -> str:
        if isinstance(expr, ast.ColumnRef) and expr.source is None:
            return expr.name
        raise BuildError("Syntax Error\nExpecting {IDENTIFIER}", expr.line, expr.column)

    def simple_case(self, meta: Meta, c: list[Any]) -> ast.Case:
        operand, *whens, default = c
        return ast.Case(operand=operand, whens=tuple(whens), default=default, **self._pos(meta))

    def searched_case(self, meta: Meta, c: list[Any]) -> ast.Case:
        *whens, default = c
        return ast.Case(operand=None, whens=tuple(whens), default=default, **self._pos(meta))

    def when_clause(self, meta: Meta, c: list[Any]) -> ast.WhenClause:
        return ast.WhenClause(condition=c[0], result=c[1], **self._pos(meta))

    def cast(self, meta: Meta, c: list[Any]) -> ast.Cast:
        return ast.Cast(expr=c[0], target=c[1], **self._pos(meta))

    def array_constructor(self, meta: Meta, c: list[Any]) -> ast.ArrayConstructor:
        items = tuple(i for i in c if i is not None)
        return ast.ArrayConstructor(items=items, **self._pos(meta))

    def map_constructor(self, meta: Meta, c: list[Any]) -> ast.MapConstructor:
        entries = tuple(e for e in c if e is not None)
        return ast.MapConstructor(entries=entries, **self._pos(meta))

    def map_entry(self, meta: Meta, c: list[Any]) -> tuple[ast.Expr, ast.Expr]:
        return (c[0], c[1])

    def struct_constructor(self, meta: Meta, c: list[Any]) -> ast.StructConstructor:
        fields = tuple(f for f in c if f is not None)
        return ast.StructConstructor(fields=fields, **self._pos(meta))

    def struct_field(self, meta: Meta, c: list[Any]) -> tuple[str, ast.Expr]:
        return (c[0], c[1])

    # ------------------------------------------------------------------ literals

    def null(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal(value=None, type=None, **self._pos(meta))

    def true(self, meta: Meta, c: list[Token]) -> ast.Literal:
        return ast.Literal(value=True, type=T.BOOLEAN, **self._pos(meta))

    def false(self, meta: Meta, c: list[Token]) -> ast.Literal:
        return ast.Literal(value=False, type=T.BOOLEAN, **self._pos(meta))

    def string(self, meta: Meta, c: list[Token]) -> ast.Literal:
        return ast.Literal(value=unquote(c[0].value, "'"), type=T.STRING, **self._pos(meta))

    def _number_token(self, meta: Meta, c: list[Token]) -> ast.Literal:
        text, pos = c[0].value, self._tok_pos(c[0])
        try:
            literal = self._number(text, negative=False, **pos)
        except BuildError as e:
            literal = ast.Literal(value=None, type=None, **pos)
            self._overflows[id(literal)] = e
        self._number_text[id(literal)] = text
        return literal

    integer = decimal = double = _number_token

    def _number(self, text: str, negative: bool, line: int, column: int) -> ast.Literal:
        signed = "-" + text if negative else text
        pos = {"line": line, "column": column}
        if "E" in text.upper():
            if abs(PyDecimal(text)) > DOUBLE_MAX:
                raise BuildError(f"Number overflows DOUBLE: {signed}", line, column, signed)
            value = float(signed)
            return ast.Literal(value=value, type=T.DOUBLE, **pos)
        if "." in text:
            number = PyDecimal(signed)
            return ast.Literal(value=number, type=decimal_type(number), **pos)
        number = int(signed)
        if INT_MIN <= number <= INT_MAX:
            return ast.Literal(value=number, type=T.INTEGER, **pos)
        if BIGINT_MIN <= number <= BIGINT_MAX:
            return ast.Literal(value=number, type=T.BIGINT, **pos)
        # ksqlDB prints AST-stage error positions one column to the right.
        raise BuildError(
            f"Failed to prepare statement: line {line}:{column + 1}: "
            f"Invalid numeric literal: {signed}",
            line,
            column,
            signed,
        )

    # ------------------------------------------------------------------ types

    def _type(self, meta: Meta, sql_type: T.SqlType) -> ast.TypeRef:
        return ast.TypeRef(sql_type=sql_type, **self._pos(meta))

    def _nested(self, ref: ast.TypeRef) -> T.SqlType:
        """A type inside another: a custom type stays a name until the catalog resolves it."""
        if ref.sql_type is None:
            assert ref.custom_name is not None
            return T.CustomType(ref.custom_name)
        return ref.sql_type

    # The type rules' children include the `<` and `>` tokens.

    def array_type(self, meta: Meta, c: list[Any]) -> ast.TypeRef:
        (element,) = child_nodes(c)
        return self._type(meta, T.Array(self._nested(element)))

    postfix_array_type = array_type

    def map_type(self, meta: Meta, c: list[Any]) -> ast.TypeRef:
        key, value = (self._nested(t) for t in child_nodes(c))
        return self._type(meta, T.Map(key, value))

    def struct_type(self, meta: Meta, c: list[Any]) -> ast.TypeRef:
        fields = tuple(
            T.Field(name, self._nested(ref)) for name, ref in (f for f in c if isinstance(f, tuple))
        )
        return self._type(meta, T.Struct(fields))

    def struct_type_field(self, meta: Meta, c: list[Any]) -> tuple[str, ast.TypeRef]:
        return (c[0], c[1])

    def decimal_type(self, meta: Meta, c: list[Token]) -> ast.TypeRef:
        return self._type(meta, T.Decimal(int(c[0]), int(c[1])))

    def named_type(self, meta: Meta, c: list[Any]) -> ast.TypeRef:
        name = c[0]
        primitive = T.PRIMITIVE_NAMES.get(name)
        if primitive is not None:
            return self._type(meta, primitive)
        return ast.TypeRef(custom_name=name, **self._pos(meta))

    def type_parameter(self, meta: Meta, c: list[Token]) -> str:
        return c[0].value if c else "STRING"


def child_nodes(children: list[Any]) -> list[Any]:
    return [c for c in children if not isinstance(c, Token)]
