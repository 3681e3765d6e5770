"""Expressions back to SQL text, as ksqlDB prints them in messages and EXPLAIN output."""

from __future__ import annotations

from functools import singledispatch

from grammar import ast
from sqlengine import types as T
from sqlengine.javatext import java_double_str


@singledispatch
def format_expr(e: ast.Expr) -> str:
    raise TypeError(f"cannot print {type(e).__name__}")


@format_expr.register
def _(e: ast.Literal) -> str:
    if e.value is None:
        return "null"
    if isinstance(e.value, bool):
        return "true" if e.value else "false"
    if isinstance(e.value, str):
        return "'" + e.value.replace("'", "''") + "'"
    if isinstance(e.value, float):
        return java_double_str(e.value)
    return str(e.value)


def _quoted(name: str) -> str:
    """Expressions print with reserved words bare (as ksqlDB's messages show them)."""
    return T.quote_identifier(name, frozenset())


@format_expr.register
def _(e: ast.ColumnRef) -> str:
    name = _quoted(e.name)
    return f"{e.source}.{name}" if e.source else name


@format_expr.register
def _(e: ast.Dereference) -> str:
    return f"{format_expr(e.base)}->{_quoted(e.field_name)}"


@format_expr.register
def _(e: ast.Subscript) -> str:
    return f"{format_expr(e.base)}[{format_expr(e.index)}]"


@format_expr.register
def _(e: ast.IntervalUnit) -> str:
    return e.unit + "S"


@format_expr.register
def _(e: ast.Lambda) -> str:
    params = e.params[0] if len(e.params) == 1 else "(" + ", ".join(e.params) + ")"
    return f"{params} => {format_expr(e.body)}"


@format_expr.register
def _(e: ast.FunctionCall) -> str:
    if e.star:
        return f"{e.name}(*)"
    prefix = "DISTINCT " if e.distinct else ""
    return f"{e.name}({prefix}{', '.join(format_expr(a) for a in e.args)})"


@format_expr.register
def _(e: ast.BinaryOp) -> str:
    return f"({format_expr(e.left)} {e.op} {format_expr(e.right)})"


@format_expr.register
def _(e: ast.UnaryOp) -> str:
    if e.op == "NOT":
        return f"(NOT {format_expr(e.operand)})"
    return f"{e.op}{format_expr(e.operand)}"


@format_expr.register
def _(e: ast.Like) -> str:
    neg = "NOT " if e.negated else ""
    esc = f" ESCAPE '{e.escape}'" if e.escape else ""
    return f"({format_expr(e.value)} {neg}LIKE {format_expr(e.pattern)}{esc})"


@format_expr.register
def _(e: ast.Between) -> str:
    neg = "NOT " if e.negated else ""
    return f"({format_expr(e.value)} {neg}BETWEEN {format_expr(e.low)} AND {format_expr(e.high)})"


@format_expr.register
def _(e: ast.InList) -> str:
    neg = "NOT " if e.negated else ""
    return f"({format_expr(e.value)} {neg}IN ({', '.join(format_expr(i) for i in e.items)}))"


@format_expr.register
def _(e: ast.IsNull) -> str:
    return f"({format_expr(e.value)} IS {'NOT ' if e.negated else ''}NULL)"


@format_expr.register
def _(e: ast.Case) -> str:
    parts = ["(CASE"]
    if e.operand is not None:
        parts.append(format_expr(e.operand))
    for w in e.whens:
        parts.append(f"WHEN {format_expr(w.condition)} THEN {format_expr(w.result)}")
    if e.default is not None:
        parts.append(f"ELSE {format_expr(e.default)}")
    parts.append("END)")
    return " ".join(parts)


@format_expr.register
def _(e: ast.Cast) -> str:
    return f"CAST({format_expr(e.expr)} AS {format_type(e.target)})"


@format_expr.register
def _(e: ast.ArrayConstructor) -> str:
    return "ARRAY[" + ", ".join(format_expr(i) for i in e.items) + "]"


@format_expr.register
def _(e: ast.MapConstructor) -> str:
    return "MAP(" + ", ".join(f"{format_expr(k)}:={format_expr(v)}" for k, v in e.entries) + ")"


@format_expr.register
def _(e: ast.StructConstructor) -> str:
    inner = ", ".join(f"{_quoted(n)}:={format_expr(v)}" for n, v in e.fields)
    return f"STRUCT({inner})"


def format_type(t: ast.TypeRef) -> str:
    """A type as ksqlDB prints it inside expressions (INTEGER rather than INT)."""
    if t.custom_name is not None:
        return t.custom_name
    assert t.sql_type is not None
    return T.long_name(t.sql_type)
