"""An analytical pull query planned as one DuckDB statement over Arrow views.

    plan = plan_analytic(query, catalog, config)   # PlanError as ksqlDB words type errors
    rows = plan.run(view_of)                       # view_of(source) -> its Arrow view

Each source in FROM (a table's current state, a stream's records) is a registered Arrow
view; joins, subqueries in FROM, WHERE, GROUP BY, HAVING, DISTINCT, ORDER BY, LIMIT and
OFFSET are DuckDB's. Result columns are named and typed as ksqlDB names and types them
(streamdb's typer and aggregate signatures: SUM of INT is INT, COUNT is BIGINT, AVG is
DOUBLE), and DuckDB's values are cast back to those types. ORDER BY puts NULLs last unless
NULLS FIRST is written, then orders by every output column so ties come out the same way
every time.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from grammar import ast
from planner.builder import ColumnNames, OutputColumn, check_duplicates
from planner.errors import PlanError
from planner.scope import Column, Scope
from planner.typing import Typer
from sqlengine import aggregates
from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.analytics.translate import Translator, Udf
from sqlengine.analytics.values import arrow_type, from_duckdb, quote
from sqlengine.analytics.views import view_columns
from sqlengine.push import QueryColumn

_JOIN_KINDS = {"INNER": "INNER", "LEFT": "LEFT", "RIGHT": "RIGHT", "FULL": "FULL OUTER"}
_PSEUDO = {name for name, _ in C.PSEUDO_COLUMNS}
_UNORDERABLE = (T.Base.MAP, T.Base.STRUCT, T.Base.ARRAY)


@dataclass(frozen=True)
class Output:
    name: str
    type: T.SqlType
    sql: str


@dataclass
class AnalyticPlan:
    sql: str
    columns: list[QueryColumn]
    views: dict[str, C.DataSource]  # registered view name -> its source
    udfs: list[Udf] = field(default_factory=list)

    @property
    def outputs(self) -> list[QueryColumn]:
        return self.columns

    def run(self, view_of: Callable[[C.DataSource], pa.Table]) -> list[tuple[Any, ...]]:
        """The result rows, each value as streamdb holds a value of its column's type."""
        found = self._execute(self.sql, view_of)
        types = [c.type for c in self.columns]
        return [tuple(from_duckdb(v, t) for v, t in zip(row, types, strict=True)) for row in found]

    def explain(self) -> str:
        """DuckDB's physical plan of the statement (views are empty: the plan's shape);
        PlanError when DuckDB rejects the statement (a column neither grouped nor
        aggregated, say)."""
        rows = self._execute(f"EXPLAIN {self.sql}", _empty_view)
        return "\n".join(str(r[-1]) for r in rows)

    def _execute(
        self, sql: str, view_of: Callable[[C.DataSource], pa.Table]
    ) -> list[tuple[Any, ...]]:
        """`sql` run on a fresh DuckDB connection with the views and UDFs registered."""
        con = duckdb.connect()
        try:
            for name, source in self.views.items():
                con.register(name, view_of(source))
            for udf in self.udfs:
                con.create_function(
                    udf.name,
                    _null_on_error(udf.fn, len(udf.params)),
                    [con.type(p) for p in udf.params],  # type: ignore[misc]
                    con.type(udf.returns),  # type: ignore[arg-type]
                    null_handling="special",
                )
            return con.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise duckdb_error(exc) from exc
        finally:
            con.close()


def _empty_view(source: C.DataSource) -> pa.Table:
    schema = pa.schema([(c.name, arrow_type(c.type)) for c in view_columns(source)])
    return schema.empty_table()


def duckdb_error(exc: duckdb.Error) -> PlanError:
    """DuckDB's complaint about the statement it was given, as the pull query's error."""
    text = str(exc).split("\n")[0]
    kind = type(exc).__name__.removesuffix("Exception")
    return PlanError(f"The pull query cannot run on DuckDB ({kind}): {text}", "plain")


def _null_on_error(fn: Callable[..., Any], arity: int) -> Callable[..., Any]:
    """A function that fails on a row gives NULL there, as ksqlDB's expressions do. Its
    signature shows `arity` parameters: DuckDB counts them."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001 - any failure of a user's expression is a NULL
            return None

    params = [inspect.Parameter(f"arg{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(arity)]
    call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return call


def plan_analytic(
    query: ast.Query,
    catalog: C.Catalog,
    config: dict[str, str],
    check_source: Callable[[C.DataSource], None],
) -> AnalyticPlan:
    planner = _Planner(catalog, config, check_source)
    sql, outputs = planner.query(query)
    columns = [QueryColumn(o.name, o.type, False) for o in outputs]
    plan = AnalyticPlan(sql, columns, planner.views, planner.udfs)
    plan.explain()  # DuckDB binds the statement: its errors surface while planning
    return plan


@dataclass
class _Relation:
    sql: str
    columns: list[Column]
    single: C.DataSource | None  # the source, when the relation is one stream or table


class _Planner:
    def __init__(
        self,
        catalog: C.Catalog,
        config: dict[str, str],
        check_source: Callable[[C.DataSource], None],
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.check_source = check_source
        self.views: dict[str, C.DataSource] = {}
        self.udfs: list[Udf] = []

    # ------------------------------------------------------------------ FROM

    def relation(self, rel: ast.Relation) -> _Relation:
        if isinstance(rel, ast.SourceRef):
            source = self.catalog.source(rel.name)
            if source is None:
                raise PlanError(f"{rel.name} does not exist.")
            self.check_source(source)
            view = f"view_{source.name}"
            self.views[view] = source
            alias = rel.alias or rel.name
            cols = [Column(c.name, c.type, i, alias) for i, c in enumerate(view_columns(source))]
            return _Relation(f"{quote(view)} AS {quote(alias)}", cols, source)
        if isinstance(rel, ast.SubqueryRef):
            sql, outputs = self.query(rel.query)
            cols = [Column(o.name, o.type, i, rel.alias) for i, o in enumerate(outputs)]
            return _Relation(f"({sql}) AS {quote(rel.alias)}", cols, None)
        left, right = self.relation(rel.left), self.relation(rel.right)
        columns = left.columns + right.columns
        translator = self._translator(Scope(columns))
        condition = translator.sql(rel.criteria)
        if rel.within is not None:
            condition += _within(rel.within, left.columns, right.columns)
        sql = f"{left.sql} {_JOIN_KINDS[rel.kind]} JOIN {right.sql} ON {condition}"
        return _Relation(sql, columns, None)

    def _translator(self, scope: Scope) -> Translator:
        typer = Typer(scope, self._aggregate_type)
        return Translator(typer, self.udfs, self.config)

    def _aggregate_type(self, call: ast.FunctionCall, arg_types: list[Any]) -> T.SqlType | None:
        if not aggregates.is_aggregate(call.name):
            return None
        if call.star:
            arg_types = [T.INTEGER]
        try:
            split = len(arg_types) - aggregates.init_arg_count(call.name, arg_types)
            init = [getattr(a, "value", None) for a in call.args[split:]]
            types = [t if t is not None else T.STRING for t in arg_types[:split]]
            return aggregates.resolve_aggregate(call.name, types, init, self.config).return_type
        except aggregates.AggregateError as exc:
            raise PlanError(str(exc), "plain") from exc

    # ------------------------------------------------------------------ SELECT

    def query(self, q: ast.Query) -> tuple[str, list[Output]]:
        rel = self.relation(q.from_)
        translator = self._translator(Scope(rel.columns))
        outputs = [
            Output(name, _typed(translator, expr, name), translator.sql(expr))
            for name, expr in self._items(q, rel, translator)
        ]
        check_duplicates(
            [OutputColumn(o.name, o.type, ast.ColumnRef(o.name), False) for o in outputs]
        )
        select = ", ".join(f"{o.sql} AS {quote(o.name)}" for o in outputs)
        parts = [f"SELECT {'DISTINCT ' if q.distinct else ''}{select}", f"FROM {rel.sql}"]
        if q.where is not None:
            parts.append(f"WHERE {translator.sql(q.where)}")
        if q.group_by:
            parts.append("GROUP BY " + ", ".join(translator.sql(g) for g in q.group_by))
        if q.having is not None:
            parts.append(f"HAVING {translator.sql(q.having)}")
        if q.order_by is not None:
            parts.append("ORDER BY " + self._order(q.order_by, outputs, translator))
        if q.limit is not None:
            parts.append(f"LIMIT {q.limit}")
        if q.offset is not None:
            parts.append(f"OFFSET {q.offset}")
        return " ".join(parts), outputs

    def _items(
        self, q: ast.Query, rel: _Relation, translator: Translator
    ) -> list[tuple[str, ast.Expr]]:
        """(name, expression) per output column: `*` as a plain pull query expands it (keys,
        window bounds, values), or as ksqlDB names a join's columns (ALIAS_NAME)."""
        joined = rel.single is None and isinstance(q.from_, ast.Join)
        taken = {c.name for c in rel.columns} | {
            i.alias or i.expr.name  # type: ignore[attr-defined]
            for i in q.select
            if isinstance(i, ast.SelectColumn) and (i.alias or isinstance(i.expr, ast.ColumnRef))
        }
        names = ColumnNames(taken)
        out: list[tuple[str, ast.Expr]] = []
        for item in q.select:
            if isinstance(item, ast.SelectStar):
                for col in _star_columns(rel, item.source):
                    name = f"{col.source}_{col.name}" if joined else col.name
                    out.append((name, ast.ColumnRef(col.name, col.source)))
            elif isinstance(item, ast.SelectStructAll):
                struct = translator.type_of(item.expr)
                if not isinstance(struct, T.Struct):
                    raise PlanError(f"Expected STRUCT type, got {struct}")
                out += [(f.name, ast.Dereference(item.expr, f.name)) for f in struct.fields]
            elif isinstance(item, ast.SelectColumn) and item.alias is None and joined:
                out.append(
                    (
                        _joined_name(item.expr, rel, translator) or names.natural(item.expr),
                        item.expr,
                    )
                )
            elif isinstance(item, ast.SelectColumn):
                out.append((item.alias or names.natural(item.expr), item.expr))
        return out

    def _order(self, order: ast.OrderBy, outputs: list[Output], translator: Translator) -> str:
        by_name = {o.name: i + 1 for i, o in enumerate(outputs)}
        terms, named = [], set()
        for item in order.items:
            e = item.expr
            if isinstance(e, ast.ColumnRef) and e.source is None and e.name in by_name:
                position = by_name[e.name]
                text = str(position)
                named.add(position)
            elif isinstance(e, ast.Literal) and isinstance(e.value, int) and e.value >= 1:
                if e.value > len(outputs):
                    raise PlanError(
                        f"ORDER BY term {e.value} is out of range: the select has "
                        f"{len(outputs)} columns."
                    )
                text = str(e.value)
                named.add(e.value)
            else:
                text = translator.sql(e)
            nulls = "NULLS FIRST" if item.nulls_first else "NULLS LAST"
            terms.append(f"{text} {'DESC' if item.descending else 'ASC'} {nulls}")
        ties = [
            f"{i} ASC NULLS LAST"
            for i, o in enumerate(outputs, start=1)
            if i not in named and o.type.base not in _UNORDERABLE
        ]
        return ", ".join(terms + ties)


def _joined_name(expr: ast.Expr, rel: _Relation, translator: Translator) -> str | None:
    """A join's column of a name several of its sources have is named ALIAS_NAME, as
    ksqlDB names it; None for any other expression."""
    if not isinstance(expr, ast.ColumnRef):
        return None
    if sum(1 for c in rel.columns if c.name == expr.name) < 2:
        return None
    translator.type_of(expr)
    col = translator.typer.columns.get(id(expr))
    return f"{col.source}_{col.name}" if col is not None and col.source else None


def _typed(translator: Translator, expr: ast.Expr, name: str) -> T.SqlType:
    try:
        found = translator.typer.infer(expr)
    except PlanError as exc:
        raise exc.in_clause("SELECT") from exc
    if found is None:
        raise PlanError(
            "Can't infer a type of null. Please explicitly cast it to a required type, "
            f"e.g. CAST(null AS VARCHAR). Column: {name}"
        )
    return found


def _star_columns(rel: _Relation, alias: str | None) -> list[Column]:
    """The columns `*` (or `alias.*`) selects: keys, window bounds, then values of a
    source (as a plain pull query), every column of a subquery; never ROWTIME."""
    columns = [c for c in rel.columns if alias is None or c.source == alias]
    if not columns:
        raise PlanError(f"'{alias}' is not a valid stream/table name or alias.")
    if rel.single is not None:
        keys = {c.name for c in rel.single.key_columns}
        bounds = {C.WINDOWSTART, C.WINDOWEND}
        order = {name: i for i, name in enumerate(c.name for c in columns)}
        columns = sorted(
            (c for c in columns if c.name not in _PSEUDO),
            key=lambda c: (c.name not in keys, c.name not in bounds, order[c.name]),
        )
        return columns
    return [c for c in columns if c.name not in _PSEUDO]


def _within(within: ast.Within, left: list[Column], right: list[Column]) -> str:
    """A stream-stream join's WITHIN over history: the right record's time within the
    bounds of the left record's."""
    lt = next((c for c in left if c.name == C.ROWTIME), None)
    rt = next((c for c in right if c.name == C.ROWTIME), None)
    if lt is None or rt is None:
        return ""
    left_time = f"{quote(lt.source or '')}.{quote(C.ROWTIME)}"
    right_time = f"{quote(rt.source or '')}.{quote(C.ROWTIME)}"
    before, after = within.before.millis, within.after.millis
    return f" AND {right_time} BETWEEN {left_time} - {before} AND {left_time} + {after}"
