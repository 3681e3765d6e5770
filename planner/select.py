"""A SELECT to its plan (`plan_select`): one over a single source is planned here (select
expansion, key rules, type checks), one over a join by planner.join_select."""

from __future__ import annotations

from grammar import ast
from grammar.printer import format_expr
from grammar.rewrite import walk
from planner.builder import (
    ColumnNames,
    OutputColumn,
    QueryPlan,
    check_duplicates,
    is_grouped,
    plan_grouped,
    project_outputs,
    typed,
)
from planner.errors import PARSER_PREPARING, PlanError
from planner.join_select import plan_join_select
from planner.logical import FilterNode, PlanNode, SourceNode
from planner.partitioning import Partitioning, plan_partitioning, split_outputs, star_columns
from planner.scope import Scope, source_scope
from planner.table_functions import plan_flat_map
from sqlengine import catalog as C
from sqlengine import types as T


def plan_select(
    query: ast.Query,
    catalog: C.Catalog,
    sink_name: str | None,
    config: dict[str, str] | None = None,
) -> QueryPlan:
    if query.emit == "FINAL" and query.window is None:
        raise PlanError("EMIT FINAL is only supported for windowed aggregations.")
    check_pull_only_clauses(query)
    if isinstance(query.from_, ast.Join):
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
    if is_grouped(query):
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
        _assign_keys(outputs, source, sink_name, _new_planner(config or {}))
        outputs.sort(key=lambda o: not o.is_key)
        if sink_name is not None and not _new_planner(config or {}):
            # ksqlDB's default (old) planner keeps a sink's key columns in the source's
            # order, however the projection orders them.
            source_keys = [c.name for c in source.key_columns]
            outputs.sort(key=lambda o: source_keys.index(o.expr.name) if o.is_key else 1 << 30)
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


def _new_planner(config: dict[str, str]) -> bool:
    return config.get("ksql.new.query.planner.enabled", "false").lower() == "true"


def check_pull_only_clauses(query: ast.Query) -> None:
    """ORDER BY, DISTINCT, OFFSET and subqueries in FROM exist for pull queries only (run
    on DuckDB over what is there now): a persistent or push query never ends, so has no
    order or offset to speak of."""
    for present, clause in (
        (query.order_by is not None, "ORDER BY"),
        (query.distinct, "SELECT DISTINCT"),
        (query.offset is not None, "OFFSET"),
        (query.analytic, "a subquery in FROM"),
    ):
        if present:
            raise PlanError(
                f"{clause} is supported in pull queries only: remove it, or drop EMIT "
                "CHANGES to query what the sources hold now."
            )


def _passed_through(source: C.DataSource) -> list[str]:
    """Columns a stateless query carries to the sink besides its outputs: the window bounds
    of a windowed source (its sink is windowed alike) and the record headers."""
    bounds = [C.WINDOWSTART, C.WINDOWEND] if source.window is not None else []
    return [*bounds, C.RAW_HEADERS]


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


def _assign_keys(
    outputs: list[OutputColumn],
    source: C.DataSource,
    sink_name: str | None,
    new_planner: bool = False,
) -> None:
    """A stateless query keeps its source's key: every key column must be selected once
    (ksqlDB's new planner lets a stream's query select none, writing a keyless stream).
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
    keyless = new_planner and source.kind == "STREAM" and not any(o.is_key for o in outputs)
    if missing and sink_name is not None and not keyless:
        cols = " and ".join(key_names)
        noun = "column" if len(key_names) == 1 else "columns"
        raise PlanError(
            f"The query used to build `{sink_name}` must include the key {noun} {cols} in its "
            f"projection (eg, SELECT {', '.join(key_names)}...)."
        )
    if sink_name is not None and not any(not o.is_key for o in outputs):
        raise PlanError("The projection contains no value columns.")
