"""Typed, compiled expressions: typing errors, NULL semantics, arithmetic, casts, predicates,
collections, lambdas and the slow path for rows that raise."""

from __future__ import annotations

import math
from decimal import Decimal as D
from typing import Any

import pytest

import sqlengine.functions.lambdas  # noqa: F401 - registers TRANSFORM / FILTER / REDUCE
from grammar import ast as A
from grammar.printer import format_expr
from planner.errors import PlanError
from planner.scope import Column, Scope
from planner.typing import infer_type
from sqlengine import types as T
from sqlengine.codegen import compile_expr, compile_stage
from sqlengine.functions.registry import REGISTRY, Overload, scalar

COLS = [
    ("I", T.INTEGER),
    ("L", T.BIGINT),
    ("F", T.DOUBLE),
    ("X", T.Decimal(4, 2)),
    ("S", T.STRING),
    ("B", T.BOOLEAN),
    ("ARR", T.Array(T.INTEGER)),
    ("M", T.Map(T.STRING, T.INTEGER)),
    ("ST", T.Struct((T.Field("ID", T.INTEGER), T.Field("NAME", T.STRING)))),
    ("TS", T.TIMESTAMP),
    ("ROWTIME", T.BIGINT),
    ("J", T.INTEGER),
    ("Y", T.Decimal(4, 2)),
]
SCOPE = Scope([Column(n, t, i) for i, (n, t) in enumerate(COLS)])
INDEX = {n: i for i, (n, _) in enumerate(COLS)}


def row(**values: Any) -> tuple:
    r: list[Any] = [None] * len(COLS)
    for k, v in values.items():
        r[INDEX[k]] = v
    return tuple(r)


def c(name: str) -> A.ColumnRef:
    return A.ColumnRef(name)


def lit(v: Any) -> A.Literal:
    if v is None:
        return A.Literal(None, None)
    if isinstance(v, bool):
        return A.Literal(v, T.BOOLEAN)
    if isinstance(v, int):
        return A.Literal(v, T.INTEGER if -(2**31) <= v < 2**31 else T.BIGINT)
    if isinstance(v, float):
        return A.Literal(v, T.DOUBLE)
    if isinstance(v, D):
        digits = len(v.as_tuple().digits)
        return A.Literal(v, T.Decimal(max(digits, -v.as_tuple().exponent), -v.as_tuple().exponent))
    return A.Literal(v, T.STRING)


def op(o: str, a: A.Expr, b: A.Expr) -> A.BinaryOp:
    return A.BinaryOp(o, a, b)


def ev(e: A.Expr, **values: Any) -> Any:
    return compile_expr(e, SCOPE)(row(**values))


def cast(e: A.Expr, t: T.SqlType) -> A.Cast:
    return A.Cast(e, A.TypeRef(t))


def plan_error(e: A.Expr) -> str:
    with pytest.raises(PlanError) as info:
        infer_type(e, SCOPE)
    return info.value.message


# ---------------------------------------------------------------------------- typing


def test_types_of_arithmetic_follow_ksqldb_widening() -> None:
    assert infer_type(op("+", c("I"), c("I")), SCOPE) == T.INTEGER
    assert infer_type(op("+", c("I"), c("L")), SCOPE) == T.BIGINT
    assert infer_type(op("*", c("L"), c("F")), SCOPE) == T.DOUBLE
    assert infer_type(op("+", c("X"), c("Y")), SCOPE) == T.Decimal(5, 2)
    assert infer_type(op("*", c("X"), c("Y")), SCOPE) == T.Decimal(9, 4)
    assert infer_type(op("/", c("X"), c("Y")), SCOPE) == T.Decimal(11, 7)
    assert infer_type(op("%", c("X"), c("Y")), SCOPE) == T.Decimal(4, 2)
    assert infer_type(op("+", c("X"), c("I")), SCOPE) == T.Decimal(13, 2)
    assert infer_type(op("+", c("S"), c("S")), SCOPE) == T.STRING
    assert infer_type(lit(None), SCOPE) is None


def test_type_errors_use_ksqldb_wording() -> None:
    msg = plan_error(op(">=", c("I"), lit("not an int")))
    assert msg == "Cannot compare I (INTEGER) to 'not an int' (STRING) with GREATER_THAN_OR_EQUAL."
    assert "Cannot compare ARR (ARRAY<INTEGER>) to ARR (ARRAY<INTEGER>) with LESS_THAN." in (
        plan_error(op("<", c("ARR"), c("ARR")))
    )
    assert "STRUCT<`ID` INTEGER, `NAME` STRING>" in plan_error(op("<", c("ST"), c("ST")))
    assert plan_error(op("+", lit(True), lit(D("1.5")))) == (
        "Error processing expression: (true + 1.5). Unsupported arithmetic types. BOOLEAN DECIMAL"
    )
    assert plan_error(op("+", lit(1), lit(None))) == (
        "Error processing expression: (1 + null). Arithmetic on types INTEGER and null "
        "are not supported."
    )
    assert plan_error(A.FunctionCall("WONT_FIND_ME", ())) == (
        "Can't find any functions with the name 'WONT_FIND_ME'"
    )
    assert "Cast of STRING to ARRAY<INTEGER> is not supported" in plan_error(
        cast(c("S"), T.Array(T.INTEGER))
    )
    case = A.Case(None, (A.WhenClause(c("B"), lit(None)),), lit(None))
    assert plan_error(case) == "Invalid Case expression. All case branches have NULL type"
    assert "Array constructor cannot be empty" in plan_error(A.ArrayConstructor(()))
    assert "all NULL elements" in plan_error(A.ArrayConstructor((lit(None),)))
    assert plan_error(A.MapConstructor(((lit(None), c("I")),))) == (
        "Cannot construct a map with all NULL keys"
    )
    assert "Duplicate field names found in STRUCT" in plan_error(
        A.StructConstructor((("A", c("I")), ("A", c("I"))))
    )
    assert "The column type for Like condition must be VARCHAR" in plan_error(
        A.Like(c("I"), lit("%"))
    )


def test_unknown_and_ambiguous_columns() -> None:
    with pytest.raises(PlanError) as info:
        infer_type(c("BOB"), SCOPE)
    assert info.value.in_clause("WHERE").message == "WHERE column 'BOB' cannot be resolved."
    two = Scope([Column("F0", T.INTEGER, 0, "I1"), Column("F0", T.INTEGER, 1, "I2")])
    with pytest.raises(PlanError, match="Column 'F0' is ambiguous. Could be I1.F0 or I2.F0."):
        infer_type(c("F0"), two)
    assert compile_expr(A.ColumnRef("F0", "I2"), two)((1, 2)) == 2


def test_stage_reports_clause_prefixes() -> None:
    with pytest.raises(PlanError) as info:
        compile_stage(lit("not a boolean"), [], SCOPE, lambda e, r: None)
    assert info.value.message == (
        "Type error in WHERE expression: Should evaluate to boolean but is "
        "'not a boolean' (STRING) instead."
    )
    with pytest.raises(PlanError) as info:
        compile_stage(op("=", c("I"), c("S")), [], SCOPE, lambda e, r: None)
    assert info.value.message.startswith("Error in WHERE expression: Cannot compare I")
    with pytest.raises(PlanError) as info:
        compile_stage(A.InList(c("I"), (lit(10), lit("x"))), [], SCOPE, lambda e, r: None)
    assert info.value.message == 'Invalid Predicate: invalid input syntax for type INTEGER: "x".'


# ---------------------------------------------------------------------------- arithmetic


def test_integer_arithmetic_is_java_like() -> None:
    assert ev(op("+", c("I"), lit(1)), I=2**31 - 1) == -(2**31)
    assert ev(op("*", c("L"), lit(2)), L=2**62) == -(2**63)
    assert ev(op("/", c("I"), lit(2)), I=-7) == -3
    assert ev(op("%", c("I"), lit(3)), I=-7) == -1
    assert ev(op("%", c("I"), lit(-3)), I=7) == 1
    assert ev(op("-", c("I"), c("J")), I=1, J=None) is None
    assert ev(A.UnaryOp("-", c("I")), I=-(2**31)) == -(2**31)
    with pytest.raises(ArithmeticError):
        ev(op("/", c("I"), c("J")), I=1, J=0)


def test_double_arithmetic_is_ieee() -> None:
    assert ev(op("/", c("F"), lit(0.0)), F=1.0) == math.inf
    assert ev(op("/", c("F"), lit(0.0)), F=-1.0) == -math.inf
    assert math.isnan(ev(op("/", c("F"), lit(0.0)), F=0.0))
    assert ev(op("+", c("X"), c("F")), X=D("10.01"), F=5.1) == pytest.approx(15.11)
    assert ev(op("+", c("L"), lit(10)), L=25) == 35


def test_decimal_arithmetic_scales_and_rounds() -> None:
    add = ev(op("+", c("X"), c("Y")), X=D("10.01"), Y=D("5.10"))
    assert add == D("15.11") and add.as_tuple().exponent == -2
    div = ev(op("/", c("X"), c("Y")), X=D("10.10"), Y=D("3.00"))
    assert div == D("3.3666667")
    assert ev(op("%", c("X"), c("Y")), X=D("10.10"), Y=D("-2.00")) == D("0.10")
    assert ev(op("*", c("X"), c("Y")), X=D("10.10"), Y=D("-2.00")) == D("-20.2")
    assert ev(op("+", c("X"), c("I")), X=D("10.01"), I=5) == D("15.01")
    with pytest.raises(ArithmeticError):
        ev(op("/", c("X"), c("Y")), X=D("1.00"), Y=D("0.00"))


def test_string_plus_concatenates() -> None:
    e = op("+", op("+", lit("prefix-"), c("S")), lit("-postfix"))
    assert ev(e, S="x") == "prefix-x-postfix"
    assert ev(e) is None


# ---------------------------------------------------------------------------- NULL semantics


def test_comparisons_with_null_are_false_and_logic_is_three_valued() -> None:
    assert ev(op("=", c("X"), c("Y")), X=None, Y=D("1.00")) is False
    assert ev(op("<>", c("X"), c("Y")), X=None, Y=None) is False
    assert ev(op("AND", c("B"), lit(False))) is False
    assert ev(op("AND", c("B"), lit(True))) is None
    assert ev(op("OR", c("B"), lit(True))) is True
    assert ev(op("OR", c("B"), lit(False))) is None
    assert ev(A.UnaryOp("NOT", c("B"))) is None
    assert ev(A.UnaryOp("NOT", c("B")), B=False) is True
    assert ev(A.IsNull(c("S"))) is True
    assert ev(A.IsNull(c("S"), negated=True), S="a") is True
    assert ev(op("IS DISTINCT FROM", c("I"), c("J")), I=1, J=None) is True
    assert ev(op("IS NOT DISTINCT FROM", c("I"), c("J"))) is True
    assert ev(op("IS DISTINCT FROM", c("X"), c("F")), X=D("1.10"), F=1.1) is False


def test_where_keeps_only_true_rows() -> None:
    stage = compile_stage(op(">", c("I"), lit(1)), [c("I")], SCOPE, lambda e, r: None)
    assert stage([row(I=0), row(I=None), row(I=2), row(I=5)]) == [(2,), (5,)]


# ---------------------------------------------------------------------------- predicates


def test_comparisons_across_types() -> None:
    assert ev(op("<", c("X"), c("I")), X=D("10.01"), I=12) is True
    assert ev(op("=", c("F"), c("X")), F=1.1, X=D("1.10")) is True
    assert ev(op("<", c("S"), lit("foo")), S="Foo") is True
    assert ev(op("=", c("ARR"), A.ArrayConstructor((lit(1), lit(2)))), ARR=[1, 2]) is True
    struct = A.StructConstructor((("ID", lit(2)), ("NAME", lit("a"))))
    assert ev(op("<>", c("ST"), struct), ST={"ID": 2, "NAME": "a"}) is False
    assert ev(op("=", c("M"), A.MapConstructor(((lit("a"), lit(1)),))), M={"a": 1}) is True


def test_timestamp_text_is_read_as_a_timestamp() -> None:
    e = op(">", c("ROWTIME"), lit("2018-01-01T00:00:00.001"))
    assert ev(e, ROWTIME=1514764800002) is True
    assert ev(e, ROWTIME=1514764800001) is False
    assert ev(op(">=", c("ROWTIME"), lit("2018")), ROWTIME=1514764800000) is True
    tz = op(">", c("TS"), lit("2019-01-01T00:00:00+0445"))
    assert ev(tz, TS=1546283700001) is True and ev(tz, TS=1546283700000) is False
    between = A.Between(c("ROWTIME"), lit("2018-01-01T00:00:00.001"), lit("2018-01-01T00:00:01"))
    assert ev(between, ROWTIME=1514764801000) is True
    assert ev(between, ROWTIME=1514764800000) is False


def test_between_in_like() -> None:
    b = A.Between(c("I"), lit(2), lit(4))
    assert [ev(b, I=v) for v in (None, 1, 2, 4, 5)] == [False, False, True, True, False]
    assert ev(A.Between(c("F"), lit(2), lit(D("3.9"))), F=3.9) is True
    assert ev(A.Between(c("S"), lit("b"), lit("c")), S="ba") is True
    assert ev(A.Between(c("I"), lit(2), lit(4), negated=True), I=5) is True
    mixed = A.InList(c("I"), (lit(1), lit(2.0), lit(D("3.00")), lit("4.000"), lit(D("5.10"))))
    assert [ev(mixed, I=v) for v in (1, 2, 3, 4, 5, None)] == [True] * 4 + [False, False]
    strings = A.InList(c("S"), (lit(True), lit(10), lit("10.1"), lit(D("10.30"))))
    assert [ev(strings, S=v) for v in ("true", "10", "10.3", "10.30")] == [
        True,
        True,
        False,
        True,
    ]
    cols = A.InList(c("I"), (c("J"), op("*", c("J"), lit(2)), lit(None)))
    assert ev(cols, I=20, J=10) is True and ev(cols, I=21, J=10) is False
    assert ev(A.InList(c("I"), (lit(11),), negated=True), I=10) is True
    arrays = A.InList(c("ARR"), (A.ArrayConstructor((lit("3"), lit(None))),))
    assert ev(arrays, ARR=[3, None]) is True
    assert ev(A.Like(c("S"), lit("%not%"), negated=True), S="but not this") is False
    assert ev(A.Like(c("S"), lit("f_o")), S="foo") is True
    assert ev(A.Like(c("S"), lit("!%"), escape="!"), S="%") is True
    assert ev(A.Like(c("S"), lit("!%"), escape="!"), S="x") is False
    assert ev(A.Like(c("S"), lit("a.c")), S="abc") is False


def test_case_expressions() -> None:
    searched = A.Case(
        None,
        (
            A.WhenClause(op("<", c("F"), lit(2.0)), lit(None)),
            A.WhenClause(op("<", c("F"), lit(4.0)), lit("medium")),
        ),
        lit("large"),
    )
    assert [ev(searched, F=v) for v in (1.0, 3.0, 4.5, None)] == [None, "medium", "large", "large"]
    simple = A.Case(c("I"), (A.WhenClause(lit(1), c("L")), A.WhenClause(lit(2), lit(20))), None)
    assert infer_type(simple, SCOPE) == T.BIGINT
    assert [ev(simple, I=v, L=7) for v in (1, 2, 3, None)] == [7, 20, None, None]


# ---------------------------------------------------------------------------- casts


def test_casts_between_primitives() -> None:
    assert ev(cast(c("F"), T.INTEGER), F=1.2000000000000002) == 1
    assert ev(cast(c("F"), T.INTEGER), F=-3.9) == -3
    assert ev(cast(c("L"), T.INTEGER), L=2147483648) == -2147483648
    assert ev(cast(c("X"), T.INTEGER), X=D("10.99")) == 10
    assert ev(cast(c("X"), T.STRING), X=D("0.00")) == "0.00"
    assert ev(cast(c("I"), T.Decimal(2, 1)), I=1) == D("1.0")
    with pytest.raises(ArithmeticError):
        ev(cast(c("I"), T.Decimal(2, 1)), I=10)
    assert ev(cast(c("F"), T.Decimal(2, 1)), F=0.99) == D("1.0")
    assert ev(cast(c("S"), T.Decimal(2, 1)), S="0.10") == D("0.1")
    assert ev(cast(c("S"), T.INTEGER), S=" 42 ") == 42
    with pytest.raises(ValueError):
        ev(cast(c("S"), T.INTEGER), S="4_2")
    assert ev(cast(c("S"), T.DOUBLE), S="1e3") == 1000.0
    assert ev(cast(c("S"), T.BOOLEAN), S="TRUE") is True
    assert ev(cast(lit(None), T.INTEGER)) is None
    assert ev(cast(c("F"), T.STRING)) is None


def test_double_to_string_uses_java_form() -> None:
    e = cast(c("F"), T.STRING)
    assert [ev(e, F=v) for v in (1e10, 0.001, 1e-4, 10.3, 100.0, -0.0, 5e-324, 1e23)] == [
        "1.0E10",
        "0.001",
        "1.0E-4",
        "10.3",
        "100.0",
        "-0.0",
        "4.9E-324",  # Java's two digits nearest the exact value, not the shortest '5'
        "1.0E23",
    ]
    # Messages print expressions as ksqlDB does: Java doubles, INTEGER in CAST targets.
    printed = format_expr(cast(op("+", c("F"), lit(1e-5)), T.INTEGER))
    assert printed == "CAST((F + 1.0E-5) AS INTEGER)"


def test_temporal_casts() -> None:
    assert ev(cast(c("TS"), T.STRING), TS=10) == "1970-01-01T00:00:00.010"
    assert ev(cast(c("S"), T.TIMESTAMP), S="1970-01-01T00:00:01") == 1000
    assert ev(cast(c("TS"), T.TIME), TS=-2000) == 86398000
    assert ev(cast(c("TS"), T.DATE), TS=86400000 * 3 + 5) == 3
    assert ev(cast(cast(c("S"), T.TIME), T.STRING), S="00:00:05") == "00:00:05"
    assert ev(cast(cast(c("S"), T.DATE), T.STRING), S="1969-12-31") == "1969-12-31"
    with pytest.raises(ValueError):
        ev(cast(c("S"), T.DATE), S="foo")


def test_casts_of_collections() -> None:
    assert ev(cast(c("ARR"), T.STRING), ARR=[1, 3]) == "[1, 3]"
    assert ev(cast(c("M"), T.STRING), M={"this": 1}) == "{this=1}"
    assert ev(cast(c("ST"), T.STRING), ST={"ID": 1, "NAME": None}) == "Struct{ID=1}"
    nested = A.Cast(c("ARR"), A.TypeRef(T.Array(T.STRING)))
    assert ev(nested, ARR=[1, None]) == ["1", None]
    target = T.Struct((T.Field("ID", T.STRING), T.Field("OTHER", T.STRING)))
    assert ev(cast(c("ST"), target), ST={"ID": 1, "NAME": "x"}) == {"ID": "1", "OTHER": None}
    assert ev(cast(c("M"), T.Map(T.STRING, T.BIGINT)), M={"a": 1}) == {"a": 1}


# ---------------------------------------------------------------------------- collections


def test_struct_array_and_map_access() -> None:
    name = A.Dereference(c("ST"), "NAME")
    assert ev(name, ST={"ID": 1, "NAME": "x"}) == "x"
    assert ev(name) is None
    idx = A.Subscript(c("ARR"), lit(-1))
    assert ev(idx, ARR=[1, 2, 3]) == 3
    assert ev(A.Subscript(c("ARR"), lit(1)), ARR=[1, 2, 3]) == 1
    assert ev(A.Subscript(c("ARR"), lit(4)), ARR=[1, 2, 3]) is None
    assert ev(A.Subscript(c("ARR"), lit(0)), ARR=[1, 2, 3]) is None
    assert ev(idx) is None
    assert ev(A.Subscript(c("M"), lit("a")), M={"a": 10}) == 10
    assert ev(A.Subscript(c("M"), lit("b")), M={"a": 10}) is None


def test_constructors_coerce_to_a_common_type() -> None:
    arr = A.ArrayConstructor((lit(None), lit(10), lit("2e1"), c("I"), c("L")))
    # '2e1' reads as DECIMAL(2, 0), which the BIGINT then widens to DECIMAL(19, 0).
    assert infer_type(arr, SCOPE) == T.Array(T.Decimal(19, 0))
    assert ev(arr, I=30, L=40) == [None, 10, 20, 30, 40]
    # A leading string literal makes the list STRING; numbers then read as text.
    assert infer_type(A.ArrayConstructor((lit("a"), lit(1))), SCOPE) == T.Array(T.STRING)
    struct_list = A.InList(
        A.StructConstructor((("F0", c("L")),)), (A.StructConstructor((("F1", c("I")),)),)
    )
    assert ev(struct_list, L=1, I=2) is False
    m = A.MapConstructor(((c("S"), c("B")), (lit("k"), lit("true")), (lit(10), lit("no"))))
    assert infer_type(m, SCOPE) == T.Map(T.STRING, T.BOOLEAN)
    assert ev(m, S="a", B=True) == {"a": True, "k": True, "10": False}
    s = A.StructConstructor((("F1", c("S")), ("F2", A.StructConstructor((("C1", c("I")),)))))
    assert ev(s, S="foo", I=1) == {"F1": "foo", "F2": {"C1": 1}}
    with pytest.raises(PlanError, match='invalid input syntax for type INTEGER: "not a number"'):
        infer_type(A.ArrayConstructor((lit(1), lit("not a number"))), SCOPE)


# ---------------------------------------------------------------------------- functions


def _register_test_functions() -> None:
    if REGISTRY.scalar("TEST_PLUS_ONE") is not None:
        return
    scalar("TEST_PLUS_ONE", "test", Overload(["BIGINT"], "BIGINT", lambda x: x + 1))
    scalar(
        "TEST_NULLS",
        "test",
        Overload(["STRING"], "STRING", lambda x: "null!" if x is None else x, False),
    )
    scalar("TEST_FAIL", "test", Overload(["INT"], "INT", lambda x: 1 // x))
    scalar("TEST_UNIT", "test", Overload(["INTERVALUNIT", "INT"], "STRING", lambda u, n: f"{n}{u}"))


def test_function_calls_convert_args_and_propagate_nulls() -> None:
    _register_test_functions()
    e = A.FunctionCall("TEST_PLUS_ONE", (c("I"),))
    assert infer_type(e, SCOPE) == T.BIGINT
    assert ev(e, I=2**31 - 1) == 2**31
    assert ev(e) is None
    assert ev(A.FunctionCall("TEST_NULLS", (c("S"),))) == "null!"
    unit = A.FunctionCall("TEST_UNIT", (A.IntervalUnit("SECOND"), lit(5)))
    assert ev(unit) == "5SECOND"
    with pytest.raises(PlanError, match="Function 'test_plus_one' does not accept parameters"):
        infer_type(A.FunctionCall("test_plus_one", (c("S"),)), SCOPE)


def test_lambdas_shadow_columns_and_nest() -> None:
    # TRANSFORM(ARR, I => I * 2): the lambda's I shadows the column I.
    double = A.FunctionCall("TRANSFORM", (c("ARR"), A.Lambda(("I",), op("*", c("I"), lit(2)))))
    assert infer_type(double, SCOPE) == T.Array(T.INTEGER)
    assert ev(double, ARR=[1, 2, 3], I=100) == [2, 4, 6]
    # Arithmetic on a NULL element fails, as ksqlDB's unboxing does (the call yields NULL).
    with pytest.raises(TypeError):
        ev(double, ARR=[1, None])
    # REDUCE(FILTER(ARR, x => x > J), 0, (s, x) => s + x): lambdas read columns too.
    filtered = A.FunctionCall("FILTER", (c("ARR"), A.Lambda(("X",), op(">", c("X"), c("J")))))
    total = A.FunctionCall(
        "REDUCE", (filtered, lit(0), A.Lambda(("S", "X"), op("+", c("S"), c("X"))))
    )
    assert ev(total, ARR=[1, 5, 7], J=4) == 12
    by_key = A.FunctionCall(
        "TRANSFORM",
        (
            c("M"),
            A.Lambda(("K", "V"), op("+", c("K"), lit("!"))),
            A.Lambda(("K", "V"), op("+", c("V"), lit(1))),
        ),
    )
    assert ev(by_key, M={"a": 1}) == {"a!": 2}


# ---------------------------------------------------------------------------- stages


def test_slow_path_nulls_failing_expressions_and_logs_each_failure() -> None:
    _register_test_functions()
    errors: list[tuple[Exception, Any]] = []
    stage = compile_stage(
        op(">=", c("I"), lit(0)),
        [c("I"), A.FunctionCall("TEST_FAIL", (c("I"),)), op("/", c("J"), c("I"))],
        SCOPE,
        lambda e, r: errors.append((e, r)),
    )
    out = stage([row(I=1, J=4), row(I=0, J=4), row(I=-1, J=4), row(I=2, J=4)])
    assert out == [(1, 1, 4), (0, None, None), (2, 0, 2)]
    assert len(errors) == 2 and all(r[INDEX["I"]] == 0 for _, r in errors)
    assert "try" not in stage.source.split("for r in it:")[1].split("return out")[0]


def test_slow_path_nulls_only_the_failing_call() -> None:
    _register_test_functions()
    errors: list[Exception] = []
    fail = A.FunctionCall("TEST_FAIL", (c("I"),))
    double = A.FunctionCall("TRANSFORM", (c("ARR"), A.Lambda(("X",), op("*", c("X"), lit(2)))))
    projections = [
        A.ArrayConstructor((lit(44), fail)),
        A.StructConstructor((("A", lit("moo")), ("B", fail))),
        A.FunctionCall("COALESCE", (double, A.ArrayConstructor((lit(0),)))),
    ]
    stage = compile_stage(None, projections, SCOPE, lambda e, r: errors.append(e))
    out = stage([row(I=0, ARR=[1, None]), row(I=1, ARR=[1])])
    assert out == [([44, None], {"A": "moo", "B": None}, [0]), ([44, 1], {"A": "moo", "B": 1}, [2])]
    assert len(errors) == 3


def test_error_in_where_drops_the_row() -> None:
    errors: list[Exception] = []
    stage = compile_stage(
        op(">", op("/", c("J"), c("I")), lit(1)), [c("J")], SCOPE, lambda e, r: errors.append(e)
    )
    assert stage([row(I=0, J=5), row(I=1, J=5)]) == [(5,)]
    assert len(errors) == 1


def test_string_literals_are_data_not_code() -> None:
    evil = "__import__('os').system('echo pwned') or '"
    e = op("+", lit(evil), c("S"))
    fn = compile_expr(e, SCOPE)
    assert fn(row(S="x")) == evil + "x"
    assert "__import__" not in fn.source
    quoted = Scope([Column("x'); import os; ('", T.STRING, 0)])
    fn = compile_expr(A.ColumnRef("x'); import os; ('"), quoted)
    assert fn(("v",)) == "v" and "import" not in fn.source
    field = A.Dereference(c("ST"), "NAME")
    assert "NAME" not in compile_expr(field, SCOPE).source


def test_filter_and_projections_over_a_million_rows() -> None:
    # Correctness only: speed is measured by `python -m bench query`, never asserted in tests.
    where = op("AND", op(">", c("I"), lit(10)), op("<>", c("S"), lit("skip")))
    projections = [c("I"), op("+", c("I"), c("L")), op("*", c("F"), lit(2.0)), c("S")]
    stage = compile_stage(where, projections, SCOPE, lambda e, r: None)
    rows = [row(I=i, L=i, F=1.5, S="keep" if i % 2 else "skip") for i in range(1_000_000)]
    out = stage(rows)
    assert len(out) == 499_995 and out[0] == (11, 22, 3.0, "keep")
    assert out[-1] == (999_999, 1_999_998, 3.0, "keep")
