"""Planning PARTITION BY: the key a stream is re-keyed by, and how the SELECT names it.

PARTITION BY applies to the input, after WHERE and before the projection (as ksqlDB does):
rows are re-keyed by the PARTITION BY expressions and written to the sink partition the new
key hashes to, in-process (no repartition topic). The repartitioned schema has one key column
per expression, named after the column (a column reference), the struct field (a field
dereference) or KSQL_COL_n (anything else); the old key columns become value columns.

A select item equal to a PARTITION BY expression is that key column, under the select item's
name; a persistent query must select every PARTITION BY expression (a `*` selects them all).
PARTITION BY NULL gives a stream without key columns (key format NONE).
"""

from __future__ import annotations

from dataclasses import dataclass

from grammar import ast
from grammar.printer import format_expr
from grammar.rewrite import walk
from planner.aggregation import _qualify
from planner.errors import PlanError
from planner.scope import Scope
from planner.typing import infer_type
from sqlengine import catalog as C
from sqlengine import types as T


@dataclass
class KeyColumn:
    name: str  # its name in the repartitioned schema
    type: T.SqlType
    expr: ast.Expr  # over the source scope, column references qualified


@dataclass
class Partitioning:
    """The PARTITION BY of a stream query; no keys for PARTITION BY NULL."""

    keys: list[KeyColumn]
    written: tuple[ast.Expr, ...]  # as written, qualified, for error messages

    @property
    def by_null(self) -> bool:
        return not self.keys


def plan_partitioning(
    exprs: tuple[ast.Expr, ...], scope: Scope, source: C.DataSource
) -> Partitioning | None:
    """The re-keying PARTITION BY asks for; None when it keeps a table's own key."""
    qualified = _checked(exprs, scope)
    if qualified is None:
        return Partitioning([], exprs)
    if source.kind == "TABLE":
        return _table_partitioning(qualified, scope, source)
    return _rekeying(qualified, scope, {c.name for c in source.columns})


def plan_stream_partitioning(
    exprs: tuple[ast.Expr, ...], scope: Scope, taken: set[str]
) -> Partitioning:
    """The re-keying of a stream whose column names are `taken` (a join's result)."""
    qualified = _checked(exprs, scope)
    return Partitioning([], exprs) if qualified is None else _rekeying(qualified, scope, taken)


def _checked(exprs: tuple[ast.Expr, ...], scope: Scope) -> list[ast.Expr] | None:
    """The PARTITION BY expressions, qualified; None for PARTITION BY NULL."""
    if not exprs:
        raise PlanError("PARTITION BY requires at least one expression", "plain")
    if any(_is_null(e) for e in exprs):
        if len(exprs) > 1:
            raise PlanError("Cannot PARTITION BY multiple columns including NULL", "plain")
        return None
    for e in exprs:
        _check_columns(e, scope)
    return [_qualify(e, scope) for e in exprs]


def _rekeying(qualified: list[ast.Expr], scope: Scope, taken: set[str]) -> Partitioning:
    """The key columns of a stream re-keyed by `qualified`, named apart from `taken`."""
    taken = set(taken)
    generated = 0
    keys: list[KeyColumn] = []
    for e in qualified:
        t = infer_type(e, scope)
        if t is None:
            raise PlanError("Can't infer a type of null. Please explicitly cast it.", "plain")
        if isinstance(e, ast.ColumnRef):
            name = e.name
        elif isinstance(e, ast.Dereference):
            name = _unique(e.field_name, taken)
        else:
            while f"KSQL_COL_{generated}" in taken:
                generated += 1
            name = f"KSQL_COL_{generated}"
            taken.add(name)
        keys.append(KeyColumn(name, t, e))
    return Partitioning(keys, tuple(qualified))


def _is_null(e: ast.Expr) -> bool:
    return isinstance(e, ast.Literal) and e.value is None and e.type is None


def _unique(name: str, taken: set[str]) -> str:
    candidate, suffix = name, 0
    while candidate in taken:
        suffix += 1
        candidate = f"{name}_{suffix}"
    taken.add(candidate)
    return candidate


def _check_columns(expr: ast.Expr, scope: Scope) -> None:
    """PARTITION BY reads the input: a name the select introduces is not resolvable there."""
    params: set[str] = set()
    for e in walk(expr):
        if isinstance(e, ast.Lambda):
            params.update(e.params)
        elif isinstance(e, ast.ColumnRef) and e.name not in params:
            try:
                scope.resolve_ref(e)
            except PlanError as exc:
                if exc.kind != "column":
                    raise
                shown = format_expr(e)
                raise PlanError(
                    f"PARTITION BY column '{shown}' cannot be resolved. '{shown}' must be a "
                    "column in the source schema since PARTITION BY is applied on the input.",
                    "plain",
                ) from None


def _table_partitioning(
    qualified: list[ast.Expr], scope: Scope, source: C.DataSource
) -> Partitioning | None:
    """A table is always partitioned by its PRIMARY KEY: PARTITION BY may only restate it."""
    keys = [_qualify(ast.ColumnRef(c.name), scope) for c in source.key_columns]
    if qualified == keys:
        return None
    if len(keys) > 1:
        raise PlanError(
            "Cannot repartition a TABLE source. If this is a join, joins on tables with "
            "multiple columns is not yet supported.",
            "plain",
        )
    shown = ", ".join(format_expr(e) for e in qualified)
    raise PlanError(
        "Cannot repartition a TABLE source. If this is a join, make sure that the criteria "
        f"uses the TABLE's key column {source.key_columns[0].name} instead of {shown}",
        "plain",
    )


def star_columns(
    partitioning: Partitioning, source: C.DataSource, alias: str
) -> list[tuple[str, ast.Expr, bool]]:
    """What `*` selects from the repartitioned input: its value columns (the source's values,
    then its old key columns), then the key columns a PARTITION BY expression creates."""
    ordered = [c for c in source.columns if c.kind != C.KEY] + source.key_columns
    out: list[tuple[str, ast.Expr, bool]] = [
        (c.name, ast.ColumnRef(c.name, alias), False) for c in ordered
    ]
    return out + generated_key_columns(partitioning)


def generated_key_columns(partitioning: Partitioning) -> list[tuple[str, ast.Expr, bool]]:
    """The key columns `*` adds: those of PARTITION BY expressions other than columns."""
    return [
        (k.name, k.expr, False) for k in partitioning.keys if not isinstance(k.expr, ast.ColumnRef)
    ]


@dataclass
class SelectedKey:
    """A key column of the output: the PARTITION BY expression, named as the select names it."""

    name: str
    type: T.SqlType
    expr: ast.Expr


def split_outputs(
    partitioning: Partitioning,
    items: list[tuple[str, ast.Expr]],
    scope: Scope,
    has_star: bool,
    sink_name: str | None,
) -> tuple[list[SelectedKey], list[int]]:
    """The output key columns in PARTITION BY order, and the indexes of the select items
    that are value columns. `items`: (output name, expression) per select item."""
    matches: list[list[int]] = [[] for _ in partitioning.keys]
    for i, (_, expr) in enumerate(items):
        q = _qualify(expr, scope)
        for k, key in enumerate(partitioning.keys):
            if q == key.expr:
                matches[k].append(i)
                break
    if not all(matches) and sink_name is not None and not has_star:
        shown = [format_expr(e) for e in partitioning.written]
        noun = "expressions" if len(shown) > 1 else "expression"
        raise PlanError(
            f"The query used to build `{sink_name}` must include the partitioning {noun} "
            f"{' and '.join(shown)} in its projection (eg, SELECT {', '.join(shown)}...).",
            "plain",
        )
    keys: list[SelectedKey] = []
    for key, found in zip(partitioning.keys, matches, strict=True):
        if len(found) > 1:
            names = " and ".join(sorted(items[i][0] for i in found))
            raise PlanError(
                f"The projection contains a key column (`{key.name}`) more than once, aliased "
                f"as: {names}.",
                "plain",
            )
        name = items[found[0]][0] if found else key.name
        keys.append(SelectedKey(name, key.type, key.expr))
    key_items = {i for found in matches for i in found}
    values = [i for i in range(len(items)) if i not in key_items]
    if sink_name is not None and not values:
        raise PlanError("The projection contains no value columns.", "plain")
    return keys, values
