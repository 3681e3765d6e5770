"""Planning GROUP BY queries: split SELECT/HAVING into what runs before, in and after the
aggregation operator, with ksqlDB's key rules and error messages.

Rows entering the aggregation are (ROWTIME, group keys..., aggregate arguments...). Rows
leaving it are (ROWTIME, keys..., aggregate results..., WINDOWSTART, WINDOWEND); SELECT and
HAVING are rewritten to read those columns, so the final projection is an ordinary stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from grammar import ast
from grammar.printer import format_expr
from grammar.rewrite import replace_subtrees, transform, walk
from planner.errors import PlanError
from planner.scope import Column, Scope
from planner.typing import infer_type
from sqlengine import aggregates
from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.functions.registry import REGISTRY


@dataclass
class AggregateCall:
    call: ast.FunctionCall
    column: str  # the internal column holding its result after aggregation
    args: list[ast.Expr]  # column arguments, evaluated before aggregation
    aggregator: aggregates.Aggregator


@dataclass
class KeyColumn:
    name: str
    type: T.SqlType
    expr: ast.Expr  # the GROUP BY expression, over the source


@dataclass
class ValueColumn:
    name: str
    type: T.SqlType
    expr: ast.Expr  # over the post-aggregation scope


@dataclass
class AggregationPlan:
    keys: list[KeyColumn]
    calls: list[AggregateCall]
    values: list[ValueColumn]
    having: ast.Expr | None  # over the post-aggregation scope
    post_scope: Scope
    window: ast.Window | None

    def ungrouped_aggregation_error(self, sink_kind: str) -> PlanError:
        """ksqlDB's refusal of a persistent query that aggregates without GROUP BY."""
        # As ksqlDB's analysis shows them: COUNT(*) and COUNT() count the rows' ROWTIMEs.
        calls = ", ".join(
            format_expr(_unqualified(c.call))
            if c.call.args
            else format_expr(ast.FunctionCall(c.call.name, (ast.ColumnRef(C.ROWTIME),)))
            for c in self.calls
        )
        return PlanError(
            f"CREATE {sink_kind} AS SELECT statement does not support aggregate function "
            f"[{calls}] without a GROUP BY clause."
        )

    def pre_exprs(self) -> list[ast.Expr]:
        """What the pre-aggregation stage computes from each source row."""
        exprs: list[ast.Expr] = [ast.ColumnRef(C.ROWTIME)]
        exprs += [k.expr for k in self.keys]
        for call in self.calls:
            exprs += call.args
        return exprs


def _qualify(expr: ast.Expr, scope: Scope) -> ast.Expr:
    """Give every column reference its source, so equal expressions compare equal."""

    def visit(e: ast.Expr) -> ast.Expr | None:
        if isinstance(e, ast.Lambda):
            return e  # lambda bodies refer to their parameters; left as written
        if isinstance(e, ast.ColumnRef):
            try:
                col = scope.resolve(e.name, e.source)
            except PlanError:
                return e
            return ast.ColumnRef(col.name, col.source)
        return None

    return transform(expr, visit)


def _aggregate_calls(expr: ast.Expr) -> list[ast.FunctionCall]:
    found: list[ast.FunctionCall] = []

    def visit(e: ast.Expr) -> ast.Expr | None:
        if isinstance(e, ast.FunctionCall) and aggregates.is_aggregate(e.name):
            for inner in e.args:
                for sub in walk(inner):
                    if isinstance(sub, ast.FunctionCall) and aggregates.is_aggregate(sub.name):
                        raise PlanError(
                            f"Aggregate functions can not be nested: {e.name}({sub.name}())"
                        )
            if e not in found:
                found.append(e)
            return e
        return None

    transform(expr, visit)
    return found


def _resolve_call(
    call: ast.FunctionCall, index: int, scope: Scope, config: dict[str, str]
) -> AggregateCall:
    """Column arguments are evaluated per row; the trailing arguments the chosen overload
    takes as initial arguments (TOPK's k) must be literals."""
    if call.star:
        args: list[ast.Expr] = [ast.Literal(1, T.INTEGER)]
        init: list[object] = []
    else:
        all_types = [infer_type(a, scope) for a in call.args]
        try:
            n_init = aggregates.init_arg_count(call.name, all_types)
        except aggregates.AggregateError as exc:
            raise PlanError(str(exc), "plain") from exc
        split = len(call.args) - n_init
        for pos, a in enumerate(call.args[split:], start=split + 1):
            if not isinstance(a, ast.Literal):
                raise PlanError(
                    f"Parameter {pos} passed to function {call.name.upper()} must be a literal "
                    f"constant, but was expression: '{format_expr(_unqualified(a))}'",
                    "plain",
                )
        args = list(call.args[:split])
        init = [a.value for a in call.args[split:]]  # type: ignore[attr-defined]
    arg_types = []
    for a in args:
        t = infer_type(a, scope)
        arg_types.append(t if t is not None else T.STRING)
    try:
        aggregator = aggregates.resolve_aggregate(call.name, arg_types, init, config)
    except aggregates.AggregateError as exc:
        raise PlanError(str(exc), "plain") from exc
    return AggregateCall(call, f"KSQL_AGG_VARIABLE_{index}", args, aggregator)


def plan_aggregation(
    query: ast.Query,
    select: list[tuple[str, ast.Expr, bool]],
    scope: Scope,
    sink_name: str | None,
    source_kind: str,
    config: dict[str, str],
    window_bounds: bool = True,
) -> AggregationPlan:
    """`select`: (output name, expression, has explicit alias) per select item;
    `window_bounds`: may a windowed aggregation's SELECT read its window's bounds.
    Checks run in ksqlDB's order, so the first error reported is the one ksqlDB reports."""
    group = [_qualify(g, scope) for g in query.group_by]
    for i, g in enumerate(group):
        _forbid_window_bounds(g)
        if _aggregate_calls(g):
            name = _aggregate_calls(g)[0].name
            raise PlanError(
                f"GROUP BY does not support aggregate functions: {name} is an aggregate function."
            )
        infer_type(g, scope)
        if g in group[:i]:
            raise PlanError(f"Duplicate GROUP BY expression: {format_expr(query.group_by[i])}")
    items = [(name, _qualify(e, scope), aliased) for name, e, aliased in select]
    having = _qualify(query.having, scope) if query.having is not None else None
    if having is not None:
        _forbid_window_bounds(having)

    calls: list[ast.FunctionCall] = []
    for _, e, _ in items:
        calls += [c for c in _aggregate_calls(e) if c not in calls]
    if having is not None:
        calls += [c for c in _aggregate_calls(having) if c not in calls]
    for c in calls:
        for a in c.args:
            _forbid_window_bounds(a)
    windowed = query.window is not None and window_bounds
    if not windowed:
        for _, e, _ in items:
            bound = _window_bound(e)
            if bound is not None:
                raise PlanError(f"SELECT column '{bound}' cannot be resolved.")
    for _, e, _ in items:
        _check_functions_exist(e)
    if not calls:
        if query.window is not None and not query.group_by:
            raise PlanError("WINDOW clause requires a GROUP BY clause.")
        raise PlanError(
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause."
        )
    resolved = [_resolve_call(c, i, scope, config) for i, c in enumerate(calls)]
    if source_kind == "TABLE":
        _check_table_aggregates(resolved)

    names = [_key_name(g, items, i) for i, g in enumerate(group)]
    key_types = [infer_type(g, scope) or T.STRING for g in group]
    keys = [KeyColumn(n, t, g) for n, t, g in zip(names, key_types, group, strict=True)]
    post_scope = _post_scope(keys, resolved, query.window is not None)
    mapping: dict[ast.Expr, ast.Expr] = {r.call: ast.ColumnRef(r.column) for r in resolved}
    mapping.update({g: ast.ColumnRef(k.name) for g, k in zip(group, keys, strict=True)})
    if windowed:
        for bound in _BOUNDS:
            mapping[ast.ColumnRef(bound)] = ast.ColumnRef(bound)

    key_exprs = set(group)
    rewritten_items = [
        (name, e, replace_subtrees(e, mapping)) for name, e, _ in items if e not in key_exprs
    ]
    bad = [
        format_expr(_unqualified(e)) for _, e, r in rewritten_items if _reads_source(r, post_scope)
    ]
    having_rewritten = replace_subtrees(having, mapping) if having is not None else None
    if having_rewritten is not None and _reads_source(having_rewritten, post_scope):
        bad.append(format_expr(_unqualified(having)))  # type: ignore[arg-type]
    if bad:
        raise PlanError(
            f"Non-aggregate SELECT expression(s) not part of GROUP BY: {', '.join(bad)}\n"
            "Either add the column(s) to the GROUP BY or remove them from the SELECT."
        )
    if query.having is not None:
        _check_having(query.having, scope, {r.call: r.aggregator.return_type for r in resolved})
    _check_keys_selected(group, items, sink_name)
    values = []
    for name, _, r in rewritten_items:
        t = infer_type(r, post_scope)
        values.append(ValueColumn(name, t if t is not None else T.STRING, r))
    if sink_name is not None and not values:
        raise PlanError("The projection contains no value columns.")
    return AggregationPlan(keys, resolved, values, having_rewritten, post_scope, query.window)


_BOUNDS = (C.WINDOWSTART, C.WINDOWEND)


def _check_functions_exist(expr: ast.Expr) -> None:
    for e in walk(expr):
        if isinstance(e, ast.FunctionCall) and not aggregates.is_aggregate(e.name):
            if REGISTRY.scalar(e.name) is None:
                raise PlanError(f"Can't find any functions with the name '{e.name}'")


def _check_having(
    having: ast.Expr, scope: Scope, aggregate_types: dict[ast.FunctionCall, T.SqlType]
) -> None:
    """Type-check HAVING as written (its aggregates typed by their resolved functions), so
    errors name the expressions the user wrote, as ksqlDB's do."""

    def aggregate_type(call: ast.FunctionCall, _args: object) -> T.SqlType | None:
        qualified = _qualify(call, scope)
        return aggregate_types.get(qualified) if isinstance(qualified, ast.FunctionCall) else None

    try:
        infer_type(having, scope, aggregate_resolver=aggregate_type)
    except PlanError as exc:
        raise exc.in_clause("HAVING") from exc


def _window_bound(expr: ast.Expr) -> str | None:
    """The first window bound (WINDOWSTART/WINDOWEND) the expression reads, if any."""
    for e in walk(expr):
        if isinstance(e, ast.ColumnRef) and e.name in _BOUNDS:
            return e.name
    return None


def _forbid_window_bounds(expr: ast.Expr) -> None:
    bound = _window_bound(expr)
    if bound is not None:
        raise PlanError(
            f"Window bounds column {bound} can only be used in the SELECT clause of "
            "windowed aggregations"
        )


def _check_table_aggregates(resolved: list[AggregateCall]) -> None:
    names: list[str] = []
    for r in resolved:
        if r.aggregator.undo is None and r.call.name.upper() not in names:
            names.append(r.call.name.upper())
    if names:
        listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        raise PlanError(
            f"The aggregation functions {listed} cannot be applied to a table source, "
            "only to a stream source."
        )


def _post_scope(keys: list[KeyColumn], resolved: list[AggregateCall], windowed: bool) -> Scope:
    cols = [Column(C.ROWTIME, T.BIGINT, 0)]
    cols += [Column(k.name, k.type, i + 1) for i, k in enumerate(keys)]
    base = len(cols)
    cols += [Column(r.column, r.aggregator.return_type, base + i) for i, r in enumerate(resolved)]
    if windowed:
        n = len(cols)
        cols += [Column(C.WINDOWSTART, T.BIGINT, n), Column(C.WINDOWEND, T.BIGINT, n + 1)]
    return Scope(cols)


def _reads_source(expr: ast.Expr, post: Scope) -> bool:
    """Does the rewritten expression still read a source column that is not a group key?"""
    lambda_params: set[str] = set()
    for e in walk(expr):
        if isinstance(e, ast.Lambda):
            lambda_params.update(e.params)
        if isinstance(e, ast.ColumnRef) and e.name not in lambda_params:
            if e.source is not None:
                return True
            try:
                post.resolve(e.name)
            except PlanError:
                return True
    return False


def _key_name(group_expr: ast.Expr, items: list[tuple[str, ast.Expr, bool]], index: int) -> str:
    """A grouping expression's column: named by the select item equal to it, if any."""
    matches = [name for name, e, _ in items if e == group_expr]
    if len(matches) > 1:
        raise PlanError(
            f"The projection contains a key column more than once: `{matches[0]}` and "
            f"`{matches[1]}`."
        )
    return matches[0] if matches else _default_name(group_expr, index)


def _check_keys_selected(
    group: list[ast.Expr], items: list[tuple[str, ast.Expr, bool]], sink_name: str | None
) -> None:
    if sink_name is None:
        return
    selected = {e for _, e, _ in items}
    for g in group:
        if g not in selected:
            shown = format_expr(_unqualified(g))
            raise PlanError(
                f"The query used to build `{sink_name}` must include the grouping expression "
                f"{shown} in its projection (eg, SELECT {shown}...)."
            )


def _unqualified(expr: ast.Expr) -> ast.Expr:
    return transform(
        expr, lambda e: ast.ColumnRef(e.name) if isinstance(e, ast.ColumnRef) else None
    )


def _default_name(expr: ast.Expr, index: int) -> str:
    if isinstance(expr, ast.ColumnRef):
        return expr.name
    if isinstance(expr, ast.Dereference):
        return expr.field_name
    return f"KSQL_COL_{index}"
