"""The runtime of a planned query: stateless, aggregation, join or aggregation over a join,
writing to any output (a sink topic for a persistent query, a transient push query's
consumer)."""

from __future__ import annotations

from planner.builder import QueryPlan
from sqlengine.aggregate_query import AggregateQuery
from sqlengine.join_aggregate_query import JoinAggregateQuery
from sqlengine.join_query import JoinQuery
from sqlengine.repartition import RepartitionedAggregateQuery
from sqlengine.runtime import PersistentQuery, QueryContext, StatelessQuery
from sqlengine.scaleout import needs_repartition
from sqlengine.sink import RowSink


def query_runtime(
    query_id: str, plan: QueryPlan, output: RowSink, ctx: QueryContext
) -> PersistentQuery:
    if plan.aggregation is not None:
        if plan.join is not None:
            return JoinAggregateQuery(query_id, plan, output, ctx)
        if ctx.partitions is not None and needs_repartition(plan):  # split across servers
            return RepartitionedAggregateQuery(query_id, plan, output, ctx)
        return AggregateQuery(query_id, plan, output, ctx)
    if plan.join is not None:
        return JoinQuery(query_id, plan, output, ctx)
    return StatelessQuery(query_id, plan, output, ctx)
