"""The SELECT of a join: output names (a column shared by several sources is prefixed by its
source's alias), the result key (the join expression, named by the select item that reads it;
a foreign-key join keeps the left table's key) and the logical plan, with ksqlDB's errors."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable

from grammar import ast
from grammar.printer import format_expr
from grammar.rewrite import transform
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
from planner.joins import (
    JOIN_KEY,
    JOIN_ROWTIME,
    JoinPlan,
    JoinSource,
    check_qualifiers,
    plan_joins,
    qualify,
    source_columns,
)
from planner.logical import FilterNode, JoinNode, PlanNode, SourceNode
from planner.partitioning import (
    Partitioning,
    generated_key_columns,
    plan_stream_partitioning,
    split_outputs,
)
from planner.scope import Column, Scope
from sqlengine import catalog as C
from sqlengine import types as T


def plan_join_select(
    query: ast.Query, catalog: C.Catalog, sink_name: str | None, config: dict[str, str]
) -> QueryPlan:
    jp = plan_joins(query, catalog)
    scope = jp.row_scope
    exprs = [i.expr for i in query.select if not isinstance(i, ast.SelectStar)]
    check_qualifiers([*exprs, *([query.where] if query.where is not None else [])], _aliases(jp))
    node = _logical_tree(jp)
    if query.where is not None:
        joined_where, joined_scope = _joined_names(query.where, scope)
        where_type = typed(joined_where, joined_scope, "WHERE")
        if where_type is not None and where_type != T.BOOLEAN:
            raise PlanError(
                "Type error in WHERE expression: Should evaluate to boolean but is "
                f"{format_expr(query.where)} ({where_type}) instead."
            )
        node = FilterNode(scope.columns, node.key_names, node, query.where)
    left = jp.sources[0].source
    if is_grouped(query):
        # The join's result rows are the aggregation's input.
        items = [(name, expr, False) for name, expr in _select_items(query.select, jp, None)]
        return plan_grouped(query, items, node, scope, left, sink_name, config, jp)
    partitioning = None if query.partition_by is None else _partitioning(query.partition_by, jp)
    outputs: list[OutputColumn] = []
    for name, expr in _select_items(query.select, jp, partitioning):
        col_type = typed(expr, scope, "SELECT")
        if col_type is None:
            raise PlanError(
                "Can't infer a type of null. Please explicitly cast it to a required type, "
                f"e.g. CAST(null AS VARCHAR). Column: {name}"
            )
        outputs.append(OutputColumn(name, col_type, expr, False))
    if partitioning is not None:
        has_star = any(isinstance(i, ast.SelectStar) for i in query.select)
        named = [(o.name, o.expr) for o in outputs]
        keys, values = split_outputs(partitioning, named, scope, has_star, sink_name)
        outputs = [OutputColumn(k.name, k.type, k.expr, True) for k in keys] + [
            outputs[i] for i in values
        ]
    elif jp.foreign_key:
        _assign_foreign_keys(outputs, jp, sink_name)
    else:
        _assign_join_key(outputs, jp, sink_name)
    check_duplicates(outputs)
    if sink_name is not None and not any(not o.is_key for o in outputs):
        raise PlanError("The projection contains no value columns.")
    select_order = [o.name for o in outputs]
    outputs.sort(key=lambda o: not o.is_key)
    project = project_outputs(outputs, node, JOIN_ROWTIME)
    return QueryPlan(
        project, left, outputs, query.where, select_order, partitioning=partitioning, join=jp
    )


def _partitioning(exprs: tuple[ast.Expr, ...], jp: JoinPlan) -> Partitioning:
    """PARTITION BY re-keys a stream-producing join's result; a column of it keeps the name
    it has there (ALIAS_NAME)."""
    if jp.result_kind == "TABLE":
        raise PlanError("PARTITION BY on a JOIN of tables is not supported")
    taken = {name for js in jp.sources for name, _ in _partitioned_star(js)}
    partitioning = plan_stream_partitioning(exprs, jp.row_scope, taken)
    for key in partitioning.keys:
        if isinstance(key.expr, ast.ColumnRef) and key.expr.source is not None:
            key.name = f"{key.expr.source}_{key.expr.name}"
    return partitioning


def _partitioned_star(js: JoinSource) -> list[tuple[str, ast.Expr]]:
    """What `*` reads of a source when the join's result is re-keyed: ksqlDB's repartition
    carries the join's internal row, so the source's value columns, its pseudo columns, then
    its key columns, each prefixed by the source's alias."""
    keys = [c.name for c in js.source.key_columns]
    values = [c.name for c in js.source.columns if c.name not in keys]
    names = [*values, *(name for name, _ in C.PSEUDO_COLUMNS), *keys]
    return [(f"{js.alias}_{name}", ast.ColumnRef(name, js.alias)) for name in names]


def _joined_names(expr: ast.Expr, scope: Scope) -> tuple[ast.Expr, Scope]:
    """An expression over a joined row as ksqlDB types (and words errors about) it: over the
    join's schema, where a source's column is named ALIAS_NAME."""

    def renamer(params: frozenset[str]) -> Callable[[ast.Expr], ast.Expr | None]:
        def rename(e: ast.Expr) -> ast.Expr | None:
            if isinstance(e, ast.Lambda):
                inner = renamer(params | set(e.params))
                return dataclasses.replace(e, body=transform(e.body, inner))
            if isinstance(e, ast.ColumnRef) and not (e.source is None and e.name in params):
                try:
                    col = scope.resolve(e.name, e.source)
                except PlanError:
                    return e  # typing reports it, as written
                return ast.ColumnRef(_joined_name(col), line=e.line, column=e.column)
            return None

        return rename

    columns = [Column(_joined_name(c), c.type, c.index) for c in scope.columns]
    return transform(expr, renamer(frozenset())), Scope(columns)


def _joined_name(col: Column) -> str:
    return col.name if col.source is None else f"{col.source}_{col.name}"


def _aliases(jp: JoinPlan) -> set[str]:
    return {js.alias for js in jp.sources}


def _logical_tree(jp: JoinPlan) -> PlanNode:
    def source_node(js: JoinSource) -> SourceNode:
        cols = source_columns(js.source, js.alias, 0)
        return SourceNode(cols, [c.name for c in js.source.key_columns], js.source, js.alias)

    node: PlanNode = source_node(jp.sources[0])
    for step in jp.steps:
        right = jp.sources[step.right]
        end = right.offset + right.width
        cols = [c for c in jp.body_scope.columns if c.index < end]
        criteria = f"{format_expr(step.left_expr)} = {format_expr(step.right_expr)}"
        node = JoinNode(cols, [], node, source_node(right), step.kind, step.shape, criteria)
    return node


def _select_items(
    items: tuple[ast.SelectItem, ...], jp: JoinPlan, partitioning: Partitioning | None
) -> list[tuple[str, ast.Expr]]:
    """(output name, expression) per column: a qualified column is named ALIAS_NAME."""
    taken = {f"{js.alias}_{c.name}" for js in jp.sources for c in js.source.columns}
    taken |= {i.alias for i in items if isinstance(i, ast.SelectColumn) and i.alias}
    names = ColumnNames(taken)
    # A column is named by its name, prefixed by its source's alias when sources share it.
    counts = Counter(c.name for c in jp.body_scope.columns)
    shared = {name for name, n in counts.items() if n > 1}
    out: list[tuple[str, ast.Expr]] = []
    for item in items:
        if isinstance(item, ast.SelectStar):
            if item.source is not None and item.source not in _aliases(jp):
                raise PlanError(
                    f"'{item.source}' is not a valid stream/table name or alias.",
                    preparing=PARSER_PREPARING,
                )
            if partitioning is not None:
                out += [
                    c
                    for js in jp.sources
                    if item.source in (None, js.alias)
                    for c in _partitioned_star(js)
                ]
                if item.source is None:
                    out += [(name, expr) for name, expr, _ in generated_key_columns(partitioning)]
                continue
            if item.source is None and jp.synthetic_key is not None:
                out.append((jp.synthetic_key, ast.ColumnRef(jp.synthetic_key)))
            out += [
                (f"{js.alias}_{name}", ast.ColumnRef(name, js.alias))
                for js in jp.sources
                if item.source in (None, js.alias)
                for name in _star_names(js.source)
            ]
        elif isinstance(item, ast.SelectStructAll):
            struct_type = typed(item.expr, jp.row_scope, "SELECT")
            if not isinstance(struct_type, T.Struct):
                raise PlanError(f"Expected STRUCT type, got {struct_type}")
            out += [(f.name, ast.Dereference(item.expr, f.name)) for f in struct_type.fields]
        elif item.alias in C.SYSTEM_COLUMN_NAMES:
            raise PlanError(
                f"Reserved column name in select: `{item.alias}`. Please remove or alias the "
                "column."
            )
        elif item.alias is not None:
            out.append((item.alias, item.expr))
        elif isinstance(item.expr, ast.ColumnRef) and item.expr.name in shared:
            col = jp.row_scope.resolve_ref(item.expr)
            out.append((f"{col.source}_{col.name}", item.expr))
        else:
            out.append((names.natural(item.expr), item.expr))
    return out


def _star_names(source: C.DataSource) -> list[str]:
    """What `*` reads of a joined source: its keys, its window bounds when windowed, then
    its other columns."""
    keys = [c.name for c in source.key_columns]
    bounds = [C.WINDOWSTART, C.WINDOWEND] if source.window is not None else []
    return [*keys, *bounds, *(c.name for c in source.columns if c.name not in keys)]


def _or_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _assign_join_key(outputs: list[OutputColumn], jp: JoinPlan, sink_name: str | None) -> None:
    """The key is the join expression: the first select item equal to a source column the
    key equals (or the synthetic key) names it, and reads the key itself."""
    scope = jp.row_scope
    synthetic = jp.synthetic_key
    candidates = [ast.ColumnRef(synthetic)] if synthetic is not None else jp.viable_keys
    # The left side's expression names the key when selected, else the first one selected.
    selected = [qualify(o.expr, scope) for o in outputs]
    key_expr = next((c for c in candidates if c in selected), None)
    if key_expr is None:
        if sink_name is None:
            return
        shown = [format_expr(e) for e in candidates]
        noun = "expression" if len(shown) == 1 else "expressions"
        message = (
            f"The query used to build `{sink_name}` must include the join {noun} "
            f"{_or_list(shown)} in its projection (eg, SELECT {shown[0]}...)."
        )
        if synthetic is not None:
            message = (
                "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
                f"{message}\n{synthetic} was added as a synthetic key column because the join "
                "criteria did not match any source column."
            )
        raise PlanError(message)
    same = [o for o, e in zip(outputs, selected, strict=True) if e == key_expr]
    if len(same) > 1:
        internal = (
            f"{key_expr.source}_{key_expr.name}"  # type: ignore[attr-defined]
            if key_expr.source  # type: ignore[attr-defined]
            else key_expr.name  # type: ignore[attr-defined]
        )
        names = " and ".join(sorted(o.name for o in same))
        raise PlanError(
            f"The projection contains a key column (`{internal}`) more than once, aliased as: "
            f"{names}."
        )
    same[0].is_key = True
    same[0].expr = ast.ColumnRef(synthetic or JOIN_KEY)
    same[0].type = jp.key_type


def _assign_foreign_keys(outputs: list[OutputColumn], jp: JoinPlan, sink_name: str | None) -> None:
    """A foreign-key join keeps the left table's key: each of its columns selected once."""
    left = jp.sources[0]
    scope = jp.row_scope
    missing: list[str] = []
    for col in left.source.key_columns:
        ref = ast.ColumnRef(col.name, left.alias)
        same = [o for o in outputs if qualify(o.expr, scope) == ref]
        if len(same) > 1:
            names = " and ".join(sorted(o.name for o in same))
            raise PlanError(
                f"The projection contains a key column (`{left.alias}_{col.name}`) more than "
                f"once, aliased as: {names}."
            )
        if same:
            same[0].is_key = True
        else:
            missing.append(col.name)
    if missing and sink_name is not None:
        plural = "s" if len(missing) > 1 else ""
        listed = ", ".join(f"`{m}`" for m in missing)
        raise PlanError(
            f"Primary key column{plural} missing in projection. For foreign-key table-table "
            "joins, the projection must include all primary key columns from the left input "
            f"table (`{left.alias}`). Missing column{plural}: {listed}."
        )
