"""streamdb's SQL values (sqlengine.types) as Arrow and DuckDB hold them, and back.

Temporal values stay the integers streamdb computes with (TIMESTAMP: epoch millis, DATE:
days, TIME: millis of the day), so DuckDB compares, orders and aggregates them as ksqlDB
does and streamdb's functions read them unchanged. A MAP is an Arrow map (a list of
pairs), a STRUCT an Arrow struct; DuckDB hands both to Python as dicts.
"""

from __future__ import annotations

import decimal
from typing import Any

import pyarrow as pa

from sqlengine import types as T

B = T.Base
_PRIMITIVE_ARROW = {
    B.BOOLEAN: pa.bool_(),
    B.INTEGER: pa.int32(),
    B.BIGINT: pa.int64(),
    B.DOUBLE: pa.float64(),
    B.STRING: pa.string(),
    B.BYTES: pa.binary(),
    B.DATE: pa.int32(),
    B.TIME: pa.int32(),
    B.TIMESTAMP: pa.int64(),
}
_PRIMITIVE_DUCKDB = {
    B.BOOLEAN: "BOOLEAN",
    B.INTEGER: "INTEGER",
    B.BIGINT: "BIGINT",
    B.DOUBLE: "DOUBLE",
    B.STRING: "VARCHAR",
    B.BYTES: "BLOB",
    B.DATE: "INTEGER",
    B.TIME: "INTEGER",
    B.TIMESTAMP: "BIGINT",
}
_INT_BITS = {B.INTEGER: 32, B.BIGINT: 64}


def arrow_type(t: T.SqlType) -> pa.DataType:
    if isinstance(t, T.Decimal):
        return pa.decimal128(t.precision, t.scale)
    if isinstance(t, T.Array):
        return pa.list_(arrow_type(t.element))
    if isinstance(t, T.Map):
        return pa.map_(arrow_type(t.key), arrow_type(t.value))
    if isinstance(t, T.Struct):
        return pa.struct([(f.name, arrow_type(f.type)) for f in t.fields])
    return _PRIMITIVE_ARROW[t.base]


def duckdb_type(t: T.SqlType) -> str:
    """The DuckDB type name of the values `arrow_type` holds."""
    if isinstance(t, T.Decimal):
        return f"DECIMAL({t.precision}, {t.scale})"
    if isinstance(t, T.Array):
        return f"{duckdb_type(t.element)}[]"
    if isinstance(t, T.Map):
        return f"MAP({duckdb_type(t.key)}, {duckdb_type(t.value)})"
    if isinstance(t, T.Struct):
        fields = ", ".join(f"{quote(f.name)} {duckdb_type(f.type)}" for f in t.fields)
        return f"STRUCT({fields})"
    return _PRIMITIVE_DUCKDB[t.base]


def quote(name: str) -> str:
    """A DuckDB identifier: names are case-sensitive as ksqlDB's are."""
    return '"' + name.replace('"', '""') + '"'


def _has_map(t: T.SqlType) -> bool:
    if isinstance(t, T.Map):
        return True
    if isinstance(t, T.Array):
        return _has_map(t.element)
    if isinstance(t, T.Struct):
        return any(_has_map(f.type) for f in t.fields)
    return False


def _to_arrow_value(value: Any, t: T.SqlType) -> Any:
    """A value as pyarrow builds it: maps as lists of pairs (only types holding a map)."""
    if value is None:
        return None
    if isinstance(t, T.Map):
        return [(k, _to_arrow_value(v, t.value)) for k, v in value.items()]
    if isinstance(t, T.Array):
        return [_to_arrow_value(v, t.element) for v in value]
    if isinstance(t, T.Struct):
        return {f.name: _to_arrow_value(value.get(f.name), f.type) for f in t.fields}
    return value


def arrow_array(values: list[Any], t: T.SqlType) -> pa.Array:
    if _has_map(t):
        values = [_to_arrow_value(v, t) for v in values]
    return pa.array(values, type=arrow_type(t))


def from_duckdb(value: Any, t: T.SqlType) -> Any:
    """A value DuckDB returned, as streamdb holds a value of type `t`: DuckDB's wider
    results cast back (SUM of INT is INT, wrapping as Java's int does), a DECIMAL at its
    scale (half up), a STRUCT with every field in declared order."""
    if value is None:
        return None
    base = t.base
    if base in _INT_BITS:
        bits = _INT_BITS[base]
        number = int(value)
        return (number + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))
    if isinstance(t, T.Decimal):
        exponent = decimal.Decimal(1).scaleb(-t.scale)
        return decimal.Decimal(str(value)).quantize(exponent, rounding=decimal.ROUND_HALF_UP)
    if base is B.DOUBLE:
        return float(value)
    if base in (B.DATE, B.TIME, B.TIMESTAMP):
        return int(value)
    if base is B.BYTES:
        return bytes(value)
    if isinstance(t, T.Array):
        return [from_duckdb(v, t.element) for v in value]
    if isinstance(t, T.Map):
        if isinstance(value, dict) and set(value) == {"key", "value"}:
            value = dict(zip(value["key"], value["value"], strict=True))
        items = value.items() if isinstance(value, dict) else value
        return {from_duckdb(k, t.key): from_duckdb(v, t.value) for k, v in items}
    if isinstance(t, T.Struct):
        return {f.name: from_duckdb(value.get(f.name), f.type) for f in t.fields}
    return value
