"""Expressions of a typed query as DuckDB SQL, with ksqlDB's semantics.

What DuckDB computes exactly as ksqlDB does is written as DuckDB SQL: columns, literals,
comparisons, boolean logic, arithmetic on integers and doubles (integer division truncates,
as Java's does), CASE, IS NULL, BETWEEN, IN, LIKE, and the aggregates of AGGREGATES. Any
other subexpression (a ksqlDB function DuckDB lacks or spells differently, a CAST to
STRING, DECIMAL arithmetic) becomes a call of a Python UDF that evaluates it with streamdb's
own compiled expression code over the values of the columns and aggregates it reads.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grammar import ast
from grammar.rewrite import transform, walk
from planner.errors import PlanError
from planner.scope import Column, Scope
from planner.typing import Typer
from sqlengine import aggregates
from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.analytics.values import duckdb_type, from_duckdb, quote
from sqlengine.codegen import compile_expr

B = T.Base
_NUMERIC = (B.INTEGER, B.BIGINT, B.DOUBLE)
# Types whose values are integers in a view (temporal ones as epoch numbers).
_INTEGRAL_VALUES = (B.INTEGER, B.BIGINT, B.DOUBLE, B.TIMESTAMP, B.DATE, B.TIME)
_COMPARISONS = ("=", "<>", "!=", "<", "<=", ">", ">=")
# ksqlDB aggregate -> DuckDB aggregate ({} is the argument list).
AGGREGATES = {
    "COUNT": "count({})",
    "SUM": "sum({})",
    "AVG": "avg({})",
    "MIN": "min({})",
    "MAX": "max({})",
    "COUNT_DISTINCT": "count(DISTINCT {})",
    "STDDEV_SAMP": "stddev_samp({})",
    "STDDEV_SAMPLE": "stddev_samp({})",
}
# ksqlDB scalar function -> DuckDB function, where both agree on every input (NULLs too).
_SCALARS = {"UCASE": "upper", "LCASE": "lower", "ABS": "abs", "COALESCE": "coalesce"}


@dataclass
class Udf:
    name: str
    fn: Callable[..., Any]
    params: list[str]  # DuckDB types
    returns: str


@dataclass
class Translator:
    """Translates expressions over `scope` (typed by `typer`); the UDFs they need gather in
    `udfs`, to be registered on the connection that runs the SQL."""

    typer: Typer
    udfs: list[Udf] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)  # the query's (aggregates read it)

    def type_of(self, e: ast.Expr) -> T.SqlType | None:
        if id(e) not in self.typer.types:
            self.typer.infer(e)
        return self.typer.types.get(id(e))

    def sql(self, e: ast.Expr) -> str:
        if id(e) not in self.typer.types:
            self.typer.infer(e)  # the whole expression: comparisons coerce their literals
        native = self._native(e)
        return native if native is not None else self._udf(e)

    def _native(self, e: ast.Expr) -> str | None:
        """DuckDB SQL for `e` when DuckDB computes it as ksqlDB does, else None."""
        if isinstance(e, ast.ColumnRef):
            col = self.typer.columns.get(id(e))
            if col is None:
                self.type_of(e)
                col = self.typer.columns.get(id(e))
            if col is None:
                return None
            return f"{quote(col.source)}.{quote(col.name)}" if col.source else quote(col.name)
        if isinstance(e, ast.Literal):
            return self._literal(e)
        if isinstance(e, ast.FunctionCall):
            return self._call(e)
        if isinstance(e, ast.BinaryOp):
            return self._binary(e)
        if isinstance(e, ast.UnaryOp):
            inner = self.sql(e.operand)
            if e.op == "NOT":
                return f"(NOT {inner})"
            return f"(-{inner})" if self._numeric(e) else None
        if isinstance(e, ast.IsNull):
            return f"({self.sql(e.value)} IS {'NOT ' if e.negated else ''}NULL)"
        if isinstance(e, ast.Between) and self._all_numeric(e.value, e.low, e.high):
            neg = "NOT " if e.negated else ""
            return f"({self.sql(e.value)} {neg}BETWEEN {self.sql(e.low)} AND {self.sql(e.high)})"
        if isinstance(e, ast.InList) and self._all_numeric(e.value, *e.items):
            items = ", ".join(self.sql(i) for i in e.items)
            return f"({self.sql(e.value)} {'NOT ' if e.negated else ''}IN ({items}))"
        if isinstance(e, ast.Case):
            return self._case(e)
        if isinstance(e, ast.Cast) and self._numeric(e) and self._numeric(e.expr):
            return f"CAST({self.sql(e.expr)} AS {duckdb_type(self.type_of(e))})"  # type: ignore[arg-type]
        return None

    def _numeric(self, e: ast.Expr) -> bool:
        t = self.type_of(e)
        return t is not None and t.base in _NUMERIC

    def _all_numeric(self, *exprs: ast.Expr) -> bool:
        return all(self._numeric(x) for x in exprs)

    def _literal(self, e: ast.Literal) -> str | None:
        value = self.typer.literals.get(id(e), e.value)
        t = self.type_of(e)
        if value is None:
            return "NULL" if t is None else f"CAST(NULL AS {duckdb_type(t)})"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        if isinstance(value, int) and t is not None and t.base in _INTEGRAL_VALUES:
            return f"CAST({value} AS {duckdb_type(t)})"
        if isinstance(value, float | decimal.Decimal) and t is not None:
            return f"CAST('{value}' AS {duckdb_type(t)})"
        return None

    def _binary(self, e: ast.BinaryOp) -> str | None:
        if e.op in ("AND", "OR"):
            return f"({self.sql(e.left)} {e.op} {self.sql(e.right)})"
        lt, rt = self.type_of(e.left), self.type_of(e.right)
        if e.op in _COMPARISONS:
            if lt is None or rt is None:
                return None
            comparable = lt == rt and lt.base not in (B.MAP, B.STRUCT, B.ARRAY, B.DECIMAL)
            if not (comparable or self._all_numeric(e.left, e.right)):
                return None
            op = "<>" if e.op == "!=" else e.op
            return f"({self.sql(e.left)} {op} {self.sql(e.right)})"
        if e.op in ("IS DISTINCT FROM", "IS NOT DISTINCT FROM") and lt == rt:
            return f"({self.sql(e.left)} {e.op} {self.sql(e.right)})"
        if e.op == "||" and lt == rt == T.STRING:
            return f"({self.sql(e.left)} || {self.sql(e.right)})"
        if e.op in ("+", "-", "*", "/", "%") and self._all_numeric(e.left, e.right):
            left, right = self.sql(e.left), self.sql(e.right)
            if self.type_of(e) in (T.INTEGER, T.BIGINT) and e.op in ("/", "%"):
                # Java's integer division truncates; by zero it fails, which ksqlDB makes NULL.
                return f"TRY({left} {'//' if e.op == '/' else '%'} {right})"
            return f"({left} {e.op} {right})"
        return None

    def _case(self, e: ast.Case) -> str | None:
        if e.operand is not None:
            return None
        parts = ["CASE"]
        for w in e.whens:
            parts.append(f"WHEN {self.sql(w.condition)} THEN {self.sql(w.result)}")
        if e.default is not None:
            parts.append(f"ELSE {self.sql(e.default)}")
        parts.append("END")
        return " ".join(parts)

    def _call(self, e: ast.FunctionCall) -> str | None:
        name = e.name.upper()
        if aggregates.is_aggregate(name):
            template = AGGREGATES.get(name)
            if template is None:
                return self._folded(e)
            if name == "COUNT" and e.star:
                return "count(*)"
            return template.format(", ".join(self.sql(a) for a in e.args))
        if name in _SCALARS and not e.distinct:
            return f"{_SCALARS[name]}({', '.join(self.sql(a) for a in e.args)})"
        return None

    def _folded(self, e: ast.FunctionCall) -> str:
        """An aggregate DuckDB lacks (COLLECT_LIST, TOPK, LATEST_BY_OFFSET...): DuckDB lists
        each group's values in record order, streamdb's own aggregate folds the list."""
        arg_types = [self.type_of(a) or T.STRING for a in e.args]
        split = len(e.args) - aggregates.init_arg_count(e.name, arg_types)
        if split != 1:
            raise PlanError(
                f"Aggregate function {e.name.upper()} with {split} column arguments is not "
                "supported in analytical pull queries: use a persistent query."
            )
        init = [getattr(a, "value", None) for a in e.args[1:]]
        agg = aggregates.resolve_aggregate(e.name, arg_types[:1], init, self.config)
        arg, arg_type = e.args[0], arg_types[0]

        def fold(values: list[Any] | None) -> Any:
            acc = agg.init()
            for value in values or ():
                acc = agg.add(acc, from_duckdb(value, arg_type))
            return agg.result(acc)

        name = f"ksql_agg_{len(self.udfs)}"
        self.udfs.append(
            Udf(name, fold, [f"{duckdb_type(arg_type)}[]"], duckdb_type(agg.return_type))
        )
        return f"{name}(list({self.sql(arg)}{self._record_order(arg)}))"

    def _record_order(self, arg: ast.Expr) -> str:
        """ORDER BY the record position of the one source `arg` reads, if it reads one."""
        sources = {
            col.source
            for x in walk(arg)
            if (col := self.typer.columns.get(id(x))) is not None and col.source is not None
        }
        if len(sources) != 1:
            return ""
        (source,) = sources
        scope = self.typer.scope
        try:
            scope.resolve(C.ROWOFFSET, source)
        except PlanError:
            return ""
        where = quote(source)
        return f" ORDER BY {where}.{quote(C.ROWPARTITION)}, {where}.{quote(C.ROWOFFSET)}"

    def _udf(self, e: ast.Expr) -> str:
        """`e` evaluated by streamdb: a UDF over the columns and aggregates it reads."""
        leaves = _leaves(e)
        result_type = self.type_of(e)
        if result_type is None:
            return "NULL"
        names = [f"ARG{i}" for i in range(len(leaves))]
        types = [self.type_of(leaf) or T.STRING for leaf in leaves]
        by_leaf = {id(leaf): name for leaf, name in zip(leaves, names, strict=True)}

        def to_arg(x: ast.Expr) -> ast.Expr | None:
            name = by_leaf.get(id(x))
            return ast.ColumnRef(name) if name is not None else None

        rewritten = transform(e, to_arg)
        scope = Scope([Column(n, t, i) for i, (n, t) in enumerate(zip(names, types, strict=True))])
        compiled = compile_expr(rewritten, scope)
        if not leaves:  # a constant: evaluated once
            value = compiled(())
            literal = ast.Literal(value, result_type)
            self.typer.types[id(literal)] = result_type
            text = self._literal(literal)
            if text is None:
                raise PlanError(f"Cannot evaluate the constant {e} in an analytical pull query")
            return text

        def call(*args: Any) -> Any:
            row = [from_duckdb(v, t) for v, t in zip(args, types, strict=True)]
            return compiled(row)

        name = f"ksql_expr_{len(self.udfs)}"
        self.udfs.append(Udf(name, call, [duckdb_type(t) for t in types], duckdb_type(result_type)))
        return f"{name}({', '.join(self.sql(leaf) for leaf in leaves)})"


def _leaves(e: ast.Expr) -> list[ast.Expr]:
    """The column references (not lambda parameters) and aggregate calls `e` reads."""
    found: list[ast.Expr] = []
    params: set[str] = {p for x in walk(e) if isinstance(x, ast.Lambda) for p in x.params}

    def visit(x: ast.Expr) -> ast.Expr | None:
        if isinstance(x, ast.FunctionCall) and aggregates.is_aggregate(x.name):
            found.append(x)
            return x
        if isinstance(x, ast.ColumnRef) and not (x.source is None and x.name in params):
            found.append(x)
            return x
        return None

    transform(e, visit)
    return found
