"""The test-only table functions ksqlDB's functional-test runner registers (not part of the
product), with behaviour inferred from the query-validation cases that use them:

- TEST_UDTF(x) gives one row holding x, for each of INT, BIGINT, DOUBLE, BOOLEAN, STRING,
  DECIMAL (as DECIMAL(30, 10)) and STRUCT; given seven arguments of those types in that
  order (or seven maps with STRING keys and values of those types) it gives one STRING row
  per argument (per map value): the value as Java prints it.
- THROWING_UDTF(b) gives one row holding b, and fails when b is TRUE.

Import this module to register them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlengine import types as T
from sqlengine.codegen_ops import java_str, struct_str
from sqlengine.table_functions.registry import UdtfOverload, udtf

_SINGLE = ["INT", "BIGINT", "DOUBLE", "BOOLEAN", "STRING"]


def _one(value: Any) -> list[Any]:
    return [value]


def _text(value: Any, t: T.SqlType) -> str:
    return struct_str(value) if isinstance(t, T.Struct) else java_str(value)


def _texts(types: list[Any], _returns: T.SqlType) -> Callable[..., list[str]]:
    def impl(*args: Any) -> list[str]:
        return [_text(v, t) for v, t in zip(args, types, strict=True)]

    return impl


def _map_texts(types: list[Any], _returns: T.SqlType) -> Callable[..., list[str]]:
    def impl(*maps: dict[str, Any]) -> list[str]:
        return [_text(v, t.value) for m, t in zip(maps, types, strict=True) for v in m.values()]

    return impl


def _same_type(types: list[Any]) -> T.SqlType:
    return types[0]


_ALL = [*_SINGLE, "DECIMAL", "STRUCT"]
udtf(
    "TEST_UDTF",
    "Test UDTF: one row per argument.",
    *[UdtfOverload([t], t, _one) for t in _SINGLE],
    UdtfOverload(["DECIMAL"], "DECIMAL(30, 10)", _one),
    UdtfOverload(["STRUCT"], _same_type, _one),
    UdtfOverload(_ALL, "STRING", _texts, factory=True),
    UdtfOverload([f"MAP<STRING, {t}>" for t in _ALL], "STRING", _map_texts, factory=True),
)


def _throwing(flag: bool) -> list[bool]:
    if flag:
        raise RuntimeError("You asked me to throw...")
    return [flag]


udtf(
    "THROWING_UDTF",
    "Test UDTF: one row holding its argument; fails when it is TRUE.",
    UdtfOverload(["BOOLEAN"], "BOOLEAN", _throwing),
)
