"""ksqlDB's test-only table functions (its test sources' TestUdtf and ThrowingUdtf), loaded by
the conformance runners as an extension directory, never by the product.

TEST_UDTF(x) gives one row holding x, for each of INT, BIGINT, DOUBLE, BOOLEAN, STRING,
DECIMAL (as DECIMAL(30, 10)) and STRUCT; given seven arguments of those types in that order
(or seven maps with STRING keys and values of those types) it gives one STRING row per argument
(per map value): the value as Java prints it.
"""

from __future__ import annotations

from typing import Any

from sqlengine.codegen_ops import java_str, struct_str
from sqlengine.udf import udtf

_SINGLE = ["INT", "BIGINT", "DOUBLE", "BOOLEAN", "STRING"]
_ALL = [*_SINGLE, "DECIMAL", "STRUCT"]


def _one(value: Any) -> list[Any]:
    return [value]


def _java_text(value: Any) -> str:
    return struct_str(value) if isinstance(value, dict) else java_str(value)


def _texts(*values: Any) -> list[str]:
    return [_java_text(v) for v in values]


def _map_texts(*maps: dict[str, Any]) -> list[str]:
    return [_java_text(v) for m in maps for v in m.values()]


for _type in _SINGLE:
    udtf(
        "TEST_UDTF", description="Test UDTF: one row per argument.", params=[_type], returns=_type
    )(_one)
udtf("TEST_UDTF", params=["DECIMAL"], returns="DECIMAL(30, 10)")(_one)
udtf("TEST_UDTF", params=["STRUCT"], returns=lambda types: types[0])(_one)
udtf("TEST_UDTF", params=_ALL, returns="STRING")(_texts)
udtf("TEST_UDTF", params=[f"MAP<STRING, {t}>" for t in _ALL], returns="STRING")(_map_texts)


@udtf("THROWING_UDTF", description="One row holding its argument; fails when it is TRUE.")
def throwing(flag: bool) -> list[bool]:
    if flag:
        raise RuntimeError("You asked me to throw...")
    return [flag]
