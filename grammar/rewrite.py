"""Plain-function transformations of expression trees (the AST nodes are immutable)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from grammar import ast


def _map_field(value: Any, fn: Callable[[ast.Expr], ast.Expr]) -> Any:
    if isinstance(value, ast.Expr):
        return transform(value, fn)
    if isinstance(value, ast.WhenClause):
        return dataclasses.replace(
            value, condition=transform(value.condition, fn), result=transform(value.result, fn)
        )
    if isinstance(value, tuple):
        mapped = tuple(_map_field(v, fn) for v in value)
        return value if all(a is b for a, b in zip(mapped, value, strict=True)) else mapped
    return value


def transform(expr: ast.Expr, fn: Callable[[ast.Expr], ast.Expr | None]) -> ast.Expr:
    """Rebuild `expr` top-down: where fn returns a node it replaces the subtree (and is not
    descended into); where it returns None the node's children are transformed."""
    replaced = fn(expr)
    if replaced is not None:
        return replaced
    changes = {}
    for f in dataclasses.fields(expr):  # type: ignore[arg-type]
        if not f.init or f.name in ("line", "column"):
            continue
        old = getattr(expr, f.name)
        new = _map_field(old, fn)  # type: ignore[arg-type]
        if new is not old:
            changes[f.name] = new
    return dataclasses.replace(expr, **changes) if changes else expr  # type: ignore[type-var]


def walk(expr: ast.Expr) -> Iterator[ast.Expr]:
    """Every node of the tree, parents before children."""
    yield expr
    for f in dataclasses.fields(expr):  # type: ignore[arg-type]
        yield from _walk_value(getattr(expr, f.name))


def _walk_value(value: Any) -> Iterator[ast.Expr]:
    if isinstance(value, ast.Expr):
        yield from walk(value)
    elif isinstance(value, ast.WhenClause):
        yield from walk(value.condition)
        yield from walk(value.result)
    elif isinstance(value, tuple):
        for v in value:
            yield from _walk_value(v)


def replace_subtrees(expr: ast.Expr, mapping: dict[ast.Expr, ast.Expr]) -> ast.Expr:
    """Replace every subtree equal to a key of `mapping` (outermost first)."""
    return transform(expr, mapping.get)
