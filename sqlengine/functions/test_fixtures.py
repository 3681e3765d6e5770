"""The test-only scalar functions ksqlDB's functional-test runner registers (not part of the
product), with behaviour inferred from the query-validation cases that use them:
BAD_UDF(b) is 0, and fails when b is TRUE. Import this module to register them."""

from __future__ import annotations

from sqlengine.functions.registry import udf


@udf("BAD_UDF", ["BOOLEAN"], "INT", description="Test UDF: 0, or fails when given TRUE.")
def bad_udf(should_throw: bool) -> int:
    if should_throw:
        raise RuntimeError("boom!")
    return 0
