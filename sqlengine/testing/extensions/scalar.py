"""ksqlDB's test-only scalar functions (its test sources' TestUdf, BadUdf, WhenCondition,
WhenResult and ToStruct), loaded by the conformance runners as an extension directory
(`ksql.extension.dir`), never by the product."""

from __future__ import annotations

from typing import Any

from sqlengine.udf import udf

_STRUCT_A = "STRUCT<A STRING>"


# Before the variadic overload, which also accepts no argument: the exact one wins a tie.
@udf("TEST_UDF", description="test", params=[], returns=_STRUCT_A)
def return_struct() -> dict[str, Any]:
    return {"A": "foo"}


@udf("TEST_UDF", description="test", params=["INT", "STRING"], returns="STRING")
def do_stuff_int_string(number: int, text: str) -> str:
    return "doStuffIntString"


@udf("TEST_UDF", description="test", params=["BIGINT", "STRING"], returns="STRING")
def do_stuff_long_string(number: int, text: str) -> str:
    return "doStuffLongString"


@udf("TEST_UDF", description="test", params=["BIGINT..."], returns="STRING")
def do_stuff_long_varargs(*numbers: int) -> str:
    return "doStuffLongVarargs"


@udf("TEST_UDF", description="test", params=[_STRUCT_A], returns="STRING")
def do_stuff_struct(value: dict[str, Any]) -> str:
    return value["A"]


@udf("BAD_UDF", description="throws", params=["INT"], returns="INT")
def blow_up(number: int) -> int:
    raise RuntimeError("boom!")


@udf("BAD_UDF", description="NULL every other call", params=["STRING"], returns="STRING")
class EveryOtherNull:
    """NULL on the first call of a query and every other call after it, else the argument."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> str | None:
        self.calls += 1
        return text if self.calls % 2 == 0 else None


@udf("BAD_UDF", description="0, or throws when given TRUE", params=["BOOLEAN"], returns="INT")
def might_throw(should_throw: bool) -> int:
    if should_throw:
        raise RuntimeError("boom!")
    return 0


@udf("WHENCONDITION", description="Its first argument; fails unless the second is TRUE.")
def when_condition(value: bool, should_be_evaluated: bool) -> bool:
    if not should_be_evaluated:
        raise RuntimeError("Should not be evaluated")
    return value


@udf(
    "WHENRESULT",
    description="Its first argument; fails unless the second is TRUE.",
    params=["INT", "BOOLEAN"],
    returns="INT",
)
def when_result(value: int, should_be_evaluated: bool) -> int:
    if not should_be_evaluated:
        raise RuntimeError("Should not be evaluated")
    return value


@udf("TOSTRUCT", description="A struct holding the string as field A.", returns=_STRUCT_A)
def to_struct(text: str) -> dict[str, Any]:
    return {"A": text}
