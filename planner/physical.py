"""The physical plan: the operators a query runs as, with their state stores, internal topics
and sink, as Kafka Streams' processing topology shows them (EXPLAIN prints it).

    logical plan (planner.logical) -> physical_plan(query_id, plan, sink) -> Topology

The names of state stores and their changelog topics are made here and nowhere else: the
runtime creates exactly the stores the topology lists. A query's source partitions are its
tasks; `Topology.describe` prints them with each operator's execution mode as the runtime
reports it (vectorized over Arrow batches, or per record by generated code).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grammar.printer import format_expr
from planner.builder import QueryPlan
from planner.internal_topics import join_internal_topics
from planner.logical import SinkSpec
from planner.table_functions import FlatMapNode
from sqlengine import catalog as C

SERVICE_ID = "default_"  # ksqlDB's default ksql.service.id
SERVICE_ID_CONFIG = "ksql.service.id"


def service_id(config: dict[str, str]) -> str:
    """The service id (ksql.service.id) internal topics and consumer groups are named with:
    servers of one id share the work of their queries."""
    return config.get(SERVICE_ID_CONFIG) or SERVICE_ID


def query_topic_prefix(query_id: str, service: str = SERVICE_ID) -> str:
    """What ksqlDB's internal topics of a query, and its consumer group, are named."""
    return f"_confluent-ksql-{service}query_{query_id}"


def aggregate_changelog(query_id: str, service: str = SERVICE_ID) -> str:
    return f"{query_topic_prefix(query_id, service)}-Aggregate-Aggregate-Materialize-changelog"


def table_source_changelog(query_id: str, service: str = SERVICE_ID) -> str:
    """The store of an aggregated table's current rows (to retract a row's old group)."""
    return f"{query_topic_prefix(query_id, service)}-KsqlTopic-Reduce-changelog"


def join_changelog(query_id: str, step: int, service: str = SERVICE_ID) -> str:
    """The store of the n-th join (from 1) of a query."""
    return f"{query_topic_prefix(query_id, service)}-Join-{step}-changelog"


@dataclass
class Operator:
    """One processor of the topology. `kind` is the operator's class: SOURCE, FILTER,
    PROJECT, FLAT_MAP, SELECT_KEY, AGGREGATE, SUPPRESS, JOIN, SINK. A state store is named
    as its changelog topic; `topics` are the topics a source reads or a sink writes."""

    kind: str
    detail: str
    stores: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


@dataclass
class Topology:
    query_id: str
    sources: list[C.DataSource]
    operators: list[Operator]  # in processing order; each feeds the next

    def describe(self, modes: dict[str, str] | None = None, tasks: int | None = None) -> str:
        """The topology as ksqlDB's EXPLAIN prints it; `modes` names how an operator kind
        runs (e.g. {"PROJECT": "vectorized"}), `tasks` how many source partitions it runs."""
        modes = modes or {}
        names = [f"{op.kind}-{i:010d}" for i, op in enumerate(self.operators)]
        header = "   Sub-topology: 0"
        if tasks is not None:
            header += f" (tasks: {tasks}, one per source partition)"
        lines = ["Topologies:", header]
        for i, op in enumerate(self.operators):
            role = {"SOURCE": "Source", "SINK": "Sink"}.get(op.kind, "Processor")
            extras = [op.detail] if op.detail else []
            if op.topics:
                label = "topic" if op.kind == "SINK" else "topics"
                value = op.topics[0] if op.kind == "SINK" else "[" + ", ".join(op.topics) + "]"
                extras.append(f"{label}: {value}")
            if role == "Processor":
                extras.append("stores (changelog topics): [" + ", ".join(op.stores) + "]")
            if op.kind in modes:
                extras.append(modes[op.kind])
            lines.append(f"    {role}: {names[i]} ({'; '.join(extras)})")
            if i + 1 < len(names):
                lines.append(f"      --> {names[i + 1]}")
            if i > 0:
                lines.append(f"      <-- {names[i - 1]}")
        return "\n".join(lines)


def physical_plan(
    query_id: str,
    plan: QueryPlan,
    sink: SinkSpec | C.DataSource | None,
    sink_name: str | None = None,
    config: dict[str, str] | None = None,
) -> Topology:
    """The operators that run `plan`: a persistent query's writing to `sink` (or to the
    stream or table `sink_name` a statement would create), else a push query's, whose
    results go to its client. `config` holds the properties that name internal topics
    (`ksql.service.id`) and shape them (the default key format)."""
    config = config or {}
    service = service_id(config)
    sources = [js.source for js in plan.join.sources] if plan.join else [plan.source]
    ops = [Operator("SOURCE", f"{s.kind.lower()} {s.name}", topics=[s.topic]) for s in sources[:1]]
    if plan.join is not None:
        for i, step in enumerate(plan.join.steps, start=1):
            right = plan.join.sources[step.right].source
            ops.append(
                Operator(
                    "JOIN",
                    f"{step.kind} {step.shape.lower().replace('_', '-')} with {right.name} "
                    f"(topic {right.topic})",
                    stores=[join_changelog(query_id, i, service)],
                )
            )
        # ksqlDB's repartition and store topics of the joins, for tools that list them.
        prefix = query_topic_prefix(query_id, service)
        ops[1].topics = [f"{prefix}-{t.name}" for t in join_internal_topics(plan.join, config)]
    if plan.where is not None:
        ops.append(Operator("FILTER", format_expr(plan.where)))
    node = plan.root.input  # type: ignore[attr-defined]
    if isinstance(node, FlatMapNode):
        ops.append(Operator("FLAT_MAP", ", ".join(format_expr(c.call) for c in node.calls)))
    agg = plan.aggregation
    if agg is not None:
        keys = ", ".join(format_expr(k.expr) for k in agg.keys)
        ops.append(Operator("SELECT_KEY", f"GROUP BY {keys}"))
        stores = [aggregate_changelog(query_id, service)]
        if (plan.join.result_kind if plan.join else plan.source.kind) == "TABLE":
            stores.append(table_source_changelog(query_id, service))
        window = ""
        if agg.window is not None:
            window = f" WINDOW {agg.window.kind} (SIZE {agg.window.size.millis} MS)"
        calls = ", ".join(format_expr(c.call) for c in agg.calls)
        ops.append(Operator("AGGREGATE", f"{calls}{window}", stores=stores))
        if plan.emit == "FINAL":
            ops.append(Operator("SUPPRESS", "until window closes"))
        if agg.having is not None:
            ops.append(Operator("FILTER", f"HAVING {format_expr(agg.having)}"))
    if plan.partitioning is not None:
        written = ", ".join(format_expr(e) for e in plan.partitioning.written) or "NULL"
        ops.append(Operator("SELECT_KEY", f"PARTITION BY {written}"))
    ops.append(Operator("PROJECT", ", ".join(o.name for o in plan.outputs)))
    if sink is not None:
        formats = (
            f"{sink.kind.lower()} {sink.name}, {sink.key_format.name}/{sink.value_format.name}"
        )
        ops.append(Operator("SINK", formats, topics=[sink.topic]))
    elif sink_name is not None:
        ops.append(Operator("SINK", f"{plan.result_kind.lower()} {sink_name}"))
    else:
        ops.append(Operator("SINK", "transient: rows to the client"))
    return Topology(query_id, sources, ops)
