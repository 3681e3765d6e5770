"""The table-function (UDTF) registry, alongside the scalar one.

A table function is resolved like a scalar function (the same overload patterns and implicit
conversions) but its implementation returns a list: the values of the rows one input row
becomes. A NULL argument gives no rows, unless the overload is not null-propagating.
SHOW FUNCTIONS and DESCRIBE FUNCTION list table functions with kind TABLE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlengine.functions.registry import REGISTRY, FunctionInfo, Overload, ScalarFunction


@dataclass
class UdtfOverload(Overload):
    """An overload whose parameters have names, shown in its signature as ksqlDB shows them
    (`explode(ARRAY<T> list)`)."""

    names: list[str] = field(default_factory=list)

    def signature(self) -> str:
        if not self.names:
            return super().signature()
        return ", ".join(f"{p} {n}" for p, n in zip(self.params, self.names, strict=True))


TABLE_FUNCTIONS: dict[str, ScalarFunction] = {}


def udtf(name: str, description: str, *overloads: Overload) -> None:
    """Register a table function (or more overloads of an existing one)."""
    key = name.upper()
    fn = TABLE_FUNCTIONS.get(key)
    if fn is None:
        fn = TABLE_FUNCTIONS[key] = ScalarFunction(key, description, [], "TABLE", "TABLE")
    fn.overloads.extend(overloads)
    REGISTRY.others[key] = FunctionInfo(
        key,
        "TABLE",
        fn.category,
        fn.description,
        [(ov.signature(), _shown(ov.returns), ov.description) for ov in fn.overloads],
    )


def _shown(returns: object) -> str:
    return returns if isinstance(returns, str) else ""


def table_function(name: str) -> ScalarFunction | None:
    return TABLE_FUNCTIONS.get(name.upper())


def is_table_function(name: str) -> bool:
    return name.upper() in TABLE_FUNCTIONS
