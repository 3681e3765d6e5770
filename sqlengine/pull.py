"""Pull queries: ksqlDB's rules for a SELECT without EMIT CHANGES, and where its rows come from.

A pull query that needs more than a key lookup or a filtered scan (aggregates, GROUP BY,
HAVING, joins, DISTINCT, ORDER BY, OFFSET, subqueries in FROM) runs on DuckDB
(`sqlengine.analytics`) unless `ksql.query.pull.analytics.enabled` is false, which brings
back ksqlDB's refusals of those clauses.

A pull query on a table reads the table's materialization (`sqlengine.materialized`): when
every disjunct of the WHERE clause fixes all key columns with `=` or `IN`, the rows come from
key lookups; otherwise from a scan of the store, which ksqlDB allows only with
`ksql.query.pull.table.scan.enabled` (the default) or, for a range on a single STRING key,
`ksql.query.pull.range.scan.enabled`. Either way the compiled WHERE clause then filters them,
so the lookup only narrows the candidates. A pull query on a stream scans its topic.
"""

from __future__ import annotations

import itertools
from typing import Any

from grammar import ast
from grammar.printer import format_expr
from grammar.rewrite import walk
from planner.errors import PlanError, type_name
from sqlengine import aggregates
from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.materialized import is_queryable

TABLE_SCAN = "ksql.query.pull.table.scan.enabled"
RANGE_SCAN = "ksql.query.pull.range.scan.enabled"
LIMIT_CLAUSE = "ksql.query.pull.limit.clause.enabled"
ANALYTICS = "ksql.query.pull.analytics.enabled"
_MORE_INFO = "See https://cnfl.io/queries for more info."
_PUSH_HINT = "Add EMIT CHANGES if you intended to issue a push query."
_DISALLOWED_COLUMNS = (C.ROWPARTITION, C.ROWOFFSET)
_RANGE_OPS = ("<", "<=", ">", ">=")


def _enabled(config: dict[str, str], name: str) -> bool:
    return config.get(name, "true").strip().lower() != "false"


def is_analytic(query: ast.Query) -> bool:
    """Whether the query needs more than key lookups or a filtered scan: DuckDB's work."""
    return (
        query.analytic
        or isinstance(query.from_, ast.Join)
        or bool(query.group_by)
        or query.having is not None
        or _first_aggregate(query) is not None
    )


def _first_aggregate(query: ast.Query) -> str | None:
    """The name of the first aggregate function the select calls, if any."""
    return next(
        (
            e.name.upper()
            for item in query.select
            if isinstance(item, ast.SelectColumn)
            for e in walk(item.expr)
            if isinstance(e, ast.FunctionCall) and aggregates.is_aggregate(e.name)
        ),
        None,
    )


def analytics_enabled(config: dict[str, str]) -> bool:
    return _enabled(config, ANALYTICS)


def runs_on_duckdb(query: ast.Query, config: dict[str, str]) -> bool:
    """Whether DuckDB answers it whatever its WHERE clause (a scan, not a key lookup, runs
    there too, once the store path's planning found it one)."""
    return is_analytic(query) and analytics_enabled(config)


def check_clauses(
    query: ast.Query, config: dict[str, str], stmt: ast.Statement | None = None
) -> None:
    """The clauses a pull query may not have, in ksqlDB's words; checked before planning.
    With analytics on (the default), DuckDB answers JOIN, GROUP BY and HAVING; `stmt`
    locates the syntax errors ksqlDB gives for clauses its grammar lacks."""
    analytics = runs_on_duckdb(query, config)
    if not analytics and stmt is not None:
        _refuse_analytic_syntax(query, stmt)
    for present, clause in (
        (isinstance(query.from_, ast.Join) and not analytics, "JOIN"),
        (query.window is not None, "WINDOW"),
        (bool(query.group_by) and not analytics, "GROUP BY"),
        (query.having is not None and not analytics, "HAVING"),
        (query.partition_by is not None, "PARTITION BY"),
    ):
        if present:
            raise PlanError(
                f"Pull queries don't support {clause} clauses. {_MORE_INFO}\n{_PUSH_HINT}"
            )
    if query.limit is not None:
        if query.limit < 0:
            raise PlanError(
                f"Pull queries don't support negative integers in the LIMIT clause. {_MORE_INFO}"
            )
        if not _enabled(config, LIMIT_CLAUSE):
            raise PlanError(
                "LIMIT clause in pull queries is currently disabled. You can enable them by "
                f"setting {LIMIT_CLAUSE}=true. {_MORE_INFO}\n{_PUSH_HINT}"
            )
    aggregate = _first_aggregate(query)
    if aggregate is not None and not analytics:
        # Without DuckDB nothing would aggregate the rows: refused, never a row per record.
        raise PlanError(f"Use of aggregate function {aggregate} requires a GROUP BY clause.")
    selected = [e for i in query.select if isinstance(i, ast.SelectColumn) for e in walk(i.expr)]
    _check_columns(selected, "SELECT")
    _check_columns(list(walk(query.where)) if query.where is not None else [], "WHERE")


def _refuse_analytic_syntax(query: ast.Query, stmt: ast.Statement) -> None:
    """Without analytics, what ksqlDB's grammar lacks fails as it fails there."""
    if query.order_by is not None:
        # ksqlDB reads ORDER as the source's alias and stops at BY.
        raise PlanError(_syntax_error(query.order_by, stmt, skip="ORDER"), "plain")
    sub = _first_subquery(query.from_)
    if sub is not None:
        raise PlanError(_syntax_error(sub, stmt), "plain")
    for present, clause in ((query.distinct, "DISTINCT"), (query.offset is not None, "OFFSET")):
        if present:
            raise PlanError(
                f"Pull queries don't support {clause} unless {ANALYTICS}=true. {_MORE_INFO}"
            )


def _first_subquery(rel: ast.Relation) -> ast.SubqueryRef | None:
    if isinstance(rel, ast.Join):
        return _first_subquery(rel.left) or _first_subquery(rel.right)
    return rel if isinstance(rel, ast.SubqueryRef) else None


def _syntax_error(node: ast.Node, stmt: ast.Statement, skip: str = "") -> str:
    """ksqlDB's syntax error at `node` (at the word after `skip`, when given), located in
    the statement's own text as ksqlDB locates it (line 1 is the statement's first)."""
    text = stmt.text
    lines = text.split("\n")
    row = node.line - stmt.line
    start = node.column - stmt.column if row == 0 else node.column - 1
    offset = sum(len(x) + 1 for x in lines[:row]) + start
    if skip and text[offset : offset + len(skip)].upper() == skip:
        offset += len(skip)
        while offset < len(text) and text[offset].isspace():
            offset += 1
    before = text[:offset]
    column = offset - (before.rfind("\n") + 1)
    return f"line {before.count(chr(10)) + 1}:{column + 1}: Syntax Error\n\nStatement: {text};"


def _check_columns(exprs: list[ast.Expr], clause: str) -> None:
    names = sorted(
        {e.name for e in exprs if isinstance(e, ast.ColumnRef) and e.name in _DISALLOWED_COLUMNS}
    )
    if names:
        listed = ", ".join(f"`{n}`" for n in names)
        raise PlanError(
            f"Pull queries don't support the following columns in {clause} clauses: {listed}"
        )


def check_source(source: C.DataSource, where: ast.Expr | None) -> None:
    """A table must be materialized; window bounds need a windowed source."""
    if source.kind == "TABLE" and not is_queryable(source):
        raise PlanError(
            f"The `{source.name}` table isn't queryable. To derive a queryable table, you can "
            f"do 'CREATE TABLE QUERYABLE_{source.name} AS SELECT * FROM {source.name}'. "
            f"{_MORE_INFO}"
        )
    if where is not None and source.window is None:
        for e in walk(where):
            if isinstance(e, ast.ColumnRef) and e.name in (C.WINDOWSTART, C.WINDOWEND):
                raise PlanError(f"WHERE column '{e.name}' cannot be resolved.")


def with_statement(exc: PlanError, where: ast.Expr | None) -> PlanError:
    """A WHERE typing error names the expression, as ksqlDB's pull query errors do."""
    if where is None or not exc.message.startswith("Error in WHERE expression"):
        return exc
    return PlanError(f"{exc.message}\nStatement: {format_expr(where)}", "plain")


class KeyAccess:
    """How a pull query on a table reaches its rows: `keys` to look up, or None for a scan;
    `only_keys` when every term of the WHERE clause is such a key comparison."""

    def __init__(self, source: C.DataSource, where: ast.Expr | None, config: dict[str, str]):
        self.key_columns = source.key_columns
        self.names = [c.name for c in self.key_columns]
        self.table_scan = _enabled(config, TABLE_SCAN)
        self.range_scan = _enabled(config, RANGE_SCAN)
        self.only_keys = True
        disjuncts = _split(where, "OR") if where is not None else []
        per_disjunct = [self._disjunct(d) for d in disjuncts]
        self.keys: list[tuple[Any, ...]] | None = None
        if per_disjunct and all(keys is not None for keys in per_disjunct):
            self.keys = list(dict.fromkeys(k for keys in per_disjunct for k in keys))  # type: ignore[union-attr]
        elif not self.table_scan:
            if where is None:
                raise PlanError("Query requires table scan to be enabled")
            for disjunct in disjuncts:
                self._check_scan_disjunct(disjunct)

    def _disjunct(self, disjunct: ast.Expr) -> list[tuple[Any, ...]] | None:
        """The keys a conjunction fixes, when it fixes every key column; else None."""
        values: dict[str, list[Any]] = {}
        for term in _split(disjunct, "AND"):
            name, found = self._key_values(term)
            self.only_keys &= name is not None
            if name is not None and found is not None:
                if name in values:
                    return None
                values[name] = found
        if set(values) != set(self.names):
            return None
        return list(itertools.product(*(values[n] for n in self.names)))

    def _key_values(self, term: ast.Expr) -> tuple[str | None, list[Any] | None]:
        """(key column, its values) for `KEY = literal` or `KEY IN (literals...)`."""
        if isinstance(term, ast.BinaryOp) and term.op == "=":
            for col, other in ((term.left, term.right), (term.right, term.left)):
                if self._is_key(col):
                    value = _literal(other)
                    if value is _NOT_LITERAL:
                        return None, None
                    if value is None:
                        raise PlanError(
                            "Error in WHERE expression: Comparison with NULL not supported: "
                            f"{type_name(self._type(col))} = NULL\nUse 'IS NULL' or 'IS NOT NULL' instead."
                            f"\nStatement: {format_expr(term)}"
                        )
                    return col.name, [value]  # type: ignore[attr-defined]
        if isinstance(term, ast.InList) and not term.negated and self._is_key(term.value):
            col = term.value
            found = [_literal(item) for item in term.items]
            if any(v is _NOT_LITERAL for v in found):
                return None, None
            for item, value in zip(term.items, found, strict=True):
                self._check_in_item(col, item, value)
            return col.name, found  # type: ignore[attr-defined]
        return None, None

    def _check_in_item(self, col: ast.Expr, item: ast.Expr, value: Any) -> None:
        name = col.name  # type: ignore[attr-defined]
        if value is None:
            raise PlanError(f"Primary key columns can not be NULL: ({name} = null)")
        key_type = self._type(col)
        is_text = isinstance(value, str)
        if is_text != (key_type.base is T.STRING.base):
            raise PlanError(
                f"{format_expr(item)} can not be converted to the type of the key column: "
                f"{name} {type_name(key_type)} KEY"
            )

    def _check_scan_disjunct(self, disjunct: ast.Expr) -> None:
        """Without table scans, a disjunct must bound the key as ksqlDB's lookups allow."""
        terms = _split(disjunct, "AND")
        referenced = [
            t
            for t in terms
            if any(self._is_key(e) for e in walk(t) if isinstance(e, ast.ColumnRef))
        ]
        if not referenced:
            raise PlanError(
                f"WHERE clause missing key column for disjunct: {format_expr(disjunct)}"
            )
        ranges = 0
        for term in referenced:
            if isinstance(term, ast.Like):
                raise PlanError("Like condition must be between strings")
            if not isinstance(term, ast.BinaryOp | ast.InList):
                raise PlanError("Query requires table scan to be enabled")
            sides = (term.left, term.right) if isinstance(term, ast.BinaryOp) else (term.value,)
            if not any(self._is_key(s) for s in sides):
                raise PlanError("A comparison must directly reference a key column.")
            if isinstance(term, ast.BinaryOp):
                other = term.right if self._is_key(term.left) else term.left
                if _literal(other) is _NOT_LITERAL:
                    raise PlanError(
                        "A comparison must be between a key column and a resolvable expression."
                    )
                if term.op in ("<>", "!="):
                    listed = ", ".join(f"`{c.name}` {c.type} KEY" for c in self.key_columns)
                    raise PlanError(f"Bound on key columns '[{listed}]' must currently be '='. ")
                if term.op in _RANGE_OPS:
                    ranges += 1
            elif any(_literal(i) is _NOT_LITERAL for i in term.items):
                raise PlanError(
                    "A comparison must be between a key column and a resolvable expression."
                )
        if len(self.names) > 1:
            raise PlanError("Multi-column sources must specify every key in the WHERE clause.")
        if ranges > 1:
            raise PlanError(
                "A comparison condition on the key column cannot be combined with other "
                "comparisons such as an IN predicate"
            )
        is_text = self.key_columns[0].type.base is T.STRING.base
        if ranges and not (self.range_scan and is_text):
            raise PlanError("Query requires table scan to be enabled")

    def _is_key(self, e: ast.Expr) -> bool:
        return isinstance(e, ast.ColumnRef) and e.name in self.names

    def _type(self, col: ast.Expr) -> T.SqlType:
        return self.key_columns[self.names.index(col.name)].type  # type: ignore[attr-defined]


_NOT_LITERAL = object()


def _literal(e: ast.Expr) -> Any:
    """The value of a literal (a negated numeric literal too), or _NOT_LITERAL."""
    if isinstance(e, ast.Literal):
        return e.value
    if isinstance(e, ast.UnaryOp) and e.op == "-" and isinstance(e.operand, ast.Literal):
        value = e.operand.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value
    return _NOT_LITERAL


def _split(e: ast.Expr, op: str) -> list[ast.Expr]:
    if isinstance(e, ast.BinaryOp) and e.op == op:
        return _split(e.left, op) + _split(e.right, op)
    return [e]
