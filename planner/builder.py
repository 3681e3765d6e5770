"""The plan of a SELECT (`QueryPlan`, its `OutputColumn`s) and the building blocks every
query shape shares: clause typing, GROUP BY planning, the final projection, generated column
names. planner.select plans a select over one source, planner.join_select one over a join."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from grammar import ast
from grammar.rewrite import walk
from planner.aggregation import AggregationPlan, plan_aggregation
from planner.errors import PlanError
from planner.joins import JoinPlan
from planner.logical import AggregateNode, PlanNode, ProjectNode
from planner.partitioning import Partitioning
from planner.scope import Column, Scope
from planner.table_functions import check_no_table_functions
from planner.typing import infer_type
from sqlengine import aggregates
from sqlengine import catalog as C
from sqlengine import types as T


@dataclass
class OutputColumn:
    name: str
    type: T.SqlType
    expr: ast.Expr
    is_key: bool


@dataclass
class QueryPlan:
    """A planned SELECT: the node tree plus the output schema (keys first)."""

    root: PlanNode
    source: C.DataSource
    outputs: list[OutputColumn]
    where: ast.Expr | None
    # Output names in SELECT order (outputs are keys first); transient queries answer in it.
    select_order: list[str] = field(default_factory=list)
    aggregation: AggregationPlan | None = None
    emit: str | None = None  # CHANGES | FINAL
    partitioning: Partitioning | None = None  # a stream re-keyed by PARTITION BY
    join: JoinPlan | None = None  # FROM joins sources (`source` is the leftmost)

    @property
    def result_kind(self) -> str:
        """STREAM or TABLE: what the query produces (an aggregation always a table)."""
        if self.aggregation is not None:
            return "TABLE"
        return self.join.result_kind if self.join is not None else self.source.kind

    @property
    def key_outputs(self) -> list[OutputColumn]:
        return [o for o in self.outputs if o.is_key]

    @property
    def value_outputs(self) -> list[OutputColumn]:
        return [o for o in self.outputs if not o.is_key]


def typed(expr: ast.Expr, scope: Scope, clause: str) -> T.SqlType | None:
    """The type of an expression of `clause`, errors worded as ksqlDB words them there."""
    try:
        return infer_type(expr, scope)
    except PlanError as exc:
        raise exc.in_clause(clause) from exc


def is_grouped(query: ast.Query) -> bool:
    """Does the query aggregate? Also when it calls an aggregate function without GROUP BY:
    then all its rows are one group, as ksqlDB does for a push query (a persistent one is
    refused once its select is checked, see `ungrouped_aggregation_error`). An aggregating
    query's select may call no table function (an error)."""
    grouped = query.group_by or query.window is not None or query.having is not None
    if not grouped:
        grouped = _first_aggregate(query.select) is not None
    if grouped:
        check_no_table_functions([i.expr for i in query.select if isinstance(i, ast.SelectColumn)])
    return bool(grouped)


def _first_aggregate(items: tuple[ast.SelectItem, ...]) -> str | None:
    """The name of the first aggregate function the select calls, if any."""
    return next(
        (
            e.name
            for item in items
            if isinstance(item, ast.SelectColumn)
            for e in walk(item.expr)
            if isinstance(e, ast.FunctionCall) and aggregates.is_aggregate(e.name)
        ),
        None,
    )


def plan_grouped(
    query: ast.Query,
    items: list[tuple[str, ast.Expr, bool]],
    node: PlanNode,
    scope: Scope,
    source: C.DataSource,
    sink_name: str | None,
    config: dict[str, str],
    join: JoinPlan | None = None,
) -> QueryPlan:
    """The plan of a GROUP BY over `node`'s rows (`scope`): a source's, or a join's result
    (`join`; `source` is its leftmost). `items`: the select's (name, expression, aliased)."""
    input_kind = source.kind if join is None else join.result_kind
    # ksqlDB cannot read the window bounds of an aggregation over a join (its issue 5931).
    agg = plan_aggregation(query, items, scope, sink_name, input_kind, config, join is None)
    key_names = [k.name for k in agg.keys]
    agg_node = AggregateNode(agg.post_scope.columns, key_names, node, agg)
    outputs = [OutputColumn(k.name, k.type, ast.ColumnRef(k.name), True) for k in agg.keys]
    outputs += [OutputColumn(v.name, v.type, v.expr, False) for v in agg.values]
    check_duplicates(outputs)
    project = project_outputs(outputs, agg_node, C.ROWTIME)
    order = [name for name, _, _ in items]
    return QueryPlan(project, source, outputs, query.where, order, agg, query.emit, join=join)


def project_outputs(
    outputs: list[OutputColumn], node: PlanNode, rowtime: str, trailing: Sequence[ast.Expr] = ()
) -> ProjectNode:
    """The final projection: ROWTIME (the column named `rowtime` of `node`), then the output
    columns in order, then `trailing` columns carried along (window bounds, headers)."""
    columns = [Column(C.ROWTIME, T.BIGINT, 0)] + [
        Column(o.name, o.type, i + 1) for i, o in enumerate(outputs)
    ]
    exprs = [ast.ColumnRef(rowtime), *(o.expr for o in outputs), *trailing]
    return ProjectNode(columns, [o.name for o in outputs if o.is_key], node, exprs)


def cast_outputs(plan: QueryPlan, types: list[T.SqlType]) -> None:
    """Convert the plan's outputs to `types` (an INSERT INTO's sink schema), each one the
    same type or one it converts to implicitly."""
    project = plan.root
    assert isinstance(project, ProjectNode)
    for i, (out, target) in enumerate(zip(plan.outputs, types, strict=True)):
        if out.type == target:
            continue
        out.expr = ast.Cast(out.expr, ast.TypeRef(sql_type=target))
        out.type = target
        project.exprs[i + 1] = out.expr  # exprs: ROWTIME, the outputs in order, trailing
        project.columns[i + 1] = Column(out.name, target, i + 1)


def check_duplicates(outputs: list[OutputColumn]) -> None:
    seen: set[str] = set()
    for o in outputs:
        if o.name in seen:
            raise PlanError(f"Duplicate value columns found in schema: `{o.name}` {o.type}")
        seen.add(o.name)


class ColumnNames:
    """Names for unaliased select expressions, as ksqlDB generates them: a column keeps its
    name; a struct field dereference takes the field's name, suffixed _1, _2... when that is
    taken; anything else is KSQL_COL_n. No generated name takes a source column's name or a
    name the select gives explicitly."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.generated = 0

    def natural(self, expr: ast.Expr) -> str:
        if isinstance(expr, ast.ColumnRef):
            return expr.name
        if isinstance(expr, ast.Dereference):
            name, suffix = expr.field_name, 0
            while name in self.taken:
                suffix += 1
                name = f"{expr.field_name}_{suffix}"
            self.taken.add(name)
            return name
        while f"KSQL_COL_{self.generated}" in self.taken:
            self.generated += 1
        name = f"KSQL_COL_{self.generated}"
        self.taken.add(name)
        return name
