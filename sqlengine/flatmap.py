"""Stateless query stages at run time: WHERE, the table functions' flat map, the projection.

    rows -> [WHERE, table function arguments] -> flat map -> [projection]

A row whose WHERE fails or whose table function arguments cannot be evaluated gives no rows;
a table function that fails gives none for that row either (both logged, as ksqlDB does).
Otherwise a row gives as many rows as its longest table function result, the shorter ones
padded with NULL; each carries the input row's columns followed by one element per call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from grammar import ast
from planner.builder import QueryPlan
from planner.scope import Scope
from planner.table_functions import FlatMapNode
from sqlengine import types as T
from sqlengine.codegen import compile_stage

Rows = list[Sequence[Any]]
Stage = Callable[[Rows], list[tuple[Any, ...]]]
ErrorHandler = Callable[[Exception, Sequence[Any]], None]


def projection_stage(plan: QueryPlan, on_error: ErrorHandler) -> Stage:
    """rows -> projected rows (ROWTIME, keys..., values..., passed-through columns)."""
    project = plan.root
    node = project.input  # type: ignore[attr-defined]
    exprs = project.exprs  # type: ignore[attr-defined]
    if not isinstance(node, FlatMapNode):
        return compile_stage(plan.where, exprs, Scope(node.columns), on_error)
    flat_map = _flat_map(node, plan.where, on_error)
    project_rows = compile_stage(None, exprs, Scope(node.columns), on_error)
    return lambda rows: project_rows(flat_map(rows))


def _flat_map(node: FlatMapNode, where: ast.Expr | None, on_error: ErrorHandler) -> Stage:
    assert node.input is not None
    args = [a for c in node.calls for a in c.call.args]
    # WHERE is computed as a leading column, so the stage's output pairs with its input.
    condition = where if where is not None else ast.Literal(True, T.BOOLEAN)
    failed: set[int] = set()

    def arg_error(exc: Exception, row: Sequence[Any]) -> None:
        on_error(exc, row)
        failed.add(id(row))

    evaluate = compile_stage(None, [condition, *args], Scope(node.input.columns), arg_error)
    calls = [
        (c.resolved.impl, len(c.call.args), c.resolved.overload.null_propagating)
        for c in node.calls
    ]

    def flat_map(rows: Rows) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for row, evaluated in zip(rows, evaluate(rows), strict=True):
            if evaluated[0] is not True or id(row) in failed:
                continue
            results = _results(calls, evaluated[1:], row, on_error)
            if results is None:
                continue
            for i in range(max(len(r) for r in results)):
                out.append((*row, *(r[i] if i < len(r) else None for r in results)))
        failed.clear()
        return out

    return flat_map


def _results(
    calls: list[tuple[Callable[..., list[Any]], int, bool]],
    args: Sequence[Any],
    row: Sequence[Any],
    on_error: ErrorHandler,
) -> list[list[Any]] | None:
    """Each call's values for one row; None when a call fails."""
    results: list[list[Any]] = []
    pos = 0
    for impl, arity, null_propagating in calls:
        values = args[pos : pos + arity]
        pos += arity
        if null_propagating and any(v is None for v in values):
            results.append([])
            continue
        try:
            results.append(impl(*values))
        except Exception as exc:  # noqa: BLE001 - a failing UDTF skips the row, logged
            on_error(exc, row)
            return None
    return results
