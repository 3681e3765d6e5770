"""Expression typing: the SQL type of every node, ksqlDB's type errors, and the implicit
coercions ksqlDB applies (string literals in IN lists and constructors, numeric widening,
string literals compared with timestamps). sqlengine.codegen reads the Typer's notes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grammar import ast
from grammar.printer import format_expr
from planner.coercion import ListCoercer
from planner.errors import PlanError, type_name
from planner.scope import Column, Scope
from sqlengine import codegen_ops as ops
from sqlengine import types as T
from sqlengine.functions.registry import (
    REGISTRY,
    UNIT,
    ArgType,
    FunctionError,
    LambdaType,
    Resolved,
)

# Hook for the aggregate planner: given a call the scalar registry does not know and its
# argument types, return the aggregate's result type (or None if it is not one either).
AggregateResolver = Callable[[ast.FunctionCall, list[ArgType]], T.SqlType | None]

B = T.Base
COMPARISONS = {
    "=": "EQUAL",
    "<>": "NOT_EQUAL",
    "!=": "NOT_EQUAL",
    "<": "LESS_THAN",
    "<=": "LESS_THAN_OR_EQUAL",
    ">": "GREATER_THAN",
    ">=": "GREATER_THAN_OR_EQUAL",
    "IS DISTINCT FROM": "IS_DISTINCT_FROM",
    "IS NOT DISTINCT FROM": "IS_NOT_DISTINCT_FROM",
}
EQUALITY_OPS = ("=", "<>", "!=", "IS DISTINCT FROM", "IS NOT DISTINCT FROM")
ARITHMETIC = ("+", "-", "*", "/", "%")
# Pseudo columns holding epoch millis as BIGINT, which ksqlDB compares with timestamp text.
MAGIC_TIMESTAMP_COLUMNS = frozenset({"ROWTIME", "WINDOWSTART", "WINDOWEND"})
_TEMPORAL = (B.DATE, B.TIME, B.TIMESTAMP)


def infer_type(
    expr: ast.Expr, scope: Scope, aggregate_resolver: AggregateResolver | None = None
) -> T.SqlType | None:
    """The SQL type of `expr` (None only for an untyped NULL); PlanError on type errors."""
    return Typer(scope, aggregate_resolver).infer(expr)


def decimal_result(op: str, a: T.Decimal, b: T.Decimal) -> T.Decimal:
    """ksqlDB's result precision/scale of DECIMAL arithmetic."""
    p1, s1, p2, s2 = a.precision, a.scale, b.precision, b.scale
    if op in ("+", "-"):
        s = max(s1, s2)
        return T.Decimal(max(p1 - s1, p2 - s2) + s + 1, s)
    if op == "*":
        return T.Decimal(p1 + p2 + 1, s1 + s2)
    if op == "/":
        s = max(6, s1 + p2 + 1)
        return T.Decimal(p1 - s1 + s2 + s, s)
    s = max(s1, s2)
    return T.Decimal(min(p1 - s1, p2 - s2) + s, s)


def supertype(a: T.SqlType, b: T.SqlType) -> T.SqlType | None:
    """The type both a and b convert to implicitly (numeric widening, element-wise)."""
    if a == b:
        return a
    if a.is_numeric and b.is_numeric:
        return T.widen_numeric(a, b)
    if isinstance(a, T.Array) and isinstance(b, T.Array):
        el = supertype(a.element, b.element)
        return None if el is None else T.Array(el)
    if isinstance(a, T.Map) and isinstance(b, T.Map):
        k, v = supertype(a.key, b.key), supertype(a.value, b.value)
        return None if k is None or v is None else T.Map(k, v)
    if isinstance(a, T.Struct) and isinstance(b, T.Struct):
        if [f.name for f in a.fields] != [f.name for f in b.fields]:
            return None
        fields = [
            (f.name, supertype(f.type, g.type)) for f, g in zip(a.fields, b.fields, strict=True)
        ]
        if any(t is None for _, t in fields):
            return None
        return T.Struct(tuple(T.Field(n, t) for n, t in fields if t is not None))
    return None


def _is_string_literal(e: ast.Expr) -> bool:
    return isinstance(e, ast.Literal) and isinstance(e.value, str)


class Typer:
    """Types the nodes of expressions over one Scope and keeps what codegen needs:
    `types` (per node id), `calls` (resolved functions), `literals` (coerced literal values),
    `columns` (resolved column refs), `lambdas` (parameter types per lambda node) and
    `list_types` (the common type of each IN list)."""

    def __init__(self, scope: Scope, aggregate_resolver: AggregateResolver | None = None):
        self.scope = scope
        self.aggregate_resolver = aggregate_resolver
        self.types: dict[int, T.SqlType | None] = {}
        self.calls: dict[int, Resolved] = {}
        self.literals: dict[int, Any] = {}
        self.columns: dict[int, Column] = {}
        self.lambdas: dict[int, list[T.SqlType]] = {}
        self.list_types: dict[int, T.SqlType | None] = {}  # IN lists: what both sides compare as
        self.coercer = ListCoercer(self)
        self._lambda_env: list[dict[str, T.SqlType]] = []

    def infer(self, e: ast.Expr) -> T.SqlType | None:
        key = id(e)
        if key not in self.types:
            self.types[key] = self._infer(e)
        return self.types[key]

    def lambda_var(self, name: str) -> T.SqlType | None:
        for env in reversed(self._lambda_env):
            if name in env:
                return env[name]
        return None

    # ------------------------------------------------------------------ node rules

    def _infer(self, e: ast.Expr) -> T.SqlType | None:
        if isinstance(e, ast.Literal):
            return e.type
        if isinstance(e, ast.ColumnRef):
            if e.source is None:
                t = self.lambda_var(e.name)
                if t is not None:
                    return t
            col = self.scope.resolve_ref(e)
            self.columns[id(e)] = col
            return col.type
        if isinstance(e, ast.BinaryOp):
            return self._binary(e)
        if isinstance(e, ast.UnaryOp):
            return self._unary(e)
        if isinstance(e, ast.IsNull):
            self.infer(e.value)
            return T.BOOLEAN
        if isinstance(e, ast.Like):
            for part in (e.value, e.pattern):
                t = self.infer(part)
                if t is not None and t.base is not B.STRING:
                    raise PlanError(
                        "The column type for Like condition must be VARCHAR. "
                        f"The column type is {type_name(t)}"
                    )
            return T.BOOLEAN
        if isinstance(e, ast.Between):
            self._comparison(e.value, e.low, ">=")
            self._comparison(e.value, e.high, "<=")
            return T.BOOLEAN
        if isinstance(e, ast.InList):
            self.list_types[id(e)] = self.coercer.unify([e.value, *e.items])
            return T.BOOLEAN
        if isinstance(e, ast.Case):
            return self._case(e)
        if isinstance(e, ast.Cast):
            return self._cast(e)
        if isinstance(e, ast.Dereference):
            return self._dereference(e)
        if isinstance(e, ast.Subscript):
            return self._subscript(e)
        if isinstance(e, ast.ArrayConstructor):
            return self._array(e)
        if isinstance(e, ast.MapConstructor):
            return self._map(e)
        if isinstance(e, ast.StructConstructor):
            return self._struct(e)
        if isinstance(e, ast.FunctionCall):
            return self._call(e)
        if isinstance(e, ast.IntervalUnit | ast.Lambda):
            raise PlanError(f"{format_expr(e)} is only valid as a function argument")
        raise PlanError(f"Unsupported expression: {format_expr(e)}")

    def _binary(self, e: ast.BinaryOp) -> T.SqlType | None:
        op = e.op.upper()
        if op in COMPARISONS:
            self._comparison(e.left, e.right, op)
            return T.BOOLEAN
        lt, rt = self.infer(e.left), self.infer(e.right)
        if op in ("AND", "OR"):
            for side, t in ((e.left, lt), (e.right, rt)):
                if t is not None and t.base is not B.BOOLEAN:
                    raise PlanError(
                        f"{op} operands must be BOOLEAN, but {format_expr(side)} is {type_name(t)}"
                    )
            return T.BOOLEAN
        if op == "||":
            for side, t in ((e.left, lt), (e.right, rt)):
                if t is not None and t.base is not B.STRING:
                    raise PlanError(
                        f"Error processing expression: {format_expr(e)}. "
                        f"|| requires STRING operands, got {type_name(t)} ({format_expr(side)})"
                    )
            return T.STRING
        if op in ARITHMETIC:
            return self._arithmetic(e, op, lt, rt)
        raise PlanError(f"Unknown operator {e.op}")

    def _arithmetic(
        self, e: ast.BinaryOp, op: str, lt: T.SqlType | None, rt: T.SqlType | None
    ) -> T.SqlType:
        where = f"Error processing expression: {format_expr(e)}."
        if lt is None or rt is None:
            raise PlanError(
                f"{where} Arithmetic on types {type_name(lt)} and {type_name(rt)} "
                "are not supported."
            )
        if op == "+" and lt.base is B.STRING and rt.base is B.STRING:
            return T.STRING
        if not (lt.is_numeric and rt.is_numeric):
            raise PlanError(
                f"{where} Unsupported arithmetic types. {lt.base.value} {rt.base.value}"
            )
        if B.DOUBLE in (lt.base, rt.base):
            return T.DOUBLE
        if B.DECIMAL in (lt.base, rt.base):
            return decimal_result(op, T.as_decimal(lt), T.as_decimal(rt))
        return T.BIGINT if B.BIGINT in (lt.base, rt.base) else T.INTEGER

    def _unary(self, e: ast.UnaryOp) -> T.SqlType | None:
        t = self.infer(e.operand)
        if e.op.upper() == "NOT":
            if t is not None and t.base is not B.BOOLEAN:
                raise PlanError(
                    f"NOT operand must be BOOLEAN, but {format_expr(e.operand)} is {type_name(t)}"
                )
            return T.BOOLEAN
        if t is not None and not t.is_numeric:
            raise PlanError(
                f"Error processing expression: {format_expr(e)}. "
                f"Unary {e.op} is not supported on {type_name(t)}"
            )
        return t

    # ------------------------------------------------------------------ comparisons

    def comparison_type(self, left: ast.Expr, right: ast.Expr) -> T.SqlType | None:
        """The type both sides are converted to before comparing (None: compare as is)."""
        lt, rt = self.types[id(left)], self.types[id(right)]
        if lt is None or rt is None or lt == rt:
            return None
        if lt.is_numeric and rt.is_numeric:
            return T.widen_numeric(lt, rt)
        if lt.base in _TEMPORAL or rt.base in _TEMPORAL:
            if B.TIMESTAMP in (lt.base, rt.base):
                return T.TIMESTAMP
            return lt if lt.base in _TEMPORAL else rt
        return supertype(lt, rt)

    def _comparison(self, left: ast.Expr, right: ast.Expr, op: str) -> None:
        lt, rt = self.infer(left), self.infer(right)
        lt, rt = self._magic_timestamp(left, lt, right, rt)
        if lt is None or rt is None or self._comparable(lt, rt, op):
            return
        raise PlanError(
            f"Cannot compare {format_expr(left)} ({type_name(lt)}) to "
            f"{format_expr(right)} ({type_name(rt)}) with {COMPARISONS[op]}."
        )

    def _magic_timestamp(
        self, left: ast.Expr, lt: T.SqlType | None, right: ast.Expr, rt: T.SqlType | None
    ) -> tuple[T.SqlType | None, T.SqlType | None]:
        """A string literal compared with a temporal column (or ROWTIME/WINDOWSTART/WINDOWEND)
        is read as a timestamp at compile time."""
        pairs = ((left, lt, right, rt), (right, rt, left, lt))
        for col, ct, lit, _ in pairs:
            if not _is_string_literal(lit) or ct is None:
                continue
            magic = (
                isinstance(col, ast.ColumnRef)
                and col.name in MAGIC_TIMESTAMP_COLUMNS
                and ct.base is B.BIGINT
            )
            if magic or ct.base in _TEMPORAL:
                target = T.BIGINT if magic else ct
                parse = {
                    B.DATE: ops.parse_date,
                    B.TIME: ops.parse_time,
                }.get(target.base, ops.parse_timestamp)
                try:
                    self.literals[id(lit)] = parse(lit.value)  # type: ignore[union-attr]
                except ValueError as err:
                    raise PlanError(str(err)) from None
                self.types[id(lit)] = target
                return (ct, target) if col is left else (target, ct)
        return lt, rt

    @staticmethod
    def _comparable(lt: T.SqlType, rt: T.SqlType, op: str) -> bool:
        if lt.is_numeric and rt.is_numeric:
            return True
        if not (lt.is_primitive and rt.is_primitive):
            return op in EQUALITY_OPS and supertype(lt, rt) is not None
        if lt.base in _TEMPORAL or rt.base in _TEMPORAL:
            bases = {lt.base, rt.base}
            if B.TIME in bases:
                return bases <= {B.TIME, B.STRING}
            return bases <= {B.DATE, B.TIMESTAMP, B.STRING}
        return lt.base == rt.base

    # ------------------------------------------------------------------ other expressions

    def _case(self, e: ast.Case) -> T.SqlType | None:
        for w in e.whens:
            if e.operand is not None:
                self._comparison(e.operand, w.condition, "=")
                continue
            t = self.infer(w.condition)
            if t is not None and t.base is not B.BOOLEAN:
                raise PlanError(
                    f"WHEN operand type should be boolean. Type for '{format_expr(w.condition)}' "
                    f"is {type_name(t)}"
                )
        results = [w.result for w in e.whens]
        if e.default is not None:
            results.append(e.default)
        result = self.coercer.unify(results)
        if result is None:
            raise PlanError("Invalid Case expression. All case branches have NULL type")
        return result

    def _cast(self, e: ast.Cast) -> T.SqlType:
        if e.target.sql_type is None:
            raise PlanError(f"Unknown type: {e.target.custom_name}")
        target = T.resolve_custom(e.target.sql_type, _unknown_type)
        src = self.infer(e.expr)
        if src is not None and not ops.can_cast(src, target):
            raise PlanError(
                f"Cast of {type_name(src)} to {type_name(target)} is not supported", "codegen"
            )
        return target

    def _dereference(self, e: ast.Dereference) -> T.SqlType:
        t = self.infer(e.base)
        if not isinstance(t, T.Struct):
            raise PlanError(
                f"Expected STRUCT type for dereference of {format_expr(e.base)}, got {type_name(t)}"
            )
        f = t.field(e.field_name)
        if f is None:
            raise PlanError(f"Could not find field '{e.field_name}' in '{format_expr(e.base)}'.")
        return f.type

    def _subscript(self, e: ast.Subscript) -> T.SqlType:
        t, it = self.infer(e.base), self.infer(e.index)
        if isinstance(t, T.Array):
            if it is not None and it.base not in (B.INTEGER, B.BIGINT):
                raise PlanError(
                    f"Array index must be INTEGER or BIGINT, got {type_name(it)} "
                    f"({format_expr(e.index)})"
                )
            return t.element
        if isinstance(t, T.Map):
            try:
                key = t.key if it is None else self.coercer.common_with(e.index, it, t.key)
            except PlanError:
                key = None
            if key != t.key:
                raise PlanError(
                    f"Map key must be {type_name(t.key)}, got {type_name(it)} "
                    f"({format_expr(e.index)})"
                )
            self.coercer.coerce(e.index, t.key)
            return t.value
        raise PlanError(
            f"Subscript expression must be on an ARRAY or MAP, got {type_name(t)} "
            f"({format_expr(e.base)})"
        )

    def _array(self, e: ast.ArrayConstructor) -> T.SqlType:
        if not e.items:
            raise PlanError(
                "Array constructor cannot be empty. Please supply at least one element "
                "(see https://github.com/confluentinc/ksql/issues/4239)."
            )
        element = self.coercer.unify(list(e.items))
        if element is None:
            raise PlanError(
                "Cannot construct an array with all NULL elements "
                "(see https://github.com/confluentinc/ksql/issues/4239). As a workaround, "
                "you may cast a NULL value to the desired type."
            )
        return T.Array(element)

    def _map(self, e: ast.MapConstructor) -> T.SqlType:
        if not e.entries:
            raise PlanError(
                "Map constructor cannot be empty. Please supply at least one key value pair "
                "(see https://github.com/confluentinc/ksql/issues/4239)."
            )
        key = self.coercer.unify([k for k, _ in e.entries])
        if key is None:
            raise PlanError("Cannot construct a map with all NULL keys")
        value = self.coercer.unify([v for _, v in e.entries])
        if value is None:
            raise PlanError("Cannot construct a map with all NULL values")
        return T.Map(key, value)

    def _struct(self, e: ast.StructConstructor) -> T.SqlType:
        names = [n for n, _ in e.fields]
        if len(set(names)) != len(names):
            raise PlanError("Duplicate field names found in STRUCT")
        fields = []
        for name, value in e.fields:
            fields.append(T.Field(name, self.infer(value) or T.STRING))
        return T.Struct(tuple(fields))

    def _call(self, e: ast.FunctionCall) -> T.SqlType | None:
        fn = REGISTRY.scalar(e.name)
        arg_types: list[ArgType] = []
        for i, arg in enumerate(e.args):
            if isinstance(arg, ast.IntervalUnit):
                arg_types.append(UNIT)
            elif isinstance(arg, ast.Lambda):
                arg_types.append(self._lambda(e, fn, i, arg, arg_types))
            else:
                arg_types.append(self.infer(arg))
        if fn is None:
            if self.aggregate_resolver is not None:
                t = self.aggregate_resolver(e, arg_types)
                if t is not None:
                    return t
            raise PlanError(f"Can't find any functions with the name '{e.name}'")
        try:
            resolved = fn.resolve(arg_types)
        except FunctionError as err:
            raise PlanError(str(err)) from None
        self.calls[id(e)] = resolved
        return resolved.return_type

    def _lambda(
        self, call: ast.FunctionCall, fn: Any, index: int, lam: ast.Lambda, before: list[ArgType]
    ) -> LambdaType:
        params = None if fn is None else fn.lambda_param_types(index, list(before))
        if params is None or len(params) != len(lam.params):
            raise PlanError(
                f"Function '{call.name}' does not accept a lambda with "
                f"{len(lam.params)} parameter(s) at argument {index + 1}: {format_expr(lam)}"
            )
        self.lambdas[id(lam)] = params
        self._lambda_env.append(dict(zip(lam.params, params, strict=True)))
        try:
            body = self.infer(lam.body)
        finally:
            self._lambda_env.pop()
        return LambdaType(tuple(params), body if body is not None else T.STRING)


def _unknown_type(name: str) -> T.SqlType:
    raise PlanError(f"Unknown type: {name}")
