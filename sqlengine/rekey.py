"""Output keys of stateless queries beyond the projection: the key of a null-value record,
and the key format a re-keyed sink gets.

A null-value stream record is forwarded with the key its output key expressions give when
they read only key columns (ksqlDB evaluates them on the key alone); any other expression,
which would read the missing value, gives NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from grammar import ast
from grammar.rewrite import walk
from planner.builder import QueryPlan
from planner.errors import PlanError
from planner.logical import PlanNode, SourceNode
from planner.scope import Scope
from sqlengine import catalog as C
from sqlengine.codegen import compile_stage


def null_row_keys(
    plan: QueryPlan, on_error: Callable[[Exception, Sequence[Any]], None]
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """null-value row (ROWTIME, ROWPARTITION, ROWOFFSET, keys..., [bounds], headers) -> the
    output key columns of its record."""
    source = plan.source
    key_names = {c.name for c in source.key_columns}
    exprs = [
        o.expr if _reads_only(o.expr, key_names) else ast.Literal(None, o.type)
        for o in plan.key_outputs
    ]
    stage = compile_stage(None, exprs, Scope(_source_node(plan.root).columns), on_error)
    end = 3 + len(key_names)
    padding = (None,) * (len(source.columns) - len(key_names))
    return lambda row: stage([(*row[:end], *padding, *row[end:])])[0]


def _reads_only(expr: ast.Expr, names: set[str]) -> bool:
    params: set[str] = set()
    for e in walk(expr):
        if isinstance(e, ast.Lambda):
            params.update(e.params)
        elif isinstance(e, ast.ColumnRef) and e.name not in params and e.name not in names:
            return False
    return True


def _source_node(node: PlanNode) -> PlanNode:
    while not isinstance(node, SourceNode):
        node = node.children()[0]
    return node


def sink_key_format(
    plan: QueryPlan, inherited: C.Format, explicit: str | None, config: dict[str, str]
) -> C.Format:
    """The key format of a CREATE ... AS SELECT sink, given the format it inherits and the
    one its WITH clause names (KEY_FORMAT or FORMAT): PARTITION BY NULL gives NONE (and
    refuses any other explicit format); a result with key columns does not inherit NONE but
    takes the default key format."""
    if plan.partitioning is not None and plan.partitioning.by_null:
        if explicit is not None and explicit.upper() != "NONE":
            raise PlanError("Key format specified for stream without key columns.", "plain")
        return C.Format("NONE")
    if explicit is None and inherited.name == "NONE" and plan.key_outputs:
        return C.Format(config.get("ksql.persistence.default.format.key", "KAFKA").upper())
    return inherited
