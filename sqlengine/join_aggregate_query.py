"""GROUP BY over a join at run time: the join runtime, projecting each joined row to its
pre-aggregation columns, writes into an aggregation step instead of a sink.

    sources --> join steps --> [WHERE + group keys + aggregate arguments] --> AggregationStep
                                                                           --> output

A join producing a table (table-table, foreign-key) leads its rows with the result's key and
deletes rows with tombstones, so the step replaces each key's row as it does a table's.
"""

from __future__ import annotations

import dataclasses

from grammar import ast
from planner.builder import QueryPlan
from planner.joins import JOIN_KEY, JOIN_ROWTIME, JoinPlan
from planner.logical import ProjectNode
from sqlengine.aggregation_step import AggregationStep
from sqlengine.join_query import JoinQuery
from sqlengine.runtime import QueryContext
from sqlengine.sink import RowSink


def _result_key(jp: JoinPlan) -> list[ast.Expr]:
    """The key a table-producing join's rows lead with (its tombstones carry it alone):
    a foreign-key join's is the left table's key, any other the join key."""
    if jp.result_kind != "TABLE":
        return []
    if jp.foreign_key:
        left = jp.sources[0]
        return [ast.ColumnRef(c.name, left.alias) for c in left.source.key_columns]
    return [ast.ColumnRef(jp.synthetic_key or JOIN_KEY)]


def _pre_aggregation(plan: QueryPlan, key: list[ast.Expr]) -> QueryPlan:
    """The join part of the plan: the join, WHERE, and the pre-aggregation columns as its
    projection."""
    assert plan.aggregation is not None
    _, *pre = plan.aggregation.pre_exprs()
    aggregate = plan.root.input  # type: ignore[attr-defined]
    project = ProjectNode([], [], aggregate.input, [ast.ColumnRef(JOIN_ROWTIME), *key, *pre])
    return dataclasses.replace(plan, root=project, aggregation=None)


class JoinAggregateQuery(JoinQuery):
    def __init__(self, query_id: str, plan: QueryPlan, output: RowSink, ctx: QueryContext) -> None:
        assert plan.join is not None
        self.query_plan = plan
        key = _result_key(plan.join)
        self.aggregation = AggregationStep(
            query_id, plan, output, ctx, self._on_error, len(key) if key else None
        )
        super().__init__(query_id, _pre_aggregation(plan, key), self.aggregation, ctx)

    def internal_topics(self) -> list[str]:
        return [*super().internal_topics(), *self.aggregation.changelogs]

    def logical_plan(self) -> QueryPlan:
        return self.query_plan
