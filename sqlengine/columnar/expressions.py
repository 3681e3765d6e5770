"""Expressions over a whole batch: an AST typed by the planner's `Typer` becomes a function
of the batch's columns (row index -> Arrow array) built once per query, evaluated by Arrow
compute kernels with the per-record semantics of `sqlengine.codegen`:

- a comparison with a NULL operand is FALSE (not NULL); AND/OR are three-valued (Kleene);
- INT and BIGINT arithmetic wraps on overflow as Java's does (Arrow's unchecked kernels);
- operands convert to the planner's result type first (INT -> BIGINT -> DOUBLE).

What has no such kernel here (function calls, CASE, LIKE, division, casts to other
types...) raises `NotVectorized`, and the query runs per record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from grammar import ast
from planner.typing import COMPARISONS, Typer
from sqlengine import types as T
from sqlengine.columnar import arrow_type

Columns = dict[int, pa.Array]
Value = pa.Array | pa.Scalar
ColumnFn = Callable[[Columns], Value]

_KERNELS = {"=": "equal", "<>": "not_equal", "!=": "not_equal", "<": "less"}
_KERNELS |= {"<=": "less_equal", ">": "greater", ">=": "greater_equal"}
_ARITHMETIC = {"+": pc.add, "-": pc.subtract, "*": pc.multiply}
_EXACT_IN_DOUBLE = 2**53


class NotVectorized(Exception):
    """The expression has no vectorized form here; the query runs per record."""


def compile_column(expr: ast.Expr, typer: Typer) -> ColumnFn:
    """The batch function of `expr`, whose nodes `typer` has typed."""
    return _Compiler(typer).gen(expr)


def compile_where(where: ast.Expr | None, typer: Typer) -> ColumnFn | None:
    """The batch function of a WHERE clause, typed here; None for a query without one."""
    if where is None:
        return None
    typer.infer(where)
    return compile_column(where, typer)


class _Compiler:
    def __init__(self, typer: Typer) -> None:
        self.typer = typer

    def type_of(self, e: ast.Expr) -> T.SqlType:
        t = self.typer.types.get(id(e))
        if arrow_type(t) is None:
            raise NotVectorized(f"type {t}")
        assert t is not None
        return t

    def gen(self, e: ast.Expr) -> ColumnFn:
        if isinstance(e, ast.Literal):
            return self._literal(e)
        if isinstance(e, ast.ColumnRef):
            self.type_of(e)
            index = self.typer.columns[id(e)].index
            return lambda cols: cols[index]
        if isinstance(e, ast.BinaryOp):
            return self._binary(e)
        if isinstance(e, ast.UnaryOp):
            return self._unary(e)
        if isinstance(e, ast.IsNull):
            inner = self.gen(e.value)
            test = pc.is_valid if e.negated else pc.is_null
            return lambda cols: test(inner(cols))
        raise NotVectorized(type(e).__name__)

    def gen_as(self, e: ast.Expr, target: T.SqlType) -> ColumnFn:
        """`e` converted to `target`: numeric widening only (exact, or as Python's int to
        float conversion in arithmetic rounds)."""
        source = self.typer.types.get(id(e))
        if isinstance(e, ast.Literal) and isinstance(source, T.Decimal) and target == T.DOUBLE:
            # A fractional literal is a DECIMAL; against a DOUBLE it is the nearest double.
            value = self.typer.literals.get(id(e), e.value)
            scalar = pa.scalar(None if value is None else float(value), pa.float64())
            return lambda cols: scalar
        fn, source = self.gen(e), self.type_of(e)
        if source == target:
            return fn
        if not (source.is_numeric and target.is_numeric):
            raise NotVectorized(f"{source} as {target}")
        to = arrow_type(target)
        return lambda cols: pc.cast(fn(cols), to, safe=False)

    def _literal(self, e: ast.Literal) -> ColumnFn:
        value = self.typer.literals.get(id(e), e.value)
        scalar = pa.scalar(value, arrow_type(self.type_of(e)))
        return lambda cols: scalar

    def _binary(self, e: ast.BinaryOp) -> ColumnFn:
        op = e.op.upper()
        if op in COMPARISONS:
            return self._compare(e, op)
        if op in ("AND", "OR"):
            left, right = self.gen(e.left), self.gen(e.right)
            kernel = pc.and_kleene if op == "AND" else pc.or_kleene
            return lambda cols: kernel(left(cols), right(cols))
        result = self.type_of(e)
        if op == "||" or (op == "+" and result.base is T.Base.STRING):
            left, right = self.gen(e.left), self.gen(e.right)
            return lambda cols: pc.binary_join_element_wise(left(cols), right(cols), "")
        if op not in _ARITHMETIC or not result.is_numeric:
            raise NotVectorized(op)
        kernel = _ARITHMETIC[op]
        left, right = self.gen_as(e.left, result), self.gen_as(e.right, result)
        return lambda cols: kernel(left(cols), right(cols))

    def _compare(self, e: ast.BinaryOp, op: str) -> ColumnFn:
        if op not in _KERNELS:
            raise NotVectorized(op)
        common = self.typer.comparison_type(e.left, e.right)
        if common is None:
            left, right = self.gen(e.left), self.gen(e.right)
        else:
            # Python compares int and float exactly: only a conversion that loses nothing
            # compares the same way.
            for side in (e.left, e.right):
                self._check_exact(side, common)
            left, right = self.gen_as(e.left, common), self.gen_as(e.right, common)
        kernel: Callable[[Any, Any], Any] = getattr(pc, _KERNELS[op])
        return lambda cols: pc.fill_null(kernel(left(cols), right(cols)), False)

    def _check_exact(self, side: ast.Expr, common: T.SqlType) -> None:
        t = self.typer.types.get(id(side))
        if common.base is not T.Base.DOUBLE or t is None or t.base is not T.Base.BIGINT:
            return
        value = self.typer.literals.get(id(side), getattr(side, "value", None))
        if not isinstance(side, ast.Literal) or abs(value or 0) > _EXACT_IN_DOUBLE:
            raise NotVectorized("BIGINT compared as DOUBLE")

    def _unary(self, e: ast.UnaryOp) -> ColumnFn:
        op = e.op.upper()
        inner = self.gen(e.operand)
        if op == "NOT":
            return lambda cols: pc.invert(inner(cols))
        if op == "+":
            return inner
        if op == "-" and self.type_of(e).is_numeric:
            return lambda cols: pc.negate(inner(cols))
        raise NotVectorized(op)
