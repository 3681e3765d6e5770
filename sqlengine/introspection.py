"""Statements that read rather than change: SHOW/LIST, DESCRIBE, EXPLAIN, PRINT, SELECT, ASSERT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grammar import ast
from planner.errors import PlanError
from planner.physical import physical_plan
from planner.select import plan_select
from sqlengine import catalog as C
from sqlengine import results as R
from sqlengine.aggregates import aggregate_names
from sqlengine.engine_context import EngineContext
from sqlengine.functions.registry import REGISTRY
from sqlengine.log.base import Log, TopicInfo
from sqlengine.properties import effective_properties
from sqlengine.pull_cache import PullQueries
from sqlengine.query import Query
from sqlengine.record_formatter import RecordFormatter
from sqlengine.topic_statistics import query_statistics, topic_statistics

INTERNAL_TOPIC_PREFIXES = ("_streamdb", "streamdb_processing_log", "_confluent")
QUERY_ERRORS_SHOWN = 10  # EXPLAIN's latest failed records of a query
DEFAULT_HOST = "localhost:8088"


def server_host(config: dict[str, str]) -> str:
    """This server as ksqlDB names a host in its statistics: host:port of its first listener."""
    first = config.get("listeners", "").split(",")[0].strip()
    address = first.split("://", 1)[-1].rstrip("/")
    return address if ":" in address else DEFAULT_HOST


class Introspection:
    def __init__(
        self, engine: EngineContext, running: dict[str, Query], pulls: PullQueries
    ) -> None:
        self.engine = engine
        self.running = running  # the persistent queries by id
        self.pulls = pulls
        self.handlers: dict[type, Callable[[Any, dict[str, str]], R.Result]] = {
            ast.Show: self.show,
            ast.Describe: self.describe,
            ast.DescribeFunction: self.describe_function,
            ast.Explain: self.explain,
            ast.Print: self.print_topic,
            ast.SelectStatement: self.select,
        }

    def handler(self, stmt: ast.Statement) -> Callable[[Any, dict[str, str]], R.Result] | None:
        return self.handlers.get(type(stmt))

    @property
    def catalog(self) -> C.Catalog:
        return self.engine.catalog

    def show(self, stmt: ast.Show, config: dict[str, str]) -> R.Result:
        what = stmt.what.upper()
        if what in ("STREAMS", "TABLES"):
            kind = what[:-1]
            return R.SourceList(
                stmt.text,
                kind,
                [
                    R.SourceSummary(
                        s.name,
                        s.kind,
                        s.topic,
                        s.key_format.name,
                        s.value_format.name,
                        s.window is not None,
                    )
                    for s in sorted(self.catalog.sources.values(), key=lambda s: s.name)
                    if s.kind == kind
                ],
            )
        if what == "QUERIES":
            return R.QueryList(stmt.text, self._summaries(list(self.catalog.queries)))
        if what == "TOPICS":
            topics = [
                (t.name, t.partitions)
                for t in self.engine.log.topics()
                if stmt.all_topics or not t.name.startswith(INTERNAL_TOPIC_PREFIXES)
            ]
            groups = self._consumer_groups() if stmt.extended else None
            return R.TopicList(stmt.text, sorted(topics), groups)
        if what == "PROPERTIES":
            effective = effective_properties(self.engine.config, config)
            return R.PropertyList(
                stmt.text,
                {p.name: p.value for p in effective},
                [p.name for p in effective if p.overridden],
                [p.name for p in effective if p.is_default],
            )
        if what == "FUNCTIONS":
            infos = sorted([*REGISTRY.names(), *aggregate_names()], key=lambda f: f.name)
            return R.FunctionList(stmt.text, [(f.name, f.kind, f.category) for f in infos])
        if what == "TYPES":
            return R.TypeList(stmt.text, {n: str(t) for n, t in sorted(self.catalog.types.items())})
        raise PlanError(f"SHOW {what} is not supported")

    def _consumer_groups(self) -> dict[str, int]:
        """How many consumer groups read each topic: one per running persistent query."""
        groups: dict[str, int] = {}
        for query in self.running.values():
            for topic in {t for t, _ in query.read_positions()}:
                groups[topic] = groups.get(topic, 0) + 1
        return groups

    def _source(self, name: str) -> C.DataSource:
        source = self.catalog.source(name)
        if source is None:
            raise PlanError(f"Could not find STREAM/TABLE '{name}' in the Metastore")
        return source

    def describe(self, stmt: ast.Describe, config: dict[str, str]) -> R.Result:
        if stmt.name is None:
            kind = (stmt.what or "STREAMS")[:-1]
            names = sorted(s.name for s in self.catalog.sources.values() if s.kind == kind)
            return R.SourceDescriptionList(
                stmt.text, [self._description(self._source(n), stmt) for n in names]
            )
        return self._description(self._source(stmt.name), stmt)

    def _description(self, s: C.DataSource, stmt: ast.Describe) -> R.SourceDescriptionResult:
        topic = self.engine.log.topic(s.topic)
        readers = self.catalog.readers_of(s.name)
        runtime = (
            topic_statistics(
                self.engine.log,
                s.topic,
                [self.running[q].read_positions() for q in readers if q in self.running],
                self.engine.plog.failures_of_topic(s.topic),
            )
            if stmt.extended
            else None
        )
        return R.SourceDescriptionResult(
            statement=stmt.text,
            name=s.name,
            kind=s.kind,
            columns=[
                (c.name, str(c.type), None if c.kind == C.VALUE else c.kind) for c in s.columns
            ],
            topic=s.topic,
            key_format=s.key_format.name,
            value_format=s.value_format.name,
            timestamp=s.timestamp_column,
            read_queries=self._summaries(readers),
            write_queries=self._summaries(self.catalog.writers_of(s.name)),
            extended=stmt.extended,
            statement_text=s.sql,
            partitions=topic.partitions if topic else 0,
            runtime=runtime,
            host=server_host(self.engine.config),
        )

    def _summaries(self, query_ids: list[str]) -> list[R.QuerySummary]:
        queries = [self.catalog.queries.get(q) for q in query_ids]
        return [
            R.QuerySummary(q.query_id, q.sql, [q.sink] if q.sink else [], q.state)
            for q in queries
            if q is not None
        ]

    def describe_function(self, stmt: ast.DescribeFunction, config: dict[str, str]) -> R.Result:
        info = REGISTRY.describe(stmt.name) or next(
            (f for f in aggregate_names() if f.name == stmt.name.upper()), None
        )
        if info is None:
            raise PlanError(f"Can't find any functions with the name '{stmt.name}'")
        origin = REGISTRY.origin(info.name)
        return R.FunctionDescription(
            stmt.text,
            info.name,
            info.kind,
            info.description,
            info.signatures,
            origin.author,
            origin.version,
            origin.path,
        )

    def explain(self, stmt: ast.Explain, config: dict[str, str]) -> R.Result:
        if stmt.query_id is not None:
            qid = stmt.query_id.upper()
            running = self.running.get(qid)
            if running is None:
                raise PlanError(
                    f"Query with id:{qid} does not exist, use SHOW QUERIES to view the full set of running queries."
                )
            info = self.catalog.queries[qid]
            sink = self.catalog.source(info.sink) if info.sink else None
            plan = running.plan
            topology = physical_plan(qid, plan, sink, config=self.engine.config)
            plog = self.engine.plog
            return R.ExplainResult(
                stmt.text,
                qid,
                info.sql,
                plan.root.explain(),
                topology.describe(running.execution_modes(), _tasks(running)),
                [s.name for s in topology.sources],
                [info.sink] if info.sink else [],
                "PERSISTENT",
                state=info.state,
                runtime=query_statistics(
                    self.engine.log, running.read_positions(), plog.failures_of_query(qid)
                ),
                errors=plog.entries_of_query(qid)[-QUERY_ERRORS_SHOWN:],
                host=server_host(self.engine.config),
            )
        inner = stmt.statement
        query = getattr(inner, "query", None)
        if not isinstance(query, ast.Query):
            raise PlanError("EXPLAIN is only supported for queries")
        if isinstance(inner, ast.SelectStatement) and query.emit is None:
            # A pull query: how it runs (key lookup, store scan, DuckDB's plan).
            pulled = self.pulls.prepare(inner.text, inner, config)
            sources = pulled.plan.source_names
            return R.ExplainResult(
                stmt.text, None, inner.text, pulled.explain(), "", sources, [], "PULL"
            )
        sink_name = getattr(inner, "name", None) or getattr(inner, "target", None)
        plan = plan_select(query, self.catalog, sink_name)
        topology = physical_plan("<transient>", plan, None, sink_name)
        return R.ExplainResult(
            stmt.text,
            None,
            inner.text if inner else "",
            plan.root.explain(),
            topology.describe(),
            [s.name for s in topology.sources],
            [sink_name] if sink_name else [],
        )

    def print_topic(self, stmt: ast.Print, config: dict[str, str]) -> R.Result:
        """PRINT's records as they are now (the REST server follows new ones instead)."""
        log = self.engine.log
        info = print_topic_info(log, stmt.topic)
        limit = stmt.limit if stmt.limit is not None else 1_000_000
        every = max(stmt.interval or 1, 1)
        records = []
        for partition in range(info.partitions):
            start = 0 if stmt.from_beginning else log.end_offset(info.name, partition)
            records.extend(log.read(info.name, partition, start, limit * every).records())
        printed = records[::every][:limit]
        formatter = RecordFormatter(self.engine.schema_registry)
        return R.PrintedRecords(stmt.text, formatter.format_lines(printed))

    def select(self, stmt: ast.SelectStatement, config: dict[str, str]) -> R.Result:
        """A pull query: a table's rows from its materialization (key lookups when the WHERE
        clause fixes the key), a stream's from a scan of its topic as it is now."""
        pulls = self.pulls
        query = pulls.prepare(stmt.text, stmt, config)
        columns = [(o.name, str(o.type)) for o in query.plan.plan.outputs]
        return R.Rows(stmt.text, columns, [list(r[1:-1]) for r in pulls.rows(query)])


def print_topic_info(log: Log, topic: str) -> TopicInfo:
    """The topic PRINT names; PlanError when there is none, suggesting the names that differ
    from it only in case (topic names are case-sensitive; an unquoted name is upper-cased)."""
    info = log.topic(topic)
    if info is None:
        alike = [t.name for t in log.topics() if t.name.lower() == topic.lower()]
        hint = "".join(f"\n\tprint '{name}';" for name in sorted(alike))
        raise PlanError(
            f"Could not find topic '{topic}', or the KSQL user does not have permissions to "
            "list the topic. Topic names are case-sensitive."
            + (f"\nDid you mean:{hint}" if hint else "")
        )
    return info


def _tasks(query: Query) -> int:
    """A query's tasks: one per partition of its (co-partitioned) sources."""
    return len({partition for _, partition in query.read_positions()})
