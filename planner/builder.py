"""AST query -> logical plan: name resolution, select expansion, key rules, type checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from grammar import ast
from grammar.printer import format_expr
from grammar.rewrite import walk
from planner.aggregation import AggregationPlan, plan_aggregation
from planner.errors import PARSER_PREPARING, PlanError
from planner.logical import AggregateNode, FilterNode, PlanNode, ProjectNode, SourceNode
from planner.partitioning import Partitioning, plan_partitioning, split_outputs, star_columns
from planner.scope import Column, Scope
from planner.table_functions import check_no_table_functions, plan_flat_map
from planner.typing import infer_type
from sqlengine import aggregates
from sqlengine import catalog as C
from sqlengine import types as T

if TYPE_CHECKING:
    from planner.joins import JoinPlan


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


def source_scope(source: C.DataSource, alias: str) -> Scope:
    """Columns of a source as rows carry them: ROWTIME, ROWPARTITION, ROWOFFSET, then keys,
    then values and header columns in schema order, then the record's headers as read (carried
    to the sink, as Kafka Streams forwards headers; its name is not a valid identifier). A
    windowed source's rows carry their window's bounds before the headers."""
    cols = [Column(name, t, i, alias) for i, (name, t) in enumerate(C.PSEUDO_COLUMNS)]
    base = len(cols)
    cols += [Column(c.name, c.type, base + i, alias) for i, c in enumerate(source.columns)]
    if source.window is not None:
        n = len(cols)
        cols += [
            Column(C.WINDOWSTART, T.BIGINT, n, alias),
            Column(C.WINDOWEND, T.BIGINT, n + 1, alias),
        ]
    cols.append(Column(C.RAW_HEADERS, C.HEADERS_TYPE, len(cols), alias))
    return Scope(cols)


def typed(expr: ast.Expr, scope: Scope, clause: str) -> T.SqlType | None:
    """The type of an expression of `clause`, errors worded as ksqlDB words them there."""
    try:
        return infer_type(expr, scope)
    except PlanError as exc:
        raise exc.in_clause(clause) from exc


def plan_select(
    query: ast.Query,
    catalog: C.Catalog,
    sink_name: str | None,
    config: dict[str, str] | None = None,
) -> QueryPlan:
    if query.emit == "FINAL" and query.window is None:
        raise PlanError("EMIT FINAL is only supported for windowed aggregations.")
    if isinstance(query.from_, ast.Join):
        # Imported here: the join planner builds on this module's shared functions.
        from planner.join_select import plan_join_select

        return plan_join_select(query, catalog, sink_name, config or {})
    ref = query.from_
    source = catalog.source(ref.name)
    if source is None:
        raise PlanError(f"{ref.name} does not exist.")
    if source.window is not None and source.kind == "TABLE" and sink_name is not None:
        raise PlanError("KSQL does not support persistent queries on windowed tables.")
    alias = ref.alias or ref.name
    scope = source_scope(source, alias)
    node: PlanNode = SourceNode(scope.columns, [c.name for c in source.key_columns], source, alias)

    if query.where is not None:
        for e in walk(query.where):
            if isinstance(e, ast.ColumnRef) and e.name in (C.WINDOWSTART, C.WINDOWEND):
                if source.window is None:
                    raise PlanError(f"Error in WHERE expression: Unknown column {e.name}.")
        where_type = typed(query.where, scope, "WHERE")
        if where_type is not None and where_type != T.BOOLEAN:
            raise PlanError(
                "Type error in WHERE expression: Should evaluate to boolean but is "
                f"{format_expr(query.where)} ({where_type}) instead."
            )
        node = FilterNode(scope.columns, node.key_names, node, query.where)

    partitioning = (
        None if query.partition_by is None else plan_partitioning(query.partition_by, scope, source)
    )
    if is_grouped(query, sink_name):
        # A transient windowed aggregation may select its window bounds.
        bounds = (C.WINDOWSTART, C.WINDOWEND) if sink_name is None and query.window else ()
        items = _select_items(query.select, scope, source, alias, bounds=bounds)
        return plan_grouped(query, items, node, scope, source, sink_name, config or {})

    transient_bounds = _window_bounds(source) if sink_name is None else ()
    items, node = plan_flat_map(
        _select_items(query.select, scope, source, alias, partitioning, transient_bounds),
        node,
        source.kind,
    )
    outputs = _select_outputs(items, Scope(node.columns))
    select_order = [o.name for o in outputs]
    if partitioning is None:
        _assign_keys(outputs, source, sink_name)
        outputs.sort(key=lambda o: not o.is_key)
    else:
        has_star = any(isinstance(i, ast.SelectStar) for i in query.select)
        named = [(o.name, o.expr) for o in outputs]
        keys, values = split_outputs(partitioning, named, scope, has_star, sink_name)
        outputs = [OutputColumn(k.name, k.type, k.expr, True) for k in keys] + [
            outputs[i] for i in values
        ]
    project = project_outputs(
        outputs, node, C.ROWTIME, [ast.ColumnRef(c) for c in _passed_through(source)]
    )
    return QueryPlan(project, source, outputs, query.where, select_order, partitioning=partitioning)


def is_grouped(query: ast.Query, sink_name: str | None) -> bool:
    """Does the query aggregate? A transient one also when it calls an aggregate function
    without GROUP BY: then all its rows are one group, as ksqlDB does. An aggregating
    query's select may call no table function (an error)."""
    grouped = (
        query.group_by
        or query.window is not None
        or query.having is not None
        or (sink_name is None and _has_aggregate(query.select))
    )
    if grouped:
        check_no_table_functions([i.expr for i in query.select if isinstance(i, ast.SelectColumn)])
    return bool(grouped)


def _has_aggregate(items: tuple[ast.SelectItem, ...]) -> bool:
    """Does the select call an aggregate function? A transient query then aggregates all
    its rows as one group, as ksqlDB does without a GROUP BY."""
    return any(
        isinstance(e, ast.FunctionCall) and aggregates.is_aggregate(e.name)
        for item in items
        if isinstance(item, ast.SelectColumn)
        for e in walk(item.expr)
    )


def _passed_through(source: C.DataSource) -> list[str]:
    """Columns a stateless query carries to the sink besides its outputs: the window bounds
    of a windowed source (its sink is windowed alike) and the record headers."""
    bounds = [C.WINDOWSTART, C.WINDOWEND] if source.window is not None else []
    return [*bounds, C.RAW_HEADERS]


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


def _select_items(
    items: tuple[ast.SelectItem, ...],
    scope: Scope,
    source: C.DataSource,
    alias: str,
    partitioning: Partitioning | None = None,
    bounds: tuple[str, ...] = (),
) -> list[tuple[str, ast.Expr, bool]]:
    """(output name, expression, explicitly aliased) per column the select produces; `*`
    selects the columns of the input as PARTITION BY re-keys it. `bounds`: the window bounds
    a transient query over windowed rows may select (with `*`, after the key columns)."""
    names = ColumnNames(
        {c.name for c in source.columns}
        | {
            item.alias or item.expr.name  # type: ignore[attr-defined]
            for item in items
            if isinstance(item, ast.SelectColumn)
            and (item.alias or isinstance(item.expr, ast.ColumnRef))
        }
    )
    out: list[tuple[str, ast.Expr, bool]] = []
    for item in items:
        if isinstance(item, ast.SelectStar):
            if item.source is not None and item.source not in (alias, source.name):
                raise PlanError(
                    f"'{item.source}' is not a valid stream/table name or alias.",
                    preparing=PARSER_PREPARING,
                )
            if partitioning is not None:
                out += star_columns(partitioning, source, alias)
            else:
                keys = [c.name for c in source.key_columns]
                values = [c.name for c in source.columns if c.name not in keys]
                out += [(n, ast.ColumnRef(n, alias), False) for n in [*keys, *bounds, *values]]
        elif isinstance(item, ast.SelectStructAll):
            struct_type = typed(item.expr, scope, "SELECT")
            if not isinstance(struct_type, T.Struct):
                raise PlanError(f"Expected STRUCT type, got {struct_type}")
            out += [(f.name, ast.Dereference(item.expr, f.name), False) for f in struct_type.fields]
        else:
            if item.alias in C.SYSTEM_COLUMN_NAMES:
                raise PlanError(
                    f"`{item.alias}` is a reserved column name. You cannot use it as an alias "
                    "for a column."
                )
            name = item.alias or names.natural(item.expr)
            reserved = C.SYSTEM_COLUMN_NAMES - {C.ROWTIME, *bounds}
            if item.alias is None and name in reserved:
                raise PlanError(
                    f"Reserved column name in select: `{name}`. Please remove or alias the column."
                )
            out.append((name, item.expr, item.alias is not None))
    return out


def _window_bounds(source: C.DataSource) -> tuple[str, ...]:
    return (C.WINDOWSTART, C.WINDOWEND) if source.window is not None else ()


def check_duplicates(outputs: list[OutputColumn]) -> None:
    seen: set[str] = set()
    for o in outputs:
        if o.name in seen:
            raise PlanError(f"Duplicate value columns found in schema: `{o.name}` {o.type}")
        seen.add(o.name)


def _select_outputs(items: list[tuple[str, ast.Expr, bool]], scope: Scope) -> list[OutputColumn]:
    outputs: list[OutputColumn] = []
    for name, expr, _ in items:
        col_type = typed(expr, scope, "SELECT")
        if col_type is None:
            raise PlanError(
                f"Can't infer a type of null. Please explicitly cast it to a required type, "
                f"e.g. CAST(null AS VARCHAR). Column: {name}"
            )
        outputs.append(OutputColumn(name, col_type, expr, False))
    check_duplicates(outputs)
    return outputs


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


def _assign_keys(outputs: list[OutputColumn], source: C.DataSource, sink_name: str | None) -> None:
    """A stateless query keeps its source's key: every key column must be selected once.
    A transient query's window bounds are key columns too, as ksqlDB shows them."""
    key_names = [c.name for c in source.key_columns]
    if sink_name is None:
        key_names += _window_bounds(source)
    for key in key_names:
        aliases = [o for o in outputs if isinstance(o.expr, ast.ColumnRef) and o.expr.name == key]
        if len(aliases) > 1:
            names = " and ".join(o.name for o in aliases)
            raise PlanError(
                f"The projection contains a key column (`{key}`) more than once, aliased as: "
                f"{names}."
            )
        if aliases:
            aliases[0].is_key = True
    missing = [
        k
        for k in key_names[: len(source.key_columns)]
        if not any(o.is_key and o.expr.name == k for o in outputs)
    ]  # type: ignore[attr-defined]
    if missing and sink_name is not None:
        cols = " and ".join(key_names)
        noun = "column" if len(key_names) == 1 else "columns"
        raise PlanError(
            f"The query used to build `{sink_name}` must include the key {noun} {cols} in its "
            f"projection (eg, SELECT {', '.join(key_names)}...)."
        )
    if sink_name is not None and not any(not o.is_key for o in outputs):
        raise PlanError("The projection contains no value columns.")
