"""Table functions (UDTFs). Importing this package registers ksqlDB's built-in ones; the
test-only UDTFs of ksqlDB's test suite are an extension directory of the conformance runner
(sqlengine/testing/extensions), loaded like a user's functions (sqlengine.udf)."""

from sqlengine.table_functions import builtins  # noqa: F401  (imported to register them)
from sqlengine.table_functions.registry import (
    TABLE_FUNCTIONS,
    UdtfOverload,
    is_table_function,
    table_function,
    udtf,
)

__all__ = ["TABLE_FUNCTIONS", "UdtfOverload", "is_table_function", "table_function", "udtf"]
