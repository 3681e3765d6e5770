"""Builds grammar.ast nodes from Lark parse trees of grammar/ksql.lark.

One AstBuilder per statement: it shifts positions by the statement's offset in the script,
so every node's line/column is absolute. Errors found while building (bad literals,
KEY vs PRIMARY KEY) are raised as BuildError and turned into ParseError by the caller.
"""

from __future__ import annotations

import re
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
class AstBuilder(Transformer):
    """Lark transformer producing grammar.ast nodes. `line`/`column` locate the statement."""

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

    # ------------------------------------------------------------------ names

    def identifier(self, meta: Meta, c: list[Token]) -> str:
        return identifier_text(c[0])

    def source_name(self, meta: Meta, c: list[str]) -> str:
        return c[0]

    def resource_name(self, meta: Meta, c: list[Any]) -> str:
        value = c[0]
        if isinstance(value, Token):
            return unquote(value.value, "'")
        return value

    def column_list(self, meta: Meta, c: list[str]) -> tuple[str, ...]:
        return tuple(c)

    def _keyword(self, meta: Meta, c: list[Token]) -> str:
        return " ".join(t.value.upper() for t in c if t is not None)

    show_what = describe_what = stream_or_table = pause_or_resume = _keyword
    emit = time_unit = time_unit_arg = _keyword

    def or_replace(self, meta: Meta, c: list[Any]) -> bool:
        return True

    source = if_not_exists = if_exists = not_exists = or_replace
    extended = negated = distinct = from_beginning = delete_topic = or_replace

    # ------------------------------------------------------------------ statements

    def select_statement(self, meta: Meta, c: list[Any]) -> ast.SelectStatement:
        return ast.SelectStatement(query=c[0], **self._pos(meta))

    def show(self, meta: Meta, c: list[Any]) -> ast.Show:
        return ast.Show(what=c[0], extended=c[1] is not None, **self._pos(meta))

    def show_all_topics(self, meta: Meta, c: list[Any]) -> ast.Show:
        return ast.Show(
            what="TOPICS", extended=c[0] is not None, all_topics=True, **self._pos(meta)
        )

    def describe(self, meta: Meta, c: list[Any]) -> ast.Describe:
        return ast.Describe(name=c[0], extended=c[1] is not None, **self._pos(meta))

    def describe_all(self, meta: Meta, c: list[Any]) -> ast.Describe:
        return ast.Describe(name=None, what=c[0], extended=c[1] is not None, **self._pos(meta))

    def describe_function(self, meta: Meta, c: list[Any]) -> ast.DescribeFunction:
        return ast.DescribeFunction(name=c[0], **self._pos(meta))

    def print_topic(self, meta: Meta, c: list[Any]) -> ast.Print:
        topic, beginning, interval, limit = c
        return ast.Print(
            topic=topic,
            from_beginning=beginning is not None,
            interval=interval,
            limit=limit,
            **self._pos(meta),
        )

    def interval_clause(self, meta: Meta, c: list[Token]) -> int:
        return int(c[0])

    def limit_clause(self, meta: Meta, c: list[Token | None]) -> int:
        minus, value = c
        return -int(value) if minus is not None else int(value)

    def terminate(self, meta: Meta, c: list[Any]) -> ast.Terminate:
        return ast.Terminate(query_id=c[0], **self._pos(meta))

    def terminate_all(self, meta: Meta, c: list[Any]) -> ast.Terminate:
        return ast.Terminate(query_id=None, **self._pos(meta))

    def pause_resume(self, meta: Meta, c: list[Any]) -> ast.PauseResume:
        return ast.PauseResume(action=c[0], query_id=c[1], **self._pos(meta))

    def pause_resume_all(self, meta: Meta, c: list[Any]) -> ast.PauseResume:
        return ast.PauseResume(action=c[0], query_id=None, **self._pos(meta))

    def set_property(self, meta: Meta, c: list[Token]) -> ast.SetProperty:
        name, value = (unquote(t.value, "'") for t in (c[0], c[2]))
        return ast.SetProperty(name=name, value=value, **self._pos(meta))

    def unset_property(self, meta: Meta, c: list[Token]) -> ast.UnsetProperty:
        return ast.UnsetProperty(name=unquote(c[0].value, "'"), **self._pos(meta))

    def define_variable(self, meta: Meta, c: list[Token]) -> ast.DefineVariable:
        value = unquote(c[2].value, "'")
        return ast.DefineVariable(name=c[0].value, value=value, **self._pos(meta))

    def undefine_variable(self, meta: Meta, c: list[Token]) -> ast.UndefineVariable:
        return ast.UndefineVariable(name=c[0].value, **self._pos(meta))

    def run_script(self, meta: Meta, c: list[Token]) -> ast.RunScript:
        return ast.RunScript(path=unquote(c[0].value, "'"), **self._pos(meta))

    def create_source(self, meta: Meta, c: list[Any]) -> ast.CreateSource:
        or_replace, is_source, kind, if_not_exists, name, elements, props = c
        for element in elements or ():
            self._check_key_constraint(kind, element)
        _check_window_properties(props or {}, self._pos(meta))
        return ast.CreateSource(
            kind=kind,
            name=name,
            elements=tuple(elements or ()),
            properties=props or {},
            or_replace=bool(or_replace),
            if_not_exists=bool(if_not_exists),
            is_source=bool(is_source),
            **self._pos(meta),
        )

    @staticmethod
    def _check_key_constraint(kind: str, element: ast.TableElement) -> None:
        wrong = {"TABLE": "KEY", "STREAM": "PRIMARY KEY"}[kind]
        if element.constraint == wrong:
            right = "PRIMARY KEY" if wrong == "KEY" else "KEY"
            message = (
                f"Line: {element.line}, Col: {element.column}: Column `{element.name}` "
                f"is a '{wrong}' column: please use '{right}' for {kind.lower()}s."
            )
            raise BuildError(message, element.line, element.column, element.name)

    def create_as_select(self, meta: Meta, c: list[Any]) -> ast.CreateAsSelect:
        or_replace, kind, if_not_exists, name, props, query = c
        return ast.CreateAsSelect(
            kind=kind,
            name=name,
            query=query,
            properties=props or {},
            or_replace=bool(or_replace),
            if_not_exists=bool(if_not_exists),
            **self._pos(meta),
        )

    def insert_into(self, meta: Meta, c: list[Any]) -> ast.InsertInto:
        target, props, query = c
        return ast.InsertInto(target=target, query=query, properties=props or {}, **self._pos(meta))

    def insert_values(self, meta: Meta, c: list[Any]) -> ast.InsertValues:
        target, columns, *values = c
        exprs = tuple(v for v in values if v is not None)
        return ast.InsertValues(target=target, columns=columns, values=exprs, **self._pos(meta))

    def drop_source(self, meta: Meta, c: list[Any]) -> ast.DropSource:
        kind, if_exists, name, delete_topic = c
        return ast.DropSource(
            kind=kind,
            name=name,
            if_exists=bool(if_exists),
            delete_topic=delete_topic is not None,
            **self._pos(meta),
        )

    def drop_type(self, meta: Meta, c: list[Any]) -> ast.DropType:
        return ast.DropType(name=c[1], if_exists=bool(c[0]), **self._pos(meta))

    def create_type(self, meta: Meta, c: list[Any]) -> ast.CreateType:
        if_not_exists, name, type_ref = c
        return ast.CreateType(
            name=name, type=type_ref, if_not_exists=bool(if_not_exists), **self._pos(meta)
        )

    def alter_source(self, meta: Meta, c: list[Any]) -> ast.AlterSource:
        kind, name, *added = c
        return ast.AlterSource(kind=kind, name=name, added=tuple(added), **self._pos(meta))

    def alter_option(self, meta: Meta, c: list[Any]) -> ast.TableElement:
        name, type_ref = c
        return ast.TableElement(name=name, type=type_ref, **self._pos(meta))

    def explain_statement(self, meta: Meta, c: list[Any]) -> ast.Explain:
        inner = replace(c[0], text=re.sub(r"^EXPLAIN\s+", "", self._text, flags=re.I))
        return ast.Explain(statement=inner, **self._pos(meta))

    def explain_query(self, meta: Meta, c: list[Any]) -> ast.Explain:
        return ast.Explain(query_id=c[0], **self._pos(meta))

    def assert_topic(self, meta: Meta, c: list[Any]) -> ast.AssertTopic:
        not_exists, topic, props, timeout = c
        return ast.AssertTopic(
            topic=topic,
            properties=props or {},
            exists=not not_exists,
            timeout=timeout,
            **self._pos(meta),
        )

    def assert_schema(self, meta: Meta, c: list[Any]) -> ast.AssertSchema:
        not_exists, subject, schema_id, timeout = c
        return ast.AssertSchema(
            subject=subject,
            schema_id=int(schema_id) if schema_id is not None else None,
            exists=not not_exists,
            timeout=timeout,
            **self._pos(meta),
        )

    def timeout(self, meta: Meta, c: list[Any]) -> ast.Duration:
        return c[0]

    # ------------------------------------------------------------------ columns and properties

    def table_elements(self, meta: Meta, c: list[ast.TableElement]) -> tuple[ast.TableElement, ...]:
        return tuple(c)

    def table_element(self, meta: Meta, c: list[Any]) -> ast.TableElement:
        name, type_ref, constraint = c
        kind, header_key = constraint if constraint is not None else (None, None)
        return ast.TableElement(
            name=name, type=type_ref, constraint=kind, header_key=header_key, **self._pos(meta)
        )

    def key_constraint(self, meta: Meta, c: list[Any]) -> tuple[str, None]:
        return ("KEY", None)

    def primary_key_constraint(self, meta: Meta, c: list[Any]) -> tuple[str, None]:
        return ("PRIMARY KEY", None)

    def headers_constraint(self, meta: Meta, c: list[Any]) -> tuple[str, None]:
        return ("HEADERS", None)

    def header_constraint(self, meta: Meta, c: list[Token]) -> tuple[str, str]:
        return ("HEADER", unquote(c[0].value, "'"))

    def with_properties(
        self, meta: Meta, c: list[tuple[str, ast.Literal]]
    ) -> dict[str, ast.Literal]:
        return dict(c)

    def property(self, meta: Meta, c: list[Any]) -> tuple[str, ast.Literal]:
        key, _eq, value = c
        name = unquote(key.value, "'") if isinstance(key, Token) else key
        return name.upper(), value

    # ------------------------------------------------------------------ queries

    def query(self, meta: Meta, c: list[Any]) -> ast.Query:
        *items, relation, window, where, group_by, partition_by, having, emit, limit = c
        return ast.Query(
            select=tuple(items),
            from_=relation,
            window=window,
            where=where,
            group_by=group_by or (),
            partition_by=partition_by,
            having=having,
            emit=emit.split()[-1] if emit else None,
            limit=limit,
            **self._pos(meta),
        )

    def select_column(self, meta: Meta, c: list[Any]) -> ast.SelectColumn:
        return ast.SelectColumn(expr=c[0], alias=c[1], **self._pos(meta))

    def select_struct_all(self, meta: Meta, c: list[Any]) -> ast.SelectStructAll:
        return ast.SelectStructAll(expr=c[0], **self._pos(meta))

    def select_star_of(self, meta: Meta, c: list[Any]) -> ast.SelectStar:
        return ast.SelectStar(source=c[0], **self._pos(meta))

    def select_star(self, meta: Meta, c: list[Any]) -> ast.SelectStar:
        return ast.SelectStar(**self._pos(meta))

    def where(self, meta: Meta, c: list[Any]) -> ast.Expr:
        return c[0]

    having = where

    def group_by(self, meta: Meta, c: list[Any]) -> tuple[ast.Expr, ...]:
        if len(c) == 1 and isinstance(c[0], tuple):
            return c[0]
        return tuple(c)

    partition_by = group_by

    def window(self, meta: Meta, c: list[Any]) -> ast.Window:
        return c[1]

    def _window(self, kind: str, meta: Meta, size: ast.Duration, extras: tuple, advance=None):
        retention, grace = extras
        return ast.Window(
            kind=kind,
            size=size,
            advance=advance,
            retention=retention,
            grace=grace,
            **self._pos(meta),
        )

    def tumbling(self, meta: Meta, c: list[Any]) -> ast.Window:
        return self._window("TUMBLING", meta, c[0], c[1])

    def hopping(self, meta: Meta, c: list[Any]) -> ast.Window:
        return self._window("HOPPING", meta, c[0], c[2], advance=c[1])

    def session(self, meta: Meta, c: list[Any]) -> ast.Window:
        return self._window("SESSION", meta, c[0], c[1])

    def window_extras(self, meta: Meta, c: list[Any]) -> tuple:
        return tuple(c)

    def grace_period(self, meta: Meta, c: list[Any]) -> ast.Duration:
        return c[0]

    def duration(self, meta: Meta, c: list[Any]) -> ast.Duration:
        value, unit = c
        return ast.Duration(value=int(value), unit=UNIT_NAMES[unit], **self._pos(meta))

    def aliased_relation(self, meta: Meta, c: list[Any]) -> ast.SourceRef:
        return ast.SourceRef(name=c[0], alias=c[1], **self._pos(meta))

    def join_type(self, meta: Meta, c: list[Any]) -> str:
        words = [t.value.upper() for t in c if t is not None]
        return words[0] if words else "INNER"

    def join(self, meta: Meta, c: list[Any]) -> ast.Join:
        left, kind, right, within, criteria = c
        return ast.Join(
            kind=kind, left=left, right=right, criteria=criteria, within=within, **self._pos(meta)
        )

    def within(self, meta: Meta, c: list[Any]) -> ast.Within:
        *sizes, grace = c
        before, after = (sizes[0], sizes[0]) if len(sizes) == 1 else sizes
        return ast.Within(before=before, after=after, grace=grace, **self._pos(meta))

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

    def _concrete(self, ref: ast.TypeRef, what: str) -> T.SqlType:
        if ref.sql_type is None:
            raise BuildError(
                f"Custom type {ref.custom_name} cannot be used inside {what}",
                ref.line,
                ref.column,
                ref.custom_name or "",
            )
        return ref.sql_type

    # The type rules' children include the `<` and `>` tokens.

    def array_type(self, meta: Meta, c: list[Any]) -> ast.TypeRef:
        (element,) = _nodes(c)
        return self._type(meta, T.Array(self._concrete(element, "ARRAY")))

    postfix_array_type = array_type

    def map_type(self, meta: Meta, c: list[Any]) -> ast.TypeRef:
        key, value = (self._concrete(t, "MAP") for t in _nodes(c))
        return self._type(meta, T.Map(key, value))

    def struct_type(self, meta: Meta, c: list[Any]) -> ast.TypeRef:
        fields = tuple(
            T.Field(name, self._concrete(ref, "STRUCT"))
            for name, ref in (f for f in c if isinstance(f, tuple))
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


def _nodes(children: list[Any]) -> list[Any]:
    return [c for c in children if not isinstance(c, Token)]


def _check_window_properties(props: dict[str, ast.Literal], pos: dict[str, int]) -> None:
    """WINDOW_TYPE / WINDOW_SIZE of a windowed source, checked as ksqlDB's AST builder does."""
    window_type = props.get("WINDOW_TYPE")
    window_size = props.get("WINDOW_SIZE")
    kind = str(window_type.value).upper() if window_type is not None else None
    if kind is not None and kind not in ("SESSION", "HOPPING", "TUMBLING"):
        _property_error(
            f"Invalid value {window_type.value} for property WINDOW_TYPE: "
            "String must be one of: SESSION, HOPPING, TUMBLING, null",
            pos,
        )
    if window_size is not None:
        _parse_duration(str(window_size.value), pos)
    if kind == "SESSION" and window_size is not None:
        _property_error("'WINDOW_SIZE' should not be set for SESSION windows.", pos)
    if kind in ("HOPPING", "TUMBLING") and window_size is None:
        _property_error(
            f"{kind} windows require 'WINDOW_SIZE' to be provided in the WITH clause. "
            "For example: 'WINDOW_SIZE'='10 SECONDS'",
            pos,
        )


def _parse_duration(text: str, pos: dict[str, int]) -> None:
    parts = text.split()
    prefix = f"Configuration WINDOW_SIZE is invalid: Invalid duration: '{text}'. "
    if len(parts) != 2 or not parts[0].isdigit():
        _property_error(prefix + "Expected format: '<number> <unit>'", pos)
    unit = parts[1].upper()
    if unit not in UNIT_NAMES and unit.rstrip("S") not in ("NANOSECOND", "MICROSECOND"):
        _property_error(prefix + f"Unknown time unit: '{unit}'", pos)


def _property_error(message: str, pos: dict[str, int]) -> None:
    raise BuildError(message, pos["line"], pos["column"])
