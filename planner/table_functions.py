"""Planning table functions (EXPLODE, CUBE_EXPLODE...): the flat-map stage before projection.

Each table function call in SELECT becomes an internal column (KSQL_SYNTH_n) of a FlatMapNode
that sits between the input (after WHERE and PARTITION BY) and the projection: one input row
becomes as many rows as its longest table function result, the shorter results padded with
NULL (ksqlDB zips them). The select expressions are rewritten to read those columns, so the
projection is an ordinary stage over the input's columns plus the internal ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grammar import ast
from grammar.printer import format_expr
from grammar.rewrite import transform, walk
from planner.errors import PlanError
from planner.logical import PlanNode
from planner.scope import Column, Scope
from planner.typing import infer_type
from sqlengine.functions.registry import FunctionError, Resolved
from sqlengine.table_functions import is_table_function, table_function


@dataclass
class TableFunctionCall:
    call: ast.FunctionCall
    column: str  # the internal column holding one element of its result per output row
    resolved: Resolved  # the overload; `resolved.impl(*args)` returns the list of values


@dataclass
class FlatMapNode(PlanNode):
    """Rows out are the input row's columns followed by one column per table function call."""

    input: PlanNode | None = None
    calls: list[TableFunctionCall] = field(default_factory=list)

    def children(self) -> list[PlanNode]:
        return [self.input] if self.input else []

    def describe(self) -> str:
        return "FLAT_MAP " + ", ".join(format_expr(c.call) for c in self.calls)


def has_table_functions(exprs: list[ast.Expr]) -> bool:
    return any(
        isinstance(e, ast.FunctionCall) and is_table_function(e.name)
        for expr in exprs
        for e in walk(expr)
    )


def plan_flat_map(
    items: list[tuple[str, ast.Expr, bool]], node: PlanNode, source_kind: str
) -> tuple[list[tuple[str, ast.Expr, bool]], PlanNode]:
    """The select items rewritten over a FlatMapNode on top of `node`, and that node; the
    items and `node` unchanged when the select calls no table function."""
    calls: dict[ast.FunctionCall, TableFunctionCall] = {}
    scope = Scope(node.columns)
    for _, expr, _ in items:
        _check_placement(expr)
        for e in walk(expr):
            if isinstance(e, ast.FunctionCall) and is_table_function(e.name) and e not in calls:
                calls[e] = _resolve(e, f"KSQL_SYNTH_{len(calls)}", scope)
    if not calls:
        return items, node
    if source_kind == "TABLE":
        raise PlanError("Table source is not supported with table functions", "plain")
    n = len(node.columns)
    columns = node.columns + [
        Column(c.column, c.resolved.return_type, n + i) for i, c in enumerate(calls.values())
    ]
    flat = FlatMapNode(columns, node.key_names, node, list(calls.values()))

    def visit(e: ast.Expr) -> ast.Expr | None:
        found = calls.get(e) if isinstance(e, ast.FunctionCall) else None
        return ast.ColumnRef(found.column) if found is not None else None

    return [(name, transform(expr, visit), aliased) for name, expr, aliased in items], flat


def _check_placement(expr: ast.Expr) -> None:
    """Table functions nest in no table function and sit in no CASE."""

    def visit(e: ast.Expr, outer: str | None, case: ast.Expr | None) -> None:
        if isinstance(e, ast.FunctionCall) and is_table_function(e.name):
            if outer is not None:
                raise PlanError(
                    f"Table functions cannot be nested: {outer}({e.name.upper()}())", "plain"
                )
            if case is not None:
                raise PlanError(
                    f"Table functions cannot be used in CASE: {format_expr(case)}", "plain"
                )
            outer = e.name.upper()
        if isinstance(e, ast.Case):
            case = e

        def child(c: ast.Expr) -> ast.Expr | None:
            if c is e:
                return None
            visit(c, outer, case)
            return c  # visited: transform does not descend further

        transform(e, child)

    visit(expr, None, None)


def _resolve(call: ast.FunctionCall, column: str, scope: Scope) -> TableFunctionCall:
    fn = table_function(call.name)
    assert fn is not None
    arg_types = [infer_type(a, scope) for a in call.args]
    try:
        resolved = fn.resolve(arg_types)
    except FunctionError as err:
        raise PlanError(str(err), "plain") from None
    return TableFunctionCall(call, column, resolved)


def check_no_table_functions(exprs: list[ast.Expr]) -> None:
    """Table functions and aggregation do not mix."""
    if has_table_functions(exprs):
        raise PlanError("Table functions cannot be used with aggregations.", "plain")
