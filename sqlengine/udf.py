"""User-defined functions in Python, loaded from an extension directory (`ksql.extension.dir`),
in the spirit of ksqlDB's `@UdfDescription`/`@Udf`, `@UdafFactory` and `@Udtf`:

    from decimal import Decimal
    from sqlengine.udf import udf, udaf, udtf

    @udf(description="Multiplies two numbers.", author="me", version="1.0")
    def multiply(a: int, b: int) -> int:          # MULTIPLY(BIGINT, BIGINT) -> BIGINT
        return a * b

    @udf(name="multiply")                          # another overload of MULTIPLY
    def multiply_doubles(a: float, b: float) -> float:
        return a * b

    @udf(params=["STRING", "STRING..."], returns="STRING")   # explicit SQL types, variadic
    def join_with(separator, *parts):
        return separator.join(parts)

    @udaf(description="Sum of squares.")
    class SumOfSquares:                            # SUMOFSQUARES(BIGINT) -> BIGINT
        def initialize(self) -> int: return 0
        def aggregate(self, total: int, value: int) -> int: return total + value * value
        def merge(self, a: int, b: int) -> int: return a + b
        def map(self, total: int) -> int: return total
        def undo(self, total: int, value: int) -> int:     # optional: allows table sources
            return total - value * value

    @udtf(description="One row per word.")
    def words(text: str) -> list[str]:             # WORDS(STRING) -> STRING, a row per item
        return text.split()

Annotations give the SQL types: int BIGINT, float DOUBLE, str STRING, bool BOOLEAN, bytes
BYTES, Decimal DECIMAL, list[X] ARRAY<X>, dict[str, X] MAP<STRING, X>; `*args: X` makes the
last parameter variadic. `params=` / `returns=` give SQL types (or the registry's patterns:
generic `T`, `ANY`, `STRUCT`, a callable of the argument types for the return) instead.
A NULL argument makes the result NULL without a call, unless a parameter is annotated
`X | None` (or `null_propagating=False`): then the function gets None. An exception raised by
a function sends the record to the processing log, and the query goes on.

A UDAF is a class: `aggregate(accumulator, column values...)` returns the new accumulator
(its parameters after the accumulator are the columns), `map`'s return type is the result; parameters of `__init__` are literal arguments that follow the
columns (like TOPK's k). The accumulator must be picklable: it is saved to a changelog.

`load_extensions(directory)` imports every `.py` file of the directory (in name order), once per
process; a file that fails to load is reported on stderr by name and skipped.
"""

from __future__ import annotations

import datetime
import decimal
import importlib.util
import inspect
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlengine import types as T
from sqlengine.aggregates.core import UDAFS, Aggregator, Call, Udaf, UdafOverload
from sqlengine.functions.registry import REGISTRY, FunctionOrigin, Overload, ScalarFunction
from sqlengine.table_functions.registry import UdtfOverload
from sqlengine.table_functions.registry import udtf as register_table_function

EXTENSION_DIR_CONFIG = "ksql.extension.dir"

TypeSpec = str | Callable[[list[Any]], T.SqlType]

_PYTHON_TYPES: dict[Any, str] = {
    int: "BIGINT",
    float: "DOUBLE",
    str: "STRING",
    bool: "BOOLEAN",
    bytes: "BYTES",
    decimal.Decimal: "DECIMAL",
    datetime.date: "DATE",
    datetime.time: "TIME",
    datetime.datetime: "TIMESTAMP",
}


class UdfDefinitionError(Exception):
    """A decorated function whose SQL types cannot be told (the message names it and the fix)."""


def sql_type_of(annotation: Any, where: str) -> str:
    """The SQL type pattern of a Python annotation (`list[int]` -> `ARRAY<BIGINT>`)."""
    inner, _ = _unwrap_optional(annotation)
    if inner in _PYTHON_TYPES:
        return _PYTHON_TYPES[inner]
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin is list and len(args) == 1:
        return f"ARRAY<{sql_type_of(args[0], where)}>"
    if origin is dict and len(args) == 2:
        return f"MAP<{sql_type_of(args[0], where)}, {sql_type_of(args[1], where)}>"
    raise UdfDefinitionError(
        f"{where}: no SQL type for the annotation {annotation!r}; annotate with int, float, "
        "str, bool, bytes, Decimal, list[...] or dict[..., ...], or give params=/returns="
    )


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without `| None`, whether it allowed None)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


@dataclass(frozen=True)
class _Signature:
    params: list[str]
    returns: TypeSpec
    accepts_null: bool


def _signature(
    fn: Callable[..., Any],
    params: Sequence[str] | None,
    returns: TypeSpec | None,
    skip: int = 0,
) -> _Signature:
    """The SQL signature of a Python function from its annotations, or the explicit types;
    `skip` leading parameters (self, an accumulator) are not SQL parameters."""
    where = getattr(fn, "__qualname__", repr(fn))
    hints = typing.get_type_hints(fn)
    parameters = list(inspect.signature(fn).parameters.values())
    parameters = parameters[skip:]
    accepts_null = any(_unwrap_optional(hints.get(p.name))[1] for p in parameters)
    if params is None:
        params = []
        for p in parameters:
            if p.name not in hints:
                raise UdfDefinitionError(f"{where}: parameter {p.name!r} has no annotation")
            variadic = "..." if p.kind is inspect.Parameter.VAR_POSITIONAL else ""
            params.append(sql_type_of(hints[p.name], where) + variadic)
    if returns is None:
        if "return" not in hints:
            raise UdfDefinitionError(f"{where}: no return annotation; annotate it or give returns=")
        returns = _return_type(hints["return"], list(params), where)
    return _Signature(list(params), returns, accepts_null)


def _return_type(annotation: Any, params: list[str], where: str) -> TypeSpec:
    shown = sql_type_of(annotation, where)
    if shown != "DECIMAL":
        return shown
    # DECIMAL alone is no type: the result has the precision of the first DECIMAL argument.
    if "DECIMAL" not in [p.removesuffix("...") for p in params]:
        raise UdfDefinitionError(
            f"{where}: a Decimal result needs its precision: give returns='DECIMAL(p, s)'"
        )
    index = [p.removesuffix("...") for p in params].index("DECIMAL")
    return lambda arg_types: _decimal_of(arg_types[index])


def _decimal_of(t: Any) -> T.SqlType:
    return t if isinstance(t, T.Decimal) else T.as_decimal(t)


def _record_origin(key: str, author: str, version: str, fn: Any) -> None:
    """Note where `key` came from; an overload that names no author or version keeps those
    an earlier overload gave."""
    module = sys.modules.get(getattr(fn, "__module__", ""), None)
    path = str(getattr(module, "__file__", None) or "internal")
    prior = REGISTRY.origins.get(key)
    if prior is not None:
        author, version = author or prior.author, version or prior.version
    REGISTRY.origins[key] = FunctionOrigin(author, version, path)


def udf(
    name: str | None = None,
    *,
    description: str = "",
    author: str = "",
    version: str = "",
    params: Sequence[str] | None = None,
    returns: TypeSpec | None = None,
    null_propagating: bool | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as one overload of the scalar function `name` (by
    default the function's name, upper-cased). A decorated class is instantiated once per
    call site in a query, its instances called per record: it may keep state (as a ksqlDB
    UDF class's fields do)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        per_query = isinstance(fn, type)
        sig = (
            _signature(fn.__call__, params, returns, skip=1)
            if per_query
            else _signature(fn, params, returns)
        )
        key = (name or fn.__name__).upper()
        propagating = not sig.accepts_null if null_propagating is None else null_propagating
        impl = _instantiating(fn) if per_query else fn
        overload = Overload(
            sig.params, sig.returns, impl, propagating, per_query, description=description
        )
        REGISTRY.add(ScalarFunction(key, description, [overload], "OTHER"))
        _record_origin(key, author, version, fn)
        return fn

    return register


def _instantiating(cls: type) -> Callable[..., Any]:
    """A factory overload's implementation: a new instance of the class per call site."""

    def instance(_arg_types: list[Any], _return_type: T.SqlType) -> Any:
        return cls()

    return instance


def udtf(
    name: str | None = None,
    *,
    description: str = "",
    author: str = "",
    version: str = "",
    params: Sequence[str] | None = None,
    returns: TypeSpec | None = None,
    null_propagating: bool | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as a table function: it returns the list of values of
    the rows one input row becomes (`-> list[X]` gives rows of type X)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        row_returns: TypeSpec | None = returns
        if returns is None:
            hint = typing.get_type_hints(fn).get("return")
            if typing.get_origin(hint) is not list:
                raise UdfDefinitionError(
                    f"{fn.__qualname__}: a table function returns list[X] (its rows' values)"
                    ", or give returns= (the rows' SQL type)"
                )
            row_returns = _return_type(typing.get_args(hint)[0], [], fn.__qualname__)
        sig = _signature(fn, params, row_returns)
        key = (name or fn.__name__).upper()
        propagating = not sig.accepts_null if null_propagating is None else null_propagating
        overload = UdtfOverload(sig.params, sig.returns, fn, propagating, description=description)
        _record_origin(key, author, version, fn)
        register_table_function(key, description, overload)
        return fn

    return register


def udaf(
    name: str | None = None,
    *,
    description: str = "",
    author: str = "",
    version: str = "",
    params: Sequence[str] | None = None,
    init_params: Sequence[str] | None = None,
    returns: TypeSpec | None = None,
) -> Callable[[type], type]:
    """Register the decorated class as an aggregate function (see the module's doc)."""

    def register(cls: type) -> type:
        for method in ("initialize", "aggregate", "map"):
            if not callable(getattr(cls, method, None)):
                raise UdfDefinitionError(f"{cls.__qualname__}: a UDAF class needs {method}()")
        columns = _signature(cls.aggregate, params, "ANY", skip=2).params
        result = returns or _signature(cls.map, [], None, skip=2).returns
        inits = list(init_params or [])
        if cls.__init__ is not object.__init__:
            inits = _signature(cls.__init__, init_params, "ANY", skip=1).params
        key = (name or cls.__name__).upper()
        overload = UdafOverload(columns, inits, result, _builder(cls), description)
        existing = UDAFS.get(key)
        if existing is None:
            UDAFS[key] = Udaf(key, description, [overload], tuple_args=True)
        else:
            existing.overloads.append(overload)
        _record_origin(key, author, version, cls)
        return cls

    return register


def _builder(cls: type) -> Callable[[Call], Aggregator]:
    """The engine's aggregator over one instance of a UDAF class per call site."""

    def build(call: Call) -> Aggregator:
        instance = cls(*call.init_args)
        undo = getattr(instance, "undo", None)
        merge = getattr(instance, "merge", None)
        return Aggregator(
            call.return_type,
            instance.initialize,
            lambda acc, values: instance.aggregate(acc, *values),
            None if undo is None else (lambda acc, values: undo(acc, *values)),
            merge,
            instance.map,
        )

    return build


_LOADED: set[Path] = set()


def load_extensions(directory: str | Path | None) -> list[str]:
    """Import every `.py` file of `directory`, registering the functions they declare; a file
    already loaded by this process is not loaded again. Returns the problems, each naming its
    file (also printed on stderr): the file is skipped, the others still load."""
    if not directory:
        return []
    folder = Path(directory)
    if not folder.is_dir():
        problem = f"{EXTENSION_DIR_CONFIG} {folder}: no such directory; skipped"
        print(f"streamdb: {problem}", file=sys.stderr)
        return [problem]
    problems = []
    for file in sorted(folder.glob("*.py")):
        resolved = file.resolve()
        if resolved in _LOADED:
            continue
        _LOADED.add(resolved)
        try:
            _import(resolved)
        except Exception as exc:  # any error in a user's file: report it, load the rest
            problem = f"{file}: {type(exc).__name__}: {exc}; skipped"
            print(f"streamdb: extension {problem}", file=sys.stderr)
            problems.append(problem)
    return problems


def _import(file: Path) -> None:
    module_name = f"streamdb_extension_{abs(hash(file)):x}_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ImportError("not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # for pickling and typing.get_type_hints
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
