"""Statement execution: one handler per statement kind, dispatched on the AST node type."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from grammar import ast
from grammar.printer import format_create_as_select
from grammar.variables import SessionVariables
from planner.builder import cast_outputs
from planner.errors import PlanError
from planner.physical import service_id
from planner.select import plan_select
from sqlengine import catalog as C
from sqlengine import ddl
from sqlengine import results as R
from sqlengine import types as T
from sqlengine.connectors.statements import ConnectorStatements
from sqlengine.engine_context import EngineContext
from sqlengine.inserts import insert_values
from sqlengine.introspection import Introspection
from sqlengine.log.base import TopicExistsError, UnknownTopicError
from sqlengine.properties import is_known_property, unknown_property_message
from sqlengine.pull_cache import PullQueries
from sqlengine.query import Query, build_query
from sqlengine.rekey import sink_key_format
from sqlengine.runtime import QueryContext, query_group
from sqlengine.state import StorePartitions
from sqlengine.upgrades import query_upgrade_problem, source_upgrade_problem

# Statements replayed from the command log to rebuild the catalog and queries.
_PERSISTENT = (
    ast.CreateSource,
    ast.CreateAsSelect,
    ast.InsertInto,
    ast.DropSource,
    ast.Terminate,
    ast.PauseResume,
    ast.CreateType,
    ast.DropType,
    ast.AlterSource,
    ast.CreateConnector,
    ast.DropConnector,
)


# Prefixes of the query ids streamdb generates, which a chosen QUERY_ID may not take.
_RESERVED_QUERY_PREFIXES = ("INSERTQUERY_", "CTAS_", "CSAS_", "CST_")
_QUERY_ID = re.compile(r"[A-Za-z0-9_]+")

# What a recorded statement does to its stream, table or type: the action in its command id.
_SOURCE_ACTIONS: dict[type, str] = {
    ast.CreateSource: "create",
    ast.CreateAsSelect: "create",
    ast.DropSource: "drop",
    ast.AlterSource: "alter",
}
_TYPE_ACTIONS: dict[type, str] = {ast.CreateType: "create", ast.DropType: "drop"}


def command_id(stmt: ast.Statement) -> str:
    """The id ksqlDB's command runner gives a statement it records: `stream/PAGEVIEWS/create`,
    `table/T/drop`, `terminate/CSAS_S_1/execute` ("type/entity/action", as in its REST API)."""
    if isinstance(stmt, ast.CreateSource | ast.CreateAsSelect | ast.DropSource | ast.AlterSource):
        return f"{stmt.kind.lower()}/{stmt.name}/{_SOURCE_ACTIONS[type(stmt)]}"
    if isinstance(stmt, ast.CreateType | ast.DropType):
        return f"type/{stmt.name}/{_TYPE_ACTIONS[type(stmt)]}"
    if isinstance(stmt, ast.InsertInto):  # ksqlDB files INSERT INTO under its target stream
        return f"stream/{stmt.target}/create"
    if isinstance(stmt, ast.Terminate):
        return f"terminate/{stmt.query_id or 'ALL'}/execute"
    if isinstance(stmt, ast.PauseResume):
        return f"{stmt.action.lower()}/{stmt.query_id or 'ALL'}/execute"
    if isinstance(stmt, ast.CreateConnector | ast.DropConnector):
        action = "create" if isinstance(stmt, ast.CreateConnector) else "drop"
        return f"connector/{stmt.name}/{action}"
    raise TypeError(f"{type(stmt).__name__} is not recorded as a command")


class StatementExecutor:
    def __init__(self, engine: EngineContext, pulls: PullQueries) -> None:
        self.engine = engine
        self.running: dict[str, Query] = {}
        # What each running query was built from, to build it again over other partitions.
        self.built_from: dict[str, tuple[Any, Any, dict[str, str]]] = {}
        self.query_counter = 0
        self.introspection = Introspection(engine, self.running, pulls)
        self.handlers: dict[type, Callable[[Any, dict[str, str]], R.Result]] = {
            ast.CreateSource: self.create_source,
            ast.CreateAsSelect: self.create_as_select,
            ast.InsertInto: self.insert_into,
            ast.InsertValues: self.insert_values,
            ast.DropSource: self.drop_source,
            ast.Terminate: self.terminate,
            ast.PauseResume: self.pause_resume,
            ast.CreateType: self.create_type,
            ast.DropType: self.drop_type,
            ast.SetProperty: self.set_property,
            ast.UnsetProperty: self.unset_property,
            ast.RunScript: self.run_script,
            ast.AlterSource: self.alter_source,
        }
        self.connectors = ConnectorStatements(engine)
        self.handlers.update(self.connectors.handlers)

    @property
    def catalog(self) -> C.Catalog:
        return self.engine.catalog

    def persistent(self, stmt: ast.Statement) -> bool:
        return isinstance(stmt, _PERSISTENT)

    def execute(self, stmt: ast.Statement, config: dict[str, str]) -> R.Result:
        if isinstance(stmt, ast.Show) and stmt.what.upper() == "CONNECTORS":
            return self.connectors.show(stmt)
        handler = self.handlers.get(type(stmt)) or self.introspection.handler(stmt)
        if handler is None:
            raise PlanError(f"Statement not supported: {type(stmt).__name__}")
        return handler(stmt, config)

    # ------------------------------------------------------------------ sources

    def _check_new_name(
        self, name: str, kind: str, or_replace: bool, is_source: bool = False
    ) -> None:
        existing = self.catalog.source(name)
        if or_replace and (is_source or (existing is not None and existing.is_source)):
            raise PlanError(
                f"Cannot add {kind.lower()} '{name}': CREATE OR REPLACE is not supported on "
                f"source {kind.lower()}s."
            )
        if existing is not None and not or_replace:
            noun = existing.kind.lower()
            raise PlanError(
                f"Cannot add {kind.lower()} '{name}': A {noun} with the same name already exists"
            )

    def create_source(self, stmt: ast.CreateSource, config: dict[str, str]) -> R.Result:
        if stmt.if_not_exists and self.catalog.source(stmt.name) is not None:
            return R.CommandStatus(stmt.text, f"{stmt.kind.title()} already exists.")
        self._check_new_name(stmt.name, stmt.kind, stmt.or_replace, stmt.is_source)
        source = ddl.declared_source(
            stmt, self.catalog, self.engine.log, config, self.engine.schema_registry
        )
        existing = self.catalog.source(source.name)
        if existing is not None:
            _check_upgrade(existing, source)
        self.catalog.sources[source.name] = source
        return R.CommandStatus(stmt.text, f"{stmt.kind.title()} created")

    def alter_source(self, stmt: ast.AlterSource, config: dict[str, str]) -> R.Result:
        """ALTER STREAM|TABLE ... ADD COLUMN: new value columns on a declared source."""
        source = self.catalog.source(stmt.name)
        kind = stmt.kind.lower()
        if source is not None and source.is_source:
            raise PlanError(
                f"Cannot alter {kind} '{stmt.name}': ALTER operations are not supported on "
                f"source {kind}s."
            )
        if source is None:
            raise PlanError(f"Source {stmt.name} does not exist.")
        if source.kind != stmt.kind:
            raise PlanError(
                f"Incompatible data source type is {source.kind}, but statement was "
                f"ALTER {stmt.kind}"
            )
        if source.created_by_query is not None:
            raise PlanError("ALTER command is not supported for CREATE ... AS statements.")
        added = [C.SourceColumn(e.name, ddl.resolve_type(e.type, self.catalog)) for e in stmt.added]
        for column in added:
            if source.column(column.name) is not None:
                raise PlanError(
                    f"Cannot add column `{column.name}` to schema. A column with the same name "
                    "already exists."
                )
        source.columns = source.columns + added
        source.sql = f"{source.sql};\n{stmt.text}"
        return R.CommandStatus(stmt.text, f"{stmt.kind.title()} {source.name} altered.")

    def create_as_select(self, stmt: ast.CreateAsSelect, config: dict[str, str]) -> R.Result:
        if stmt.if_not_exists and self.catalog.source(stmt.name) is not None:
            return R.CommandStatus(stmt.text, f"{stmt.kind.title()} already exists.")
        self._check_new_name(stmt.name, stmt.kind, stmt.or_replace)
        if stmt.query.limit is not None:
            raise PlanError(f"CREATE {stmt.kind} AS SELECT statements don't support LIMIT clause.")
        plan = plan_select(stmt.query, self.catalog, stmt.name, config)
        if plan.aggregation is not None and not stmt.query.group_by:
            raise plan.aggregation.ungrouped_aggregation_error(stmt.kind)
        if plan.result_kind != stmt.kind:
            raise PlanError(
                f"Invalid result type. Your SELECT query produces a {plan.result_kind}. "
                f"Please use CREATE {plan.result_kind} AS SELECT statement instead."
            )
        sink = ddl.sink_spec(
            stmt,
            stmt.name,
            stmt.kind,
            plan.source,
            len(plan.value_outputs),
            self.engine.log,
            config,
        )
        props = ddl.props_of(stmt.properties)
        explicit_key_format = props.get("KEY_FORMAT") or props.get("FORMAT")
        sink.key_format = sink_key_format(
            plan,
            sink.key_format,
            None if explicit_key_format is None else str(explicit_key_format),
            config,
        )
        columns = [
            C.SourceColumn(o.name, o.type, C.KEY if o.is_key else C.VALUE) for o in plan.outputs
        ]
        if plan.aggregation is not None:
            ddl.check_intermediate_types(plan.aggregation, sink.value_format)
        try:
            ddl.check_formats(columns, sink.key_format, sink.value_format, sink.wrap_single_value)
        except PlanError as exc:
            exc.statement = format_create_as_select(stmt, plan.select_order)
            raise
        ddl.check_sink_schema_id(columns, sink.value_format, self.engine.schema_registry)
        ddl.check_timestamp_column(
            [(c.name, c.type) for c in columns], sink.timestamp_column, sink.timestamp_format
        )
        if plan.aggregation is not None and plan.aggregation.window is not None:
            window = plan.aggregation.window
            size = None if window.kind == "SESSION" else window.size.millis
            sink.window = C.WindowInfo(window.kind, size)
        elif plan.aggregation is None:
            sink.window = plan.source.window
        source = C.DataSource(
            name=stmt.name,
            kind=stmt.kind,
            columns=columns,
            topic=sink.topic,
            key_format=sink.key_format,
            value_format=sink.value_format,
            sql=stmt.text,
            wrap_single_value=sink.wrap_single_value,
            timestamp_column=sink.timestamp_column,
            timestamp_format=sink.timestamp_format,
            window=sink.window,
        )
        replaced = self._replaced_query(stmt, source, plan)
        prefix = "CSAS" if stmt.kind == "STREAM" else "CTAS"
        query_id = self._start_query(
            f"{prefix}_{stmt.name}", plan, sink, stmt.text, config, replaced
        )
        source.created_by_query = query_id
        self.catalog.sources[stmt.name] = source
        return R.CommandStatus(stmt.text, f"Created query with ID {query_id}", query_id=query_id)

    def insert_into(self, stmt: ast.InsertInto, config: dict[str, str]) -> R.Result:
        target = self.catalog.source(stmt.target)
        if target is None:
            raise PlanError(f"{stmt.target} does not exist.")
        if target.kind == "TABLE":
            raise PlanError(
                f"INSERT INTO can only be used to insert into a stream. {target.name} is a table."
            )
        if target.is_source:
            raise PlanError(f"Cannot insert into read-only {target.kind.lower()}: {target.name}")
        if target.header_columns:
            raise PlanError(f"Cannot insert into {target.name} because it has header columns")
        plan = plan_select(stmt.query, self.catalog, stmt.target, config)
        produced = [(o.name, o.type, o.is_key) for o in plan.outputs]
        expected = [
            (c.name, c.type, c.kind == C.KEY) for c in target.key_columns + target.value_columns
        ]
        compatible = len(produced) == len(expected) and all(
            p[0] == e[0] and p[2] == e[2] and T.implicitly_castable(p[1], e[1])
            for p, e in zip(produced, expected, strict=True)
        )
        if not compatible:
            raise PlanError(
                f"Incompatible schema between results and sink.\n"
                f"Result schema is {_schema_text(produced)}\n"
                f"Sink schema is {_schema_text(expected)}"
            )
        cast_outputs(plan, [t for _, t, _ in expected])
        sink = ddl.sink_spec(
            None,
            target.name,
            target.kind,
            plan.source,
            len(plan.value_outputs),
            self.engine.log,
            config,
        )
        sink.topic = target.topic
        sink.key_format, sink.value_format = target.key_format, target.value_format
        sink.wrap_single_value = target.wrap_single_value
        query_id = self._start_query(
            "INSERTQUERY", plan, sink, stmt.text, config, self._chosen_query_id(stmt)
        )
        return R.CommandStatus(stmt.text, f"Created query with ID {query_id}", query_id=query_id)

    def _chosen_query_id(self, stmt: ast.InsertInto) -> str | None:
        """The id INSERT INTO ... WITH (QUERY_ID='...') asks for, upper-cased and checked as
        ksqlDB checks it; None when it asks for none."""
        chosen = {k.upper(): v for k, v in stmt.properties.items()}.get("QUERY_ID")
        if chosen is None:
            return None
        query_id = str(chosen.value).upper()
        if query_id.startswith(_RESERVED_QUERY_PREFIXES):
            raise PlanError(
                "Query IDs must not start with a reserved query ID prefix "
                f"({', '.join(_RESERVED_QUERY_PREFIXES)}). Got '{query_id}'."
            )
        if not _QUERY_ID.fullmatch(query_id):
            raise PlanError(
                f"Query IDs may contain only alphanumeric characters and '_'. Got: '{query_id}'"
            )
        if query_id in self.catalog.queries:
            raise PlanError(f"Query ID '{query_id}' already exists.")
        return query_id

    def _replaced_query(
        self, stmt: ast.CreateAsSelect, source: C.DataSource, plan: Any
    ) -> str | None:
        """The id of the query CREATE OR REPLACE upgrades in place (stopped here, its offsets
        and state committed for the new one to go on from), after checking that the source
        and the query may be upgraded; None when there is none to replace."""
        existing = self.catalog.source(stmt.name)
        if existing is None:
            return None
        _check_upgrade(existing, source)
        writers = sorted(self.catalog.writers_of(existing.name))
        if len(writers) > 1:
            raise PlanError(
                f"REPLACE for sink {existing.name} is not supported because there are multiple "
                f"queries writing into it: [{', '.join(writers)}]"
            )
        replaced = existing.created_by_query
        if replaced is None or replaced not in self.catalog.queries:
            return None
        running = self.running.get(replaced)
        if running is not None:
            problem = query_upgrade_problem(running.plan, plan)
            if problem is not None:
                raise PlanError(problem)
            self._close_query(replaced)
        return replaced

    def _start_query(
        self,
        prefix: str,
        plan: Any,
        sink: Any,
        sql: str,
        config: dict[str, str],
        query_id: str | None = None,
    ) -> str:
        """Start a persistent query: a new one, or the one `query_id` names, going on from
        its committed offsets and state."""
        if query_id is None:
            query_id = f"{prefix}_{self.query_counter}"
            self.query_counter += 1
        log = self.engine.log
        if log.topic(sink.topic) is None:
            try:
                log.create_topic(sink.topic, sink.partitions)
            except TopicExistsError:
                pass
        group = query_group(query_id, service_id(config))
        partitioning = self.engine.scaleout.join(query_id, group, plan)
        self.running[query_id] = self._runtime(query_id, plan, sink, config, partitioning)
        self.built_from[query_id] = (plan, sink, config)
        sources = [js.source.name for js in plan.join.sources] if plan.join else [plan.source.name]
        self.catalog.queries[query_id] = C.QueryInfo(query_id, sql, sink.name, sources)
        return query_id

    def _runtime(
        self,
        query_id: str,
        plan: Any,
        sink: Any,
        config: dict[str, str],
        partitioning: StorePartitions | None,
    ) -> Query:
        engine = self.engine
        ctx = QueryContext.of(
            engine.log, engine.plog, engine.schema_registry, config, engine.state_dir, partitioning
        )
        return build_query(query_id, plan, ctx.encoder(sink, plan), ctx)

    def reassign(self, query_id: str, partitioning: StorePartitions | None) -> None:
        """Commit and close a running query, and build it again over the partitions it
        owns now (`scaleout`): its state restored from their changelogs."""
        query = self.running.get(query_id)
        if query is None:
            return
        query.close()
        plan, sink, config = self.built_from[query_id]
        self.running[query_id] = self._runtime(query_id, plan, sink, config, partitioning)

    def insert_values(self, stmt: ast.InsertValues, config: dict[str, str]) -> R.Result:
        target = self.catalog.source(stmt.target)
        if target is None:
            raise PlanError(
                f"Cannot insert values into an unknown stream/table: `{stmt.target}`"
                + self._case_hint(stmt.target)
            )
        insert_values(stmt, target, self.engine.log, self.engine.schema_registry)
        return R.CommandStatus(stmt.text, "")

    def _case_hint(self, name: str) -> str:
        """A hint when a source's name differs from `name` only in case (quoting)."""
        for other in self.catalog.sources:
            if other.upper() == name.upper():
                if name.isupper():
                    return (
                        f'\nDid you mean "{other}"? Hint: wrap the source name in double '
                        "quotes to make it case-sensitive."
                    )
                return (
                    f"\nDid you mean {other}? Hint: try removing double quotes from the "
                    "source name."
                )
        return ""

    def drop_source(self, stmt: ast.DropSource, config: dict[str, str]) -> R.Result:
        source = self.catalog.source(stmt.name)
        if source is None:
            if stmt.if_exists:
                return R.CommandStatus(stmt.text, f"Source {stmt.name} does not exist.")
            raise PlanError(f"{stmt.kind.title()} {stmt.name} does not exist.")
        if source.kind != stmt.kind:
            raise PlanError(
                f"Incompatible data source type is {source.kind}, but statement was DROP {stmt.kind}"
            )
        readers = [q for q in self.catalog.readers_of(source.name) if q != source.created_by_query]
        writers = [q for q in self.catalog.writers_of(source.name) if q != source.created_by_query]
        if readers or writers:
            raise PlanError(
                f"Cannot drop {source.name}.\n"
                f"The following queries read from this source: [{', '.join(sorted(readers))}].\n"
                f"The following queries write into this source: [{', '.join(sorted(writers))}].\n"
                f"You need to terminate them before dropping {source.name}."
            )
        if stmt.delete_topic and source.is_source:
            raise PlanError(f"Cannot delete topic for read-only source: {source.name}")
        if source.created_by_query is not None:
            self._stop_query(source.created_by_query)
        del self.catalog.sources[source.name]
        if stmt.delete_topic and self.engine.log.topic(source.topic) is not None:
            with suppress(UnknownTopicError):  # another server's DROP deleted it
                self.engine.log.delete_topic(source.topic)
        return R.CommandStatus(
            stmt.text, f"Source `{source.name}` (topic: {source.topic}) was dropped."
        )

    def fail_query(self, query_id: str) -> None:
        """Stops a query that failed at run time; it stays listed in the ERROR state."""
        self._close_query(query_id)
        info = self.catalog.queries.get(query_id)
        if info is not None:
            info.state = "ERROR"

    def _stop_query(self, query_id: str) -> None:
        query = self.running.get(query_id)
        self._close_query(query_id)
        self.catalog.queries.pop(query_id, None)
        # A terminated query's state goes with it, as ksqlDB deletes its internal topics.
        for topic in query.internal_topics() if query is not None else []:
            if self.engine.log.topic(topic) is not None:
                with suppress(UnknownTopicError):  # another server's DROP deleted it
                    self.engine.log.delete_topic(topic)

    def _close_query(self, query_id: str) -> None:
        query = self.running.pop(query_id, None)
        self.built_from.pop(query_id, None)
        if query is not None:
            query.close()
        self.engine.scaleout.leave(query_id)  # after the commit: the next owner goes on

    def terminate(self, stmt: ast.Terminate, config: dict[str, str]) -> R.Result:
        ids = list(self.running) if stmt.query_id is None else [stmt.query_id.upper()]
        for qid in ids:
            if qid not in self.catalog.queries:
                raise PlanError(f"Unknown queryId: {qid}")
            self._stop_query(qid)
            for source in self.catalog.sources.values():
                if source.created_by_query == qid:
                    source.created_by_query = None
        return R.CommandStatus(stmt.text, "Query terminated.")

    def pause_resume(self, stmt: ast.PauseResume, config: dict[str, str]) -> R.Result:
        """PAUSE stops a persistent query where it is, keeping its state and offsets; RESUME
        goes on from there. A query that failed stays in the ERROR state."""
        ids = list(self.running) if stmt.query_id is None else [stmt.query_id.upper()]
        for qid in ids:
            if qid not in self.catalog.queries:
                raise PlanError(f"Unknown queryId: {qid}")
        pausing = stmt.action.upper() == "PAUSE"
        for qid in ids:
            info = self.catalog.queries[qid]
            if info.state in ("RUNNING", "PAUSED"):
                info.state = "PAUSED" if pausing else "RUNNING"
        return R.CommandStatus(stmt.text, "Query paused." if pausing else "Query resumed.")

    def active_queries(self) -> list[Query]:
        """The persistent queries to drive: the running ones that are not paused."""
        return [
            query
            for qid, query in self.running.items()
            if self.catalog.queries.get(qid) is None or self.catalog.queries[qid].state != "PAUSED"
        ]

    # ------------------------------------------------------------------ types, session

    def create_type(self, stmt: ast.CreateType, config: dict[str, str]) -> R.Result:
        if stmt.name in self.catalog.types:
            if stmt.if_not_exists:
                return R.CommandStatus(stmt.text, f"Type {stmt.name} already exists.")
            existing = self.catalog.types[stmt.name]
            raise PlanError(
                f"Cannot register custom type '{stmt.name}' since it is already registered with "
                f"type: {existing}"
            )
        self.catalog.types[stmt.name] = ddl.resolve_type(stmt.type, self.catalog)
        return R.CommandStatus(stmt.text, f"Registered custom type with name '{stmt.name}'")

    def drop_type(self, stmt: ast.DropType, config: dict[str, str]) -> R.Result:
        if self.catalog.types.pop(stmt.name, None) is None and not stmt.if_exists:
            raise PlanError(f"Type {stmt.name} does not exist.")
        return R.CommandStatus(stmt.text, f"Dropped type '{stmt.name}'")

    def set_property(self, stmt: ast.SetProperty, config: dict[str, str]) -> R.Result:
        if not is_known_property(stmt.name):
            raise PlanError(unknown_property_message(stmt.name))
        self.engine.config[stmt.name] = stmt.value
        return R.CommandStatus(stmt.text, f"Successfully changed local property '{stmt.name}'")

    def unset_property(self, stmt: ast.UnsetProperty, config: dict[str, str]) -> R.Result:
        self.engine.config.pop(stmt.name, None)
        return R.CommandStatus(stmt.text, f"Successfully unset local property '{stmt.name}'")

    def run_script(self, stmt: ast.RunScript, config: dict[str, str]) -> R.Result:
        sql = Path(stmt.path).read_text()
        results = self.engine.execute(sql)
        return results[-1] if results else R.CommandStatus(stmt.text, "")


def session_statement(stmt: ast.Statement, variables: SessionVariables) -> R.Result | None:
    """DEFINE, UNDEFINE or SHOW VARIABLES run on a session's `variables`; None for any other
    statement. Undefining an unknown variable only warns, as ksqlDB's does."""
    if isinstance(stmt, ast.DefineVariable):
        variables[stmt.name] = stmt.value
        return R.Handled(stmt.text)
    if isinstance(stmt, ast.UndefineVariable):
        if variables.pop(stmt.name, None) is None:
            message = f"Cannot undefine variable '{stmt.name}' which was never defined"
            return R.Warning(stmt.text, message)
        return R.Handled(stmt.text)
    if isinstance(stmt, ast.Show) and stmt.what == "VARIABLES":
        return R.VariableList(stmt.text, dict(variables))
    return None


def _check_upgrade(existing: C.DataSource, replacement: C.DataSource) -> None:
    problem = source_upgrade_problem(existing, replacement)
    if problem is not None:
        raise PlanError(f"Cannot upgrade data source: {problem}")


def _schema_text(cols: list[tuple[str, Any, bool]]) -> str:
    return ", ".join(f"`{n}` {t}{' KEY' if k else ''}" for n, t, k in cols)
