"""Expressions back to SQL text, as ksqlDB prints them in messages and EXPLAIN output."""

from __future__ import annotations

from functools import singledispatch

from grammar import ast
from grammar.rewrite import transform
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


def _qualified(e: ast.Expr, source: str) -> ast.Expr:
    """`e` with its column references qualified by `source` (lambda bodies as written)."""

    def visit(x: ast.Expr) -> ast.Expr | None:
        if isinstance(x, ast.Lambda):
            return x
        if isinstance(x, ast.ColumnRef) and x.source is None:
            return ast.ColumnRef(x.name, source)
        return None

    return transform(e, visit)


def format_create_as_select(stmt: ast.CreateAsSelect, names: list[str]) -> str | None:
    """The statement as ksqlDB prints it once rewritten (its error messages show this
    text): every select item aliased by its output name (`names`, in select order), columns
    qualified by their source's alias, one clause a line. None for the forms this does not
    print (joins, windows, `*`), whose messages keep the statement as written."""
    query = stmt.query
    source = query.from_
    if (
        not isinstance(source, ast.SourceRef)
        or query.window is not None
        or len(names) != len(query.select)
        or not all(isinstance(i, ast.SelectColumn) for i in query.select)
    ):
        return None
    alias = source.alias or source.name
    replace = " OR REPLACE" if stmt.or_replace else ""
    exists = " IF NOT EXISTS" if stmt.if_not_exists else ""
    head = f"CREATE{replace} {stmt.kind}{exists} {_quoted(stmt.name)}"
    if stmt.properties:
        props = ", ".join(f"{k}={format_expr(v)}" for k, v in sorted(stmt.properties.items()))
        head += f" WITH ({props})"
    items = [
        f"  {format_expr(_qualified(item.expr, alias))} {_quoted(name)}"
        for item, name in zip(query.select, names, strict=True)
        if isinstance(item, ast.SelectColumn)
    ]
    lines = [
        f"{head} AS SELECT",
        ",\n".join(items),
        f"FROM {_quoted(source.name)} {_quoted(alias)}",
    ]
    if query.where is not None:
        lines.append(f"WHERE {format_expr(_qualified(query.where, alias))}")
    if query.group_by:
        lines.append(
            "GROUP BY " + ", ".join(format_expr(_qualified(g, alias)) for g in query.group_by)
        )
    if query.partition_by:
        partition = ", ".join(format_expr(_qualified(p, alias)) for p in query.partition_by)
        lines.append(f"PARTITION BY {partition}")
    if query.having is not None:
        lines.append(f"HAVING {format_expr(_qualified(query.having, alias))}")
    lines.append(f"EMIT {query.emit or 'CHANGES'}")
    return "\n".join(lines)
