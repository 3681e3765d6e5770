"""INSERT INTO ... VALUES: evaluate the values, coerce them to the columns, append one record."""

from __future__ import annotations

import time

from grammar import ast
from grammar.printer import format_expr
from grammar.rewrite import walk
from planner.errors import PlanError
from planner.logical import SinkSpec
from planner.scope import Scope
from planner.typing import infer_type
from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.codegen import compile_expr
from sqlengine.log.base import Log
from sqlengine.schema_registry import SchemaRegistry
from sqlengine.sink import SinkEncoder

_EMPTY = Scope([])


def _coerced(expr: ast.Expr, target: T.SqlType, column: str) -> ast.Expr:
    actual = infer_type(expr, _EMPTY)
    if actual is None or actual == target:
        return expr
    compatible = (actual.is_numeric and target.is_numeric) or (
        actual == T.STRING and target.base in (T.Base.TIMESTAMP, T.Base.DATE, T.Base.TIME)
    )
    if not compatible and not (
        actual.base == target.base and actual.base in (T.Base.ARRAY, T.Base.MAP, T.Base.STRUCT)
    ):
        raise PlanError(
            f"Expected type {target} for field {column} but got {format_expr(expr)}({actual})"
        )
    return ast.Cast(expr, ast.TypeRef(sql_type=target))


def _evaluated(expr: ast.Expr, target: T.SqlType, column: str) -> object:
    """A VALUES expression's value for a column: a literal the column takes as it is (its
    own type, or an INT for a BIGINT) without compiling anything, else the compiled cast."""
    coerced = _coerced(expr, target, column)
    if isinstance(coerced, ast.Literal):
        return coerced.value
    if isinstance(expr, ast.Literal) and expr.type == T.INTEGER and target == T.BIGINT:
        return expr.value
    return compile_expr(coerced, _EMPTY)(())


def _target_columns(stmt: ast.InsertValues, target: C.DataSource) -> list[str]:
    """The columns the values go to, checked as ksqlDB checks them."""
    if stmt.columns is None:
        names = [c.name for c in target.key_columns + target.value_columns]
        if len(names) != len(stmt.values):
            raise PlanError(
                f"Expected a value for each column. Expected Columns: [{', '.join(names)}]. "
                f"Got [{', '.join(format_expr(v) for v in stmt.values)}]"
            )
    else:
        names = list(stmt.columns)
        if len(names) != len(stmt.values):
            raise PlanError(
                "Failed to prepare statement: Expected number columns and values to match: "
                f"{len(names)}, {len(stmt.values)}"
            )
    for name in names:
        if name in C.SYSTEM_COLUMN_NAMES - {C.ROWTIME}:
            raise PlanError(f"Inserting into column `{name}` is not allowed.")
    headers = [n for n in names if n in {c.name for c in target.header_columns}]
    if headers:
        raise PlanError(f"Cannot insert into HEADER columns: {', '.join(headers)}")
    for value in stmt.values:
        for node in walk(value):
            if isinstance(node, ast.ColumnRef) and node.source is not None:
                raise PlanError(
                    f"Failed to prepare statement: '{node.source}' is not a valid stream/table "
                    "name or alias."
                )
    return names


def insert_values(
    stmt: ast.InsertValues, target: C.DataSource, log: Log, registry: SchemaRegistry | None = None
) -> None:
    if target.is_source:
        raise PlanError(f"Cannot insert values into read-only {target.kind.lower()}: {target.name}")
    schema_cols = target.key_columns + target.value_columns
    names = _target_columns(stmt, target)
    given = dict(zip(names, stmt.values, strict=True))
    rowtime = int(time.time() * 1000)
    if C.ROWTIME in given:
        rowtime_value = _evaluated(given.pop(C.ROWTIME), T.BIGINT, C.ROWTIME)
        if rowtime_value is not None:
            rowtime = rowtime_value
    for name in given:
        if target.column(name) is None:
            raise PlanError(f"Column name {name} does not exist.")
    row: list[object] = [rowtime]
    for col in schema_cols:
        expr = given.get(col.name)
        row.append(None if expr is None else _evaluated(expr, col.type, col.name))
    row.append(())
    row_encoder(target, log, registry).write([tuple(row)], set())


def row_encoder(
    target: C.DataSource, log: Log, registry: SchemaRegistry | None = None
) -> SinkEncoder:
    """Writes rows (ROWTIME, keys..., values..., headers) to the source's own topic."""
    spec = SinkSpec(
        name=target.name,
        kind=target.kind,
        topic=target.topic,
        key_format=target.key_format,
        value_format=target.value_format,
        partitions=1,
        wrap_single_value=target.wrap_single_value,
    )
    return SinkEncoder(
        spec,
        [(c.name, c.type) for c in target.key_columns],
        [(c.name, c.type) for c in target.value_columns],
        log,
        registry,
    )
