"""Aggregate function (UDAF) registry: overloads, resolution and the resolved `Aggregator`.

An aggregate overload states two parameter lists, as type patterns of the scalar registry
(`sqlengine.functions.registry`): the *column* parameters, whose values arrive per record,
and the trailing *init* parameters, which must be literals (TOPK's k, EARLIEST_BY_OFFSET's
n and ignoreNulls). Either list may end in a variadic pattern (`STRING...`). Resolution sees
all argument types, as ksqlDB does, so the chosen overload decides how many trailing
arguments are literals; `init_arg_count` tells the planner that split.

A builder turns a resolved call (`Call`) into an `Aggregator`: plain functions over a
picklable accumulator (lists, dicts, tuples, numbers, Decimal), because accumulators are
pickled to a changelog and restored after a restart.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlengine import types as T
from sqlengine.functions.registry import (
    FunctionInfo,
    Pattern,
    _Binder,
    _conversion,
    parse_pattern,
)


class AggregateError(Exception):
    """No overload accepts the arguments, a literal argument is out of range, or (raised by
    `add`) a value cannot be aggregated, e.g. a DECIMAL sum overflowing its precision."""


Step = Callable[[Any, Any], Any]


@dataclass
class Aggregator:
    """One resolved aggregate call, built once per query."""

    return_type: T.SqlType
    init: Callable[[], Any]
    add: Step  # (acc, arg) -> acc; arg: the column value, or a tuple of them (several columns)
    undo: Step | None  # removes a value (table aggregation); None: stream sources only
    merge: Callable[[Any, Any], Any] | None  # (acc1, acc2) -> acc, for session windows
    result: Callable[[Any], Any]
    # ksqlDB's intermediate (aggregate state) schema; a format that cannot hold it (DELIMITED
    # and a STRUCT/ARRAY/MAP) rejects the query. None: the same as the return type.
    intermediate_type: T.SqlType | None = None
    # What a vectorized GROUP BY may compute per group for `merge` (sqlengine.columnar.
    # aggregation): count, count_values, sum, avg, min, max; None: add row by row.
    vector: str | None = None


@dataclass(frozen=True)
class Call:
    """What a builder gets: the resolved call site."""

    arg_types: list[T.SqlType]  # column argument types, after implicit conversion
    return_type: T.SqlType
    init_args: list[Any]
    config: Mapping[str, Any]


Builder = Callable[[Call], Aggregator]
ReturnSpec = str | Callable[[list[T.SqlType]], T.SqlType]


def _split_variadic(texts: Sequence[str]) -> tuple[list[Pattern], bool]:
    items = list(texts)
    variadic = bool(items) and items[-1].endswith("...")
    if variadic:
        items[-1] = items[-1][:-3]
    return [parse_pattern(p) for p in items], variadic


@dataclass
class UdafOverload:
    columns: list[str]
    init: list[str]
    returns: ReturnSpec  # a pattern, or a function of the column argument types
    build: Builder
    description: str = ""
    column_patterns: list[Pattern] = field(init=False, default_factory=list)
    init_patterns: list[Pattern] = field(init=False, default_factory=list)
    columns_variadic: bool = field(init=False, default=False)
    init_variadic: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.column_patterns, self.columns_variadic = _split_variadic(self.columns)
        self.init_patterns, self.init_variadic = _split_variadic(self.init)
        if self.columns_variadic and self.init_variadic:
            raise ValueError("an aggregate overload has at most one variadic parameter list")

    def signature(self) -> str:
        return ", ".join(self.columns + self.init)

    def split(self, n: int) -> int | None:
        """How many of `n` arguments are column arguments under this overload (None: arity
        mismatch)."""
        cols, inits = len(self.column_patterns), len(self.init_patterns)
        if self.init_variadic:
            return cols if n >= cols + inits - 1 else None
        if self.columns_variadic:
            return n - inits if n - inits >= cols - 1 else None
        return cols if n == cols + inits else None


@dataclass
class Udaf:
    name: str
    description: str
    overloads: list[UdafOverload]
    # Resolved single-column calls get the bare value; these UDAFs always take a tuple.
    tuple_args: bool = False

    def info(self) -> FunctionInfo:
        sigs = [
            (ov.signature(), ov.returns if isinstance(ov.returns, str) else "", ov.description)
            for ov in self.overloads
        ]
        return FunctionInfo(self.name, "AGGREGATE", "AGGREGATE", self.description, sigs)


UDAFS: dict[str, Udaf] = {}


def udaf(name: str, description: str, *overloads: UdafOverload, tuple_args: bool = False) -> None:
    """Register an aggregate function."""
    UDAFS[name.upper()] = Udaf(name.upper(), description, list(overloads), tuple_args)


# ---------------------------------------------------------------------------- resolution


def literal_type(value: Any) -> T.SqlType | None:
    """The SQL type of a literal argument's Python value (None for a NULL literal)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return T.BOOLEAN
    if isinstance(value, int):
        return T.INTEGER if -(2**31) <= value < 2**31 else T.BIGINT
    if isinstance(value, float):
        return T.DOUBLE
    if isinstance(value, decimal.Decimal):
        sign, digits, exponent = value.as_tuple()
        scale = max(0, -int(exponent))
        return T.Decimal(max(len(digits), scale, 1), scale)
    if isinstance(value, bytes):
        return T.BYTES
    return T.STRING


def _show(t: T.SqlType | None) -> str:
    return "null" if t is None else T.long_name(t)


@dataclass
class _Match:
    overload: UdafOverload
    binder: _Binder
    columns: int


def _match(fn: Udaf, all_types: list[T.SqlType | None]) -> _Match:
    best: tuple[int, int, _Match] | None = None
    for order, ov in enumerate(fn.overloads):
        ncols = ov.split(len(all_types))
        if ncols is None:
            continue
        binder = _Binder()
        col_pats = [ov.column_patterns[min(i, len(ov.column_patterns) - 1)] for i in range(ncols)]
        init_pats = [
            ov.init_patterns[min(i, len(ov.init_patterns) - 1)]
            for i in range(len(all_types) - ncols)
        ]
        if all(binder.match(p, t) for p, t in zip(col_pats + init_pats, all_types, strict=True)):
            if best is None or (binder.cost, order) < best[:2]:
                best = (binder.cost, order, _Match(ov, binder, ncols))
    if best is None:
        shown = ", ".join(_show(t) for t in all_types)
        alternatives = "\n".join(f"{fn.name}({ov.signature()})" for ov in fn.overloads)
        raise AggregateError(
            f"Function '{fn.name}' does not accept parameters ({shown}).\n"
            f"Valid alternatives are:\n{alternatives}"
        )
    return best[2]


def lookup(name: str) -> Udaf:
    fn = UDAFS.get(name.upper())
    if fn is None:
        raise AggregateError(f"Can't find any functions with the name '{name.upper()}'")
    return fn


def init_arg_count(name: str, all_arg_types: list[T.SqlType | None]) -> int:
    """How many trailing arguments of a call must be literals (init arguments)."""
    m = _match(lookup(name), all_arg_types)
    return len(all_arg_types) - m.columns


def _converter(target: T.SqlType) -> Callable[[Any], Any]:
    if target.base is T.Base.DOUBLE:
        return float
    if target.base is T.Base.DECIMAL:
        return decimal.Decimal
    return lambda v: v


def _converting(step: Step, converts: list[Callable[[Any], Any] | None]) -> Step:
    """`step` fed values converted to the overload's parameter types (INT -> DOUBLE ...)."""
    if len(converts) == 1:
        convert = converts[0]
        assert convert is not None
        return lambda acc, v: step(acc, None if v is None else convert(v))

    def run(acc: Any, values: Sequence[Any]) -> Any:
        pairs = zip(converts, values, strict=True)
        return step(acc, tuple(v if c is None or v is None else c(v) for c, v in pairs))

    return run


def _boxing(step: Step) -> Step:
    return lambda acc, v: step(acc, (v,))


def resolve(
    name: str,
    arg_types: list[T.SqlType],
    init_args: list[Any],
    config: Mapping[str, Any] | None = None,
) -> Aggregator:
    fn = lookup(name)
    all_types: list[T.SqlType | None] = [*arg_types, *(literal_type(v) for v in init_args)]
    m = _match(fn, all_types)
    if m.columns != len(arg_types):
        first_init = m.columns + 1
        raise AggregateError(
            f"Parameter {first_init} passed to function {fn.name} must be a literal constant"
            if m.columns < len(arg_types)
            else f"Function '{fn.name}' does not accept parameters "
            f"({', '.join(_show(t) for t in all_types)})."
        )
    ov = m.overload
    pats = [ov.column_patterns[min(i, len(ov.column_patterns) - 1)] for i in range(m.columns)]
    targets = [_conversion(p, m.binder, t) for p, t in zip(pats, arg_types, strict=True)]
    converted = [t if c is None else c for t, c in zip(arg_types, targets, strict=True)]
    if isinstance(ov.returns, str):
        ret = m.binder.substitute(parse_pattern(ov.returns))
        if ret is None:
            raise AggregateError(f"Function '{fn.name}' cannot infer its return type here")
    else:
        ret = ov.returns(converted)
    agg = ov.build(Call(converted, ret, list(init_args), config or {}))
    converts = [None if c is None else _converter(c) for c in targets]
    if any(c is not None for c in converts):
        agg.add = _converting(agg.add, converts)
        agg.undo = _converting(agg.undo, converts) if agg.undo is not None else None
    if fn.tuple_args and len(arg_types) == 1:
        agg.add = _boxing(agg.add)
        agg.undo = _boxing(agg.undo) if agg.undo is not None else None
    return agg


# ---------------------------------------------------------------------------- helpers


def identity(acc: Any) -> Any:
    """The result of accumulators that already are the SQL value."""
    return acc


# Java arithmetic, which ksqlDB's UDAFs inherit.


def wrap32(x: int) -> int:
    """Two's-complement wrap to a Java int (INT columns overflow as ksqlDB's do)."""
    if -2147483648 <= x <= 2147483647:
        return x  # the common case, per record: one comparison, no arithmetic
    return (x + 2**31) % 2**32 - 2**31


def wrap64(x: int) -> int:
    """Two's-complement wrap to a Java long."""
    if -9223372036854775808 <= x <= 9223372036854775807:
        return x
    return (x + 2**63) % 2**64 - 2**63


def java_div(a: int, b: int) -> int:
    """Java integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def wrapper_for(t: T.SqlType) -> Callable[[Any], Any]:
    """Java overflow behaviour of a numeric type's arithmetic (identity for DOUBLE)."""
    if t.base is T.Base.INTEGER:
        return wrap32
    if t.base is T.Base.BIGINT:
        return wrap64
    return lambda x: x


def limit_config(config: Mapping[str, Any], key: str) -> int | None:
    """A size limit from config (int or numeric string); None or negative: unlimited."""
    raw = config.get(key)
    if raw is None:
        return None
    limit = int(raw)
    return None if limit < 0 else limit
