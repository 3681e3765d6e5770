"""Expressions compiled to Python: one generated function per stage, built once per query.

Generated code reads columns as `r[i]`; every literal, helper and function implementation
enters it as a constant bound in the exec namespace (`_c3`, `_f4`), never as SQL text, so
nothing a statement contains can become code. NULL checks use walrus temporaries so each
subexpression is evaluated once. The per-row fast path has no try/except per expression; a
row that raises is re-evaluated on a slow path that isolates each projection (ksqlDB writes
the processing log, the failing expression yields NULL and the row is still emitted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP
from typing import Any

from grammar import ast
from grammar.printer import format_expr
from planner.errors import PlanError, type_name
from planner.scope import Scope
from planner.typing import COMPARISONS, Typer
from sqlengine import codegen_ops as ops
from sqlengine import types as T

B = T.Base
_PY_COMPARE = {"=": "==", "<>": "!=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_WRAP = {
    B.INTEGER: "((({}) + 2147483648) & 4294967295) - 2147483648",
    B.BIGINT: "((({}) + 9223372036854775808) & 18446744073709551615) - 9223372036854775808",
}
_ALWAYS_BOOL = (ast.IsNull, ast.Like, ast.Between, ast.InList)


class _Compiler:
    def __init__(self, typer: Typer) -> None:
        self.typer = typer
        # Set for the slow path: each function call is wrapped so that its failure yields
        # NULL for that call only (as ksqlDB evaluates a UDF), reported through `_safe`.
        self.isolate_calls = False
        self.ns: dict[str, Any] = {"__builtins__": {}}
        self._count = 0
        self._consts: dict[tuple[type, Any], str] = {}
        self._lambda_names: list[dict[str, str]] = []

    # ------------------------------------------------------------------ names

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def const(self, value: Any) -> str:
        """A name bound to `value` in the generated module."""
        if value is None or isinstance(value, bool):
            return repr(value)
        key = (type(value), value) if _hashable(value) else (object, id(value))
        name = self._consts.get(key)
        if name is None:
            name = self._name("_c")
            self.ns[name] = value
            self._consts[key] = name
        return name

    def tmp(self) -> str:
        return self._name("_t")

    def type_of(self, e: ast.Expr) -> T.SqlType | None:
        return self.typer.types[id(e)]

    # ------------------------------------------------------------------ helpers

    def convert(self, code: str, src: T.SqlType | None, dst: T.SqlType | None) -> str:
        if src is None or dst is None or src == dst:
            return code
        fn = ops.caster(src, dst)
        if fn is None:
            return code
        t = self.tmp()
        return f"(None if ({t} := {code}) is None else {self.const(fn)}({t}))"

    def gen_as(self, e: ast.Expr, target: T.SqlType | None) -> str:
        return self.convert(self.gen(e), self.type_of(e), target)

    def nullable(self, e: ast.Expr) -> bool:
        if isinstance(e, ast.Literal):
            return self.typer.literals.get(id(e), e.value) is None
        if isinstance(e, (*_ALWAYS_BOOL, ast.ArrayConstructor, ast.MapConstructor)):
            return False
        if isinstance(e, ast.StructConstructor):
            return False
        if isinstance(e, ast.BinaryOp):
            if e.op.upper() in COMPARISONS:
                return False
            return self.nullable(e.left) or self.nullable(e.right)
        if isinstance(e, ast.UnaryOp):
            return self.nullable(e.operand)
        if isinstance(e, ast.Cast):
            return self.nullable(e.expr)
        return True

    def guarded(
        self,
        parts: list[tuple[str, bool]],
        build: Callable[[list[str]], str],
        on_null: str = "None",
    ) -> str:
        """`build(values)` evaluated only when every nullable part is non-NULL."""
        checks, values = [], []
        for code, nullable in parts:
            if nullable:
                t = self.tmp()
                checks.append(f"({t} := {code}) is None")
                values.append(t)
            else:
                values.append(code)
        body = build(values)
        if not checks:
            return f"({body})"
        return f"({on_null} if {' or '.join(checks)} else {body})"

    # ------------------------------------------------------------------ nodes

    def gen(self, e: ast.Expr) -> str:
        if isinstance(e, ast.Literal):
            return self.const(self.typer.literals.get(id(e), e.value))
        if isinstance(e, ast.ColumnRef):
            if e.source is None:
                for names in reversed(self._lambda_names):
                    if e.name in names:
                        return names[e.name]
            return f"r[{int(self.typer.columns[id(e)].index)}]"
        if isinstance(e, ast.BinaryOp):
            return self._binary(e)
        if isinstance(e, ast.UnaryOp):
            return self._unary(e)
        if isinstance(e, ast.IsNull):
            return f"({self.gen(e.value)} is {'not ' if e.negated else ''}None)"
        if isinstance(e, ast.Like):
            return self._like(e)
        if isinstance(e, ast.Between):
            return self._between(e)
        if isinstance(e, ast.InList):
            return self._in(e)
        if isinstance(e, ast.Case):
            return self._case(e)
        if isinstance(e, ast.Cast):
            src = self.type_of(e.expr)
            return "None" if src is None else self.gen_as(e.expr, self.type_of(e))
        if isinstance(e, ast.Dereference):
            name = self.const(e.field_name)
            return self.guarded([(self.gen(e.base), True)], lambda v: f"{v[0]}.get({name})")
        if isinstance(e, ast.Subscript):
            return self._subscript(e)
        if isinstance(e, ast.ArrayConstructor):
            element = self.type_of(e).element  # type: ignore[union-attr]
            return "[" + ", ".join(self.gen_as(i, element) for i in e.items) + "]"
        if isinstance(e, ast.MapConstructor):
            mt = self.type_of(e)
            assert isinstance(mt, T.Map)
            pairs = (f"{self.gen_as(k, mt.key)}: {self.gen_as(v, mt.value)}" for k, v in e.entries)
            return "{" + ", ".join(pairs) + "}"
        if isinstance(e, ast.StructConstructor):
            st = self.type_of(e)
            assert isinstance(st, T.Struct)
            values = dict(e.fields)  # the struct type may add fields coerced from a list
            items = (
                f"{self.const(f.name)}: "
                + ("None" if f.name not in values else self.gen_as(values[f.name], f.type))
                for f in st.fields
            )
            return "{" + ", ".join(items) + "}"
        if isinstance(e, ast.FunctionCall):
            return self._call(e)
        raise PlanError(f"Cannot compile expression: {format_expr(e)}")

    def _binary(self, e: ast.BinaryOp) -> str:
        op = e.op.upper()
        if op in COMPARISONS:
            return self._compare(e.left, e.right, op)
        if op == "AND":
            return self._logical(e, "False", "True")
        if op == "OR":
            return self._logical(e, "True", "False")
        result = self.type_of(e)
        assert result is not None
        if op == "||" or result.base is B.STRING:
            parts = [
                (self.gen(e.left), self.nullable(e.left)),
                (self.gen(e.right), self.nullable(e.right)),
            ]
            return self.guarded(parts, lambda v: f"{v[0]} + {v[1]}")
        # Python mixes int with float or Decimal exactly; only Decimal + float needs the
        # DECIMAL side turned into a double first, as ksqlDB does.
        parts = []
        for side in (e.left, e.right):
            st = self.type_of(side)
            to_double = result.base is B.DOUBLE and st is not None and st.base is B.DECIMAL
            code = self.gen_as(side, T.DOUBLE) if to_double else self.gen(side)
            parts.append((code, self.nullable(side)))
        on_null = f"{self.const(ops.null_operand)}()" if self._lambda_names else "None"
        return self.guarded(parts, lambda v: self._arith(op, result, v[0], v[1]), on_null)

    def _arith(self, op: str, result: T.SqlType, a: str, b: str) -> str:
        if result.base is B.DOUBLE:
            if op == "/":
                return f"{self.const(ops.fdiv)}({a}, {b})"
            if op == "%":
                return f"{self.const(ops.fmod)}({a}, {b})"
            return f"{a} {op} {b}"
        if isinstance(result, T.Decimal):
            method = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "remainder"}
            fn = self.const(getattr(ops.DCTX, method[op]))
            q = self.const(ops.dec_quantum(result.scale))
            return (
                f"{fn}({a}, {b}).quantize({q}, {self.const(ROUND_HALF_UP)}, {self.const(ops.DCTX)})"
            )
        if op == "/":
            div = ops.idiv32 if result.base is B.INTEGER else ops.idiv64
            return f"{self.const(div)}({a}, {b})"
        if op == "%":
            return f"{self.const(ops.imod)}({a}, {b})"
        return _WRAP[result.base].format(f"{a} {op} {b}")

    def _logical(self, e: ast.BinaryOp, decisive: str, other: str) -> str:
        left, right = self.gen(e.left), self.gen(e.right)
        if not (self.nullable(e.left) or self.nullable(e.right)):
            return f"({left} {'and' if decisive == 'False' else 'or'} {right})"
        a, b = self.tmp(), self.tmp()
        return (
            f"({decisive} if ({a} := {left}) is {decisive} else ({decisive} if ({b} := {right}) "
            f"is {decisive} else (None if {a} is None or {b} is None else {other})))"
        )

    def _unary(self, e: ast.UnaryOp) -> str:
        op = e.op.upper()
        inner = self.gen(e.operand)
        parts = [(inner, self.nullable(e.operand))]
        if op == "NOT":
            return self.guarded(parts, lambda v: f"not {v[0]}")
        t = self.type_of(e)
        if op == "+" or t is None:
            return inner
        if isinstance(t, T.Decimal):
            return self.guarded(parts, lambda v: f"{self.const(ops.DCTX.minus)}({v[0]})")
        if t.base in _WRAP:
            return self.guarded(parts, lambda v: _WRAP[t.base].format(f"-{v[0]}"))
        return self.guarded(parts, lambda v: f"-{v[0]}")

    def _cmp_caster(self, t: T.SqlType | None, ct: T.SqlType | None) -> str | None:
        """The conversion a comparison operand of type t needs to compare as ct, if any.
        Python compares int, Decimal and float exactly; only DECIMAL vs DOUBLE needs the
        conversion ksqlDB applies, and temporal values need a common unit."""
        if ct is None or t is None or t == ct:
            return None
        if t.is_numeric and not (t.base is B.DECIMAL and ct.base is B.DOUBLE):
            return None
        fn = ops.caster(t, ct)
        return None if fn is None else self.const(fn)

    def _cmp_parts(self, left: ast.Expr, right: ast.Expr) -> list[tuple[str, str | None]]:
        ct = self.typer.comparison_type(left, right)
        return [
            (self.gen(side), self._cmp_caster(self.type_of(side), ct)) for side in (left, right)
        ]

    @staticmethod
    def _apply(caster: str | None, value: str) -> str:
        return value if caster is None else f"{caster}({value})"

    def _compare(self, left: ast.Expr, right: ast.Expr, op: str) -> str:
        (lcode, lc), (rcode, rc) = self._cmp_parts(left, right)
        if op in ("IS DISTINCT FROM", "IS NOT DISTINCT FROM"):
            py = "!=" if op == "IS DISTINCT FROM" else "=="
            lcode = (
                lcode if lc is None else self.guarded([(lcode, True)], lambda v: f"{lc}({v[0]})")
            )
            rcode = (
                rcode if rc is None else self.guarded([(rcode, True)], lambda v: f"{rc}({v[0]})")
            )
            return f"({lcode} {py} {rcode})"
        py = _PY_COMPARE[op]
        parts = [(lcode, self.nullable(left)), (rcode, self.nullable(right))]
        return self.guarded(
            parts, lambda v: f"{self._apply(lc, v[0])} {py} {self._apply(rc, v[1])}", "False"
        )

    def _between(self, e: ast.Between) -> str:
        (vcode, v_lo), (lcode, lc) = self._cmp_parts(e.value, e.low)
        (_, v_hi), (hcode, hc) = self._cmp_parts(e.value, e.high)
        parts = [(vcode, True), (lcode, self.nullable(e.low)), (hcode, self.nullable(e.high))]

        def build(v: list[str]) -> str:
            low_ok = f"{self._apply(lc, v[1])} <= {self._apply(v_lo, v[0])}"
            return f"{low_ok} and {self._apply(v_hi, v[0])} <= {self._apply(hc, v[2])}"

        code = self.guarded(parts, build, on_null="False")
        return f"(not {code})" if e.negated else code

    def _in(self, e: ast.InList) -> str:
        # The value and every item convert to the list's common type (literals already have).
        common = self.typer.list_types[id(e)]
        literals = [self.typer.literals.get(id(i), i.value) for i in e.items if _is_literal(i)]
        v = self.tmp()
        value = self.gen_as(e.value, common)
        if len(literals) == len(e.items):
            present = [x for x in literals if x is not None]
            pool = frozenset(present) if all(_hashable(x) for x in present) else present
            test = f"{v} in {self.const(pool)}"
        else:
            test = " or ".join(f"{v} == {self.gen_as(i, common)}" for i in e.items)
        code = f"(False if ({v} := {value}) is None else ({test}))"
        return f"(not {code})" if e.negated else code

    def _like(self, e: ast.Like) -> str:
        value = (self.gen(e.value), self.nullable(e.value))
        if isinstance(e.pattern, ast.Literal) and isinstance(e.pattern.value, str):
            match = self.const(ops.like_regex(e.pattern.value, e.escape).fullmatch)
            code = self.guarded([value], lambda v: f"{match}({v[0]}) is not None", "False")
        else:
            like, esc = self.const(ops.like), self.const(e.escape)
            parts = [value, (self.gen(e.pattern), self.nullable(e.pattern))]
            code = self.guarded(parts, lambda v: f"{like}({v[0]}, {v[1]}, {esc})", "False")
        return f"(not {code})" if e.negated else code

    def _case(self, e: ast.Case) -> str:
        result = self.type_of(e)
        code = "None" if e.default is None else self.gen_as(e.default, result)
        operand = None if e.operand is None else self.tmp()
        for i, w in reversed(list(enumerate(e.whens))):
            if e.operand is None or operand is None:
                cond = self.gen(w.condition)
            else:
                (ocode, oc), (wcode, wc) = self._cmp_parts(e.operand, w.condition)
                first = f"({operand} := {ocode})" if i == 0 else operand
                cond = f"{first} is not None and {self._apply(oc, operand)} == {self._apply(wc, wcode)}"
            code = f"({self.gen_as(w.result, result)} if {cond} else {code})"
        return code

    def _subscript(self, e: ast.Subscript) -> str:
        base_t = self.type_of(e.base)
        parts = [(self.gen(e.base), True), (self.gen(e.index), self.nullable(e.index))]
        if isinstance(base_t, T.Array):
            idx = self.const(ops.array_index)
            return self.guarded(parts, lambda v: f"{idx}({v[0]}, {v[1]})")
        return self.guarded(parts, lambda v: f"{v[0]}.get({v[1]})")

    def _call(self, e: ast.FunctionCall) -> str:
        resolved = self.typer.calls.get(id(e))
        if resolved is None:
            raise PlanError(f"Function {e.name} must be computed before expression evaluation")
        fn = self.const(resolved.impl)
        parts: list[tuple[str, bool]] = []
        for i, arg in enumerate(e.args):
            if isinstance(arg, ast.IntervalUnit):
                parts.append((self.const(arg.unit), False))
            elif isinstance(arg, ast.Lambda):
                parts.append((self._lambda(arg), False))
            else:
                target = resolved.param_types[i] if i < len(resolved.param_types) else None
                parts.append((self.gen_as(arg, target), self.nullable(arg)))
        if not resolved.overload.null_propagating:
            parts = [(code, False) for code, _ in parts]
        if self.isolate_calls:
            return self.guarded(parts, lambda v: f"_safe(r, {', '.join([fn, *v])})")
        return self.guarded(parts, lambda v: f"{fn}({', '.join(v)})")

    def _lambda(self, lam: ast.Lambda) -> str:
        names = {p: self._name("_l") for p in lam.params}
        self._lambda_names.append(names)
        try:
            body = self.gen(lam.body)
        finally:
            self._lambda_names.pop()
        return f"(lambda {', '.join(names.values())}: {body})"


def _is_literal(e: ast.Expr) -> bool:
    return isinstance(e, ast.Literal)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


# ---------------------------------------------------------------------------- entry points


def compile_expr(expr: ast.Expr, scope: Scope) -> Callable[[Sequence[Any]], Any]:
    """A function row -> value of `expr` (errors propagate to the caller)."""
    typer = Typer(scope)
    typer.infer(expr)
    c = _Compiler(typer)
    src = f"def _expr(r):\n    return {c.gen(expr)}\n"
    exec(compile(src, "<expr>", "exec"), c.ns)  # noqa: S102 - generated from typed AST only
    fn = c.ns["_expr"]
    fn.source = src
    return fn


def compile_stage(
    where: ast.Expr | None,
    projections: Sequence[ast.Expr],
    scope: Scope,
    on_error: Callable[[Exception, Sequence[Any]], None],
) -> Callable[[list[Sequence[Any]]], list[tuple]]:
    """process(rows) -> the projection tuples of the rows whose `where` is TRUE."""
    typer = Typer(scope)
    if where is not None:
        try:
            wt = typer.infer(where)
        except PlanError as err:
            raise err.in_clause("WHERE") from None
        if wt is not None and wt.base is not B.BOOLEAN:
            raise PlanError(
                "Type error in WHERE expression: Should evaluate to boolean but is "
                f"{format_expr(where)} ({type_name(wt)}) instead.",
                "plain",
            )
    for p in projections:
        try:
            typer.infer(p)
        except PlanError as err:
            raise err.in_clause("SELECT") from None
    c = _Compiler(typer)
    cond = "True" if where is None else c.gen(where)
    cols = [c.gen(p) for p in projections]
    row = "(" + "".join(f"{code}, " for code in cols) + ")"
    loop = f"app({row})" if where is None else f"if {cond}:\n                    app({row})"
    lines = [
        "def _stage(rows):",
        "    out = []",
        "    app = out.append",
        "    it = iter(rows)",
        "    while True:",
        "        try:",
        "            for r in it:",
        f"                {loop}",
        "            return out",
        "        except Exception as exc:",
        "            _slow(r, app, exc)",
    ]
    c.isolate_calls = True
    lines.append(f"def _where(r):\n    return {'True' if where is None else c.gen(where)}")
    lines += [f"def _p{i}(r):\n    return {c.gen(p)}" for i, p in enumerate(projections)]
    src = "\n".join(lines) + "\n"
    c.ns["Exception"] = Exception
    c.ns["iter"] = iter
    exec(compile(src, "<stage>", "exec"), c.ns)  # noqa: S102 - generated from typed AST only
    where_fn = c.ns["_where"]
    proj_fns = [c.ns[f"_p{i}"] for i in range(len(cols))]

    def slow(r: Sequence[Any], app: Callable[[tuple], None], first: Exception) -> None:
        try:
            keep = where_fn(r)
        except Exception as err:
            on_error(err, r)
            return
        if not keep:
            return
        values = []
        for fn in proj_fns:
            try:
                values.append(fn(r))
            except Exception as err:
                on_error(err, r)
                values.append(None)
        app(tuple(values))

    def safe(r: Sequence[Any], fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as err:
            on_error(err, r)
            return None

    c.ns["_slow"] = slow
    c.ns["_safe"] = safe
    stage = c.ns["_stage"]
    stage.source = src
    return stage
