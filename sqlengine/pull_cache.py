"""Prepared pull queries: planned and compiled once, then answered per request.

A client repeats a pull query with only the key changing, so planning (parse, plan, codegen)
is paid once per statement text and, for key lookups, once per *template*: the text with
its string and integer literals taken out. A lookup whose WHERE clause is nothing but key
columns compared with distinct literals (`K = 'a'`, `K IN (1, 2)`, ORs and ANDs of them) is
bound to a new request's literals without parsing it: each key is made of the literals in
the same places, and the compiled stage does not filter on them (the lookup already did).

    pulls = PullQueries(engine)
    query = pulls.prepare(sql, stmt, config)    # under the engine lock: plans, caches
    query = pulls.cached(sql, properties)       # lock-free: a cached plan still current, or None
    rows = query.lookup() if query.lock_free else pulls.rows(query)

Key lookups are lock-free: they read the table's store (a dict get under the GIL, of rows
that are immutable tuples) while the engine's query thread updates it, so a lookup sees
each key's row as it was before or after an update, never part of one. A plan is current
while the catalog holds the same source object and the same materialization.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from grammar import ast
from grammar.rewrite import walk
from planner.builder import QueryPlan
from planner.errors import PlanError
from planner.select import plan_select
from sqlengine import catalog as C
from sqlengine import pull
from sqlengine import types as T
from sqlengine.analytics.plan import AnalyticPlan, plan_analytic
from sqlengine.analytics.views import ViewCache, stream_view, to_arrow
from sqlengine.engine_context import EngineContext
from sqlengine.flatmap import Stage, projection_stage
from sqlengine.log.base import RecordBatch
from sqlengine.materialized import Materialized, Row
from sqlengine.push import QueryColumn, query_columns, select_positions
from sqlengine.runtime import SourceDecoder

_CACHE_SIZE = 1024
PropertiesKey = tuple[tuple[str, str], ...]
LiteralValue = tuple[Any, T.SqlType]  # a literal's value and type

# Comments and quoted identifiers are kept as written; string and integer literals (not the
# digits of a name or of a DECIMAL/DOUBLE literal) become the template's placeholders.
_TOKENS = re.compile(
    r"(--[^\n]*|/\*.*?\*/|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`)"
    r"|'((?:[^']|'')*)'"
    r"|(?<![\w.@])(\d+)(?![\w.@])",
    re.S,
)
_INT = (-(2**31), 2**31 - 1)
_BIGINT = (-(2**63), 2**63 - 1)


def properties_key(properties: dict[str, str]) -> PropertiesKey:
    return tuple(sorted(properties.items()))


def template(sql: str) -> tuple[str, list[LiteralValue]] | None:
    """`sql` with each string and integer literal replaced by a placeholder of its type, and
    the literals (typed as the parser types them); None when a literal is out of range."""
    literals: list[LiteralValue] = []

    def placeholder(m: re.Match[str]) -> str:
        kept, text, digits = m.groups()
        if kept is not None:
            return kept
        if text is not None:
            literals.append((text.replace("''", "'"), T.STRING))
            return "\0s"
        number = int(digits)
        sql_type = T.INTEGER if _INT[0] <= number <= _INT[1] else T.BIGINT
        literals.append((number, sql_type))
        return "\0i" if sql_type is T.INTEGER else "\0l"

    if "\0" in sql:
        return None
    text = _TOKENS.sub(placeholder, sql)
    if any(t is T.BIGINT and not _BIGINT[0] <= v <= _BIGINT[1] for v, t in literals):
        return None
    return text, literals


@dataclass(frozen=True, eq=False)
class PullPlan:
    """One pull query's plan and compiled stage, shared by every request it answers."""

    source: C.DataSource
    table: Materialized | None  # None: a stream, whose topic is scanned
    plan: QueryPlan
    stage: Stage
    limit: int | None
    columns: list[QueryColumn]  # in SELECT order
    positions: list[int]  # where each of `columns` sits in the stage's output rows

    def current(self, engine: EngineContext) -> bool:
        name = self.source.name
        return (
            engine.catalog.sources.get(name) is self.source
            and engine.materialized.get(name) is self.table
        )

    def run(self, rows: list[Row]) -> list[Row]:
        out = self.stage(rows)
        return out if self.limit is None else out[: self.limit]

    @property
    def outputs(self) -> list[QueryColumn]:
        """The columns of the rows `run` gives (keys first), after their ROWTIME."""
        return [QueryColumn(o.name, o.type, o.is_key) for o in self.plan.outputs]

    @property
    def source_names(self) -> list[str]:
        return [self.source.name]

    def explain(self, keys: list[tuple[Any, ...]] | None) -> str:
        if self.table is None:
            return f"Stream scan: every record of {self.source.name}'s topic, then filtered"
        if keys is not None:
            return f"Key lookup: {len(keys)} key(s) of {self.source.name}'s state store"
        return f"Store scan: every row of {self.source.name}'s state store, then filtered"


@dataclass(frozen=True, eq=False)
class AnalyticPull:
    """A pull query DuckDB answers, over Arrow views of the sources it reads."""

    analytic: AnalyticPlan
    tables: dict[str, Materialized | None]  # per source read: its materialization when planned
    source: C.DataSource  # the first source in FROM
    limit: int | None  # DuckDB applies it; the response says whether it was reached
    ordered: bool  # a scan: a table's rows in the store's scan order, as the store path gives

    @property
    def columns(self) -> list[QueryColumn]:
        return self.analytic.columns

    @property
    def outputs(self) -> list[QueryColumn]:
        return self.analytic.columns

    @property
    def plan(self) -> AnalyticPlan:
        """What a PullPlan's `plan` gives too: `outputs`, the columns of the rows."""
        return self.analytic

    @property
    def positions(self) -> list[int]:
        return list(range(1, len(self.analytic.columns) + 1))

    def current(self, engine: EngineContext) -> bool:
        return all(
            engine.catalog.sources.get(s.name) is s and engine.materialized.get(s.name) is table
            for s, table in zip(self.analytic.views.values(), self.tables.values(), strict=True)
        )

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self.analytic.views.values()]

    def explain(self, keys: list[tuple[Any, ...]] | None) -> str:
        return f"DuckDB plan:\n{self.analytic.sql}\n{self.analytic.explain()}"


@dataclass(frozen=True)
class PullQuery:
    plan: PullPlan | AnalyticPull
    keys: list[tuple[Any, ...]] | None  # None: a scan

    @property
    def lock_free(self) -> bool:
        """Whether `lookup` answers it: key lookups on a materialized table."""
        return (
            self.keys is not None
            and isinstance(self.plan, PullPlan)
            and self.plan.table is not None
        )

    def explain(self) -> str:
        """How it runs: key lookup, store scan, stream scan, or DuckDB's plan."""
        return self.plan.explain(self.keys)

    def lookup(self) -> list[Row]:
        assert isinstance(self.plan, PullPlan)
        assert self.plan.table is not None and self.keys is not None
        return self.plan.run(self.plan.table.lookup(self.keys))


@dataclass(frozen=True, eq=False)
class _Template:
    """A key lookup whose literals only choose its keys: bound to new literals unparsed."""

    plan: PullPlan
    slots: list[tuple[int, ...]]  # per key to look up: the index of each of its literals

    def bind(self, literals: list[LiteralValue]) -> PullQuery:
        keys = (tuple(literals[i][0] for i in slots) for slots in self.slots)
        return PullQuery(self.plan, list(dict.fromkeys(keys)))

    @staticmethod
    def slots_of(
        keys: list[tuple[Any, ...]], literals: list[LiteralValue]
    ) -> list[tuple[int, ...]] | None:
        """Where each key's values come from among `literals`, when they are distinct and
        make up the keys as written (not negated, say); else None."""
        index = {value: i for i, (value, _) in enumerate(literals)}
        if len(index) != len(literals) or any(v not in index for key in keys for v in key):
            return None
        return [tuple(index[v] for v in key) for key in keys]


class PullQueries:
    """Prepared pull queries by request text, and key lookups by template."""

    def __init__(self, engine: EngineContext) -> None:
        self.engine = engine
        self._by_text: dict[tuple[str, PropertiesKey], PullQuery] = {}
        self._by_template: dict[tuple[str, PropertiesKey], _Template] = {}
        self._views = ViewCache()

    def cached(self, sql: str, properties: dict[str, str]) -> PullQuery | None:
        """The prepared query of `sql` if one is cached and current (lock-free), else None."""
        key = properties_key(properties)
        found = self._by_text.get((sql, key))
        if found is not None:
            return found if found.plan.current(self.engine) else None
        shape = template(sql)
        if shape is None:
            return None
        entry = self._by_template.get((shape[0], key))
        if entry is None or not entry.plan.current(self.engine):
            return None
        return entry.bind(shape[1])

    def prepare(self, sql: str, stmt: ast.SelectStatement, properties: dict[str, str]) -> PullQuery:
        """Plan `stmt` (the text `sql`) as a pull query, or take its cached plan (call with
        the engine lock held); raises PlanError as ksqlDB rejects it."""
        cached = self.cached(sql, properties)
        if cached is not None:
            return cached
        config = {**self.engine.config, **properties}
        query = stmt.query
        if query.emit is None:  # a push query run here reads what there is now, unchecked
            pull.check_clauses(query, config, stmt)
            if pull.runs_on_duckdb(query, config):
                analytic = self._analytic(query, config)
                _put(self._by_text, (sql, properties_key(properties)), analytic)
                return analytic
            source = self.engine.catalog.source(getattr(query.from_, "name", ""))
            if source is not None:
                pull.check_source(source, query.where)
        catalog = self.engine.catalog
        plan = self._plan(query)
        table = self.engine.materialized.get(plan.source.name)
        access = pull.KeyAccess(plan.source, query.where, config) if table is not None else None
        keys = access.keys if access is not None else None
        shape = template(sql)
        if access is not None and keys is not None and access.only_keys and shape is not None:
            slots = _Template.slots_of(keys, shape[1])
            if slots is not None and _same_literals(query, shape[1]):
                # The lookup does all the WHERE clause does: the stage need not filter.
                unfiltered = plan_select(dataclasses.replace(query, where=None), catalog, None)
                pulled = self._pull_plan(plan, table, unfiltered, None)
                entry = _Template(pulled, slots)
                _put(self._by_template, (shape[0], properties_key(properties)), entry)
                return PullQuery(pulled, keys)
        if query.emit is None and keys is None and pull.analytics_enabled(config):
            # A scan: DuckDB filters and projects, the header is the plan's (keys marked).
            prepared = self._analytic(query, config, query_columns(plan))
        else:
            prepared = PullQuery(self._pull_plan(plan, table, plan, query.limit), keys)
        _put(self._by_text, (sql, properties_key(properties)), prepared)
        return prepared

    def _analytic(
        self, query: ast.Query, config: dict[str, str], columns: list[QueryColumn] | None = None
    ) -> PullQuery:
        """`query` on DuckDB; `columns`: the result columns as the store path names them."""
        try:
            plan = plan_analytic(
                query, self.engine.catalog, config, lambda s: pull.check_source(s, None)
            )
        except PlanError as exc:
            raise pull.with_statement(exc, query.where) from exc
        if columns is not None and [c.name for c in columns] == [c.name for c in plan.columns]:
            plan = dataclasses.replace(plan, columns=columns)
        materialized = self.engine.materialized
        tables = {name: materialized.get(s.name) for name, s in plan.views.items()}
        first = next(iter(plan.views.values()))
        return PullQuery(AnalyticPull(plan, tables, first, query.limit, columns is not None), None)

    def rows(self, query: PullQuery) -> list[Row]:
        """The query's rows (call with the engine lock held): key lookups, a table scan, a
        scan of a stream's topic, or DuckDB's answer over views of them."""
        if isinstance(query.plan, AnalyticPull):
            ordered = query.plan.ordered
            rows = query.plan.analytic.run(lambda source: self._view(source, ordered))
            return [(None, *row, None) for row in rows]
        table = query.plan.table
        if table is None:
            return query.plan.run(self._stream_rows(query.plan.source))
        return query.lookup() if query.keys is not None else query.plan.run(table.scan())

    def _plan(self, query: ast.Query) -> QueryPlan:
        try:
            return plan_select(query, self.engine.catalog, None)
        except PlanError as exc:
            raise pull.with_statement(exc, query.where) from exc

    @staticmethod
    def _pull_plan(
        plan: QueryPlan, table: Materialized | None, staged: QueryPlan, limit: int | None
    ) -> PullPlan:
        """`plan`, with the stage compiled from `staged` (it, or it without WHERE)."""
        stage = projection_stage(staged, lambda e, r: None)
        positions = [i + 1 for i in select_positions(plan)]  # stage rows start with ROWTIME
        return PullPlan(plan.source, table, plan, stage, limit, query_columns(plan), positions)

    def _view(self, source: C.DataSource, ordered: bool) -> pa.Table:
        """The Arrow view of a table's current state (`ordered`: in the store's scan order)
        or a stream's records (in offset order, partition by partition), rebuilt only when
        the table's version or the stream's end offsets moved."""
        engine = self.engine
        table = engine.materialized.get(source.name)
        if table is not None:
            rows = table.scan if ordered else table.rows
            return self._views.view(
                source, table.version(), lambda: to_arrow(rows(), source), ordered
            )
        info = engine.log.topic(source.topic)
        ends = tuple(
            engine.log.end_offset(source.topic, p) for p in range(info.partitions if info else 0)
        )
        decoder = SourceDecoder(source, engine.plog, registry=engine.schema_registry)
        return self._views.view(
            source,
            ends,
            lambda: stream_view(source, self._batches(source), lambda b: _decoded(decoder, b)),
            False,
        )

    def _batches(self, source: C.DataSource) -> Iterator[RecordBatch]:
        """Every batch of the stream's topic as it is now, partition by partition."""
        log = self.engine.log
        info = log.topic(source.topic)
        for partition in range(info.partitions if info else 0):
            offset = 0
            while len(batch := log.read(source.topic, partition, offset)):
                yield batch
                offset = batch.next_offset

    def _stream_rows(self, source: C.DataSource) -> list[Row]:
        """Every record of the stream's topic as it is now, partition by partition."""
        engine = self.engine
        decoder = SourceDecoder(source, engine.plog, registry=engine.schema_registry)
        return [row for batch in self._batches(source) for row in _decoded(decoder, batch)]


def _decoded(decoder: SourceDecoder, batch: RecordBatch) -> list[Row]:
    return [row for row, tombstone in decoder.decode(batch) if not tombstone]


def _same_literals(query: ast.Query, templated: list[LiteralValue]) -> bool:
    """Whether the template took out exactly the literals the parser found in the WHERE
    clause (none elsewhere in the statement, none it missed), with the same types."""
    if query.where is None or query.limit is not None:
        return False
    found = [e for e in walk(query.where) if isinstance(e, ast.Literal)]
    found.sort(key=lambda e: (e.line, e.column))
    return [(f.value, f.type) for f in found] == templated


def _put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value
