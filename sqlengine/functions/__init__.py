"""The scalar function library. Importing this package registers every function."""

from sqlengine.functions import (  # noqa: F401  (imported to register their functions)
    arrays,
    bytes_funcs,
    conditional,
    datetime_funcs,
    json_funcs,
    lambdas,
    maps,
    math_funcs,
    regex,
    strings,
    urls,
)
