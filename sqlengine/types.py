"""SQL types of streamdb's dialect (ksqlDB's type system) and their Python value forms.

Runtime value representation (what compiled expressions, functions and serdes exchange):

| SQL type        | Python value                                   |
|-----------------|------------------------------------------------|
| BOOLEAN         | bool                                           |
| INT, BIGINT     | int (INT wraps at 32 bits, BIGINT at 64 bits)  |
| DOUBLE          | float                                          |
| DECIMAL(p, s)   | decimal.Decimal quantized to scale s           |
| STRING          | str                                            |
| BYTES           | bytes                                          |
| DATE            | int: days since 1970-01-01                     |
| TIME            | int: milliseconds since midnight               |
| TIMESTAMP       | int: milliseconds since the epoch (UTC)        |
| ARRAY<T>        | list                                           |
| MAP<K, V>       | dict                                           |
| STRUCT<...>     | dict keyed by field name, in declared order    |

SQL NULL is None everywhere. Types are immutable and hashable so they can key caches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sqlengine.keywords import RESERVED_WORDS


class Base(Enum):
    BOOLEAN = "BOOLEAN"
    INTEGER = "INTEGER"
    BIGINT = "BIGINT"
    DOUBLE = "DOUBLE"
    DECIMAL = "DECIMAL"
    STRING = "STRING"
    BYTES = "BYTES"
    DATE = "DATE"
    TIME = "TIME"
    TIMESTAMP = "TIMESTAMP"
    ARRAY = "ARRAY"
    MAP = "MAP"
    STRUCT = "STRUCT"


class SqlType:
    """A SQL type. Compare with ==; print with str() in ksqlDB's spelling."""

    base: Base

    @property
    def is_numeric(self) -> bool:
        return self.base in NUMERIC_BASES

    @property
    def is_primitive(self) -> bool:
        return self.base not in (Base.ARRAY, Base.MAP, Base.STRUCT)


@dataclass(frozen=True)
class Primitive(SqlType):
    base: Base

    def __str__(self) -> str:
        return "INT" if self.base is Base.INTEGER else self.base.value


@dataclass(frozen=True)
class Decimal(SqlType):
    precision: int
    scale: int
    base: Base = Base.DECIMAL

    def __str__(self) -> str:
        return f"DECIMAL({self.precision}, {self.scale})"


@dataclass(frozen=True)
class Array(SqlType):
    element: SqlType
    base: Base = Base.ARRAY

    def __str__(self) -> str:
        return f"ARRAY<{self.element}>"


@dataclass(frozen=True)
class Map(SqlType):
    key: SqlType
    value: SqlType
    base: Base = Base.MAP

    def __str__(self) -> str:
        return f"MAP<{self.key}, {self.value}>"


@dataclass(frozen=True)
class Field:
    name: str
    type: SqlType


@dataclass(frozen=True)
class Struct(SqlType):
    fields: tuple[Field, ...]
    base: Base = Base.STRUCT

    def __str__(self) -> str:
        inner = ", ".join(f"{quote_identifier(f.name)} {f.type}" for f in self.fields)
        return f"STRUCT<{inner}>"

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


@dataclass(frozen=True)
class CustomType(SqlType):
    """A custom type (CREATE TYPE) named inside a type as written (a STRUCT field's, an ARRAY's
    element...), until `resolve_custom` puts the catalog's type in its place."""

    name: str

    def __str__(self) -> str:
        return self.name

    @property
    def base(self) -> Base:  # type: ignore[override]
        raise TypeError(f"custom type {self.name} used before it was resolved")


def resolve_custom(t: SqlType, lookup: Callable[[str], SqlType]) -> SqlType:
    """`t` with every custom type it names replaced by `lookup(name)`."""
    if isinstance(t, CustomType):
        return lookup(t.name)
    if isinstance(t, Array):
        return Array(resolve_custom(t.element, lookup))
    if isinstance(t, Map):
        return Map(resolve_custom(t.key, lookup), resolve_custom(t.value, lookup))
    if isinstance(t, Struct):
        return Struct(tuple(Field(f.name, resolve_custom(f.type, lookup)) for f in t.fields))
    return t


BOOLEAN = Primitive(Base.BOOLEAN)
INTEGER = Primitive(Base.INTEGER)
BIGINT = Primitive(Base.BIGINT)
DOUBLE = Primitive(Base.DOUBLE)
STRING = Primitive(Base.STRING)
BYTES = Primitive(Base.BYTES)
DATE = Primitive(Base.DATE)
TIME = Primitive(Base.TIME)
TIMESTAMP = Primitive(Base.TIMESTAMP)

NUMERIC_BASES = frozenset({Base.INTEGER, Base.BIGINT, Base.DECIMAL, Base.DOUBLE})

# ksqlDB's names for primitive types, including aliases accepted by the parser.
PRIMITIVE_NAMES: dict[str, SqlType] = {
    "BOOLEAN": BOOLEAN,
    "INT": INTEGER,
    "INTEGER": INTEGER,
    "BIGINT": BIGINT,
    "DOUBLE": DOUBLE,
    "STRING": STRING,
    "VARCHAR": STRING,
    "BYTES": BYTES,
    "DATE": DATE,
    "TIME": TIME,
    "TIMESTAMP": TIMESTAMP,
}

# Precision of the implicit decimal forms of the integer types (ksqlDB's DecimalUtil).
INT_AS_DECIMAL = Decimal(10, 0)
BIGINT_AS_DECIMAL = Decimal(19, 0)

# Backquoted in printed schemas: the grammar's reserved words (or the schema would not parse
# back), and the words ksqlDB's printer quotes besides.
_RESERVED_IN_SCHEMA = RESERVED_WORDS | frozenset(
    {"NAME", "VALUE", "KEY", "TYPE", "DATE", "TIME", "TIMESTAMP", "SOURCE", "FORMAT"}
)


def quote_identifier(name: str, reserved: frozenset[str] = _RESERVED_IN_SCHEMA) -> str:
    """Backquote a column or field name when ksqlDB's printer would: when it is not a plain
    upper-case name or is one of the `reserved` words."""
    plain = name.isupper() and name.replace("_", "A").isalnum() and not name[0].isdigit()
    if plain and name not in reserved:
        return name
    return "`" + name.replace("`", "``") + "`"


def long_name(t: SqlType) -> str:
    """The type as ksqlDB names it in messages: INTEGER rather than INT."""
    return re.sub(r"\bINT\b", "INTEGER", str(t))


def widen_numeric(left: SqlType, right: SqlType) -> SqlType | None:
    """The common type of two numeric types under ksqlDB's implicit widening, or None."""
    if not (left.is_numeric and right.is_numeric):
        return None
    if left.base is Base.DOUBLE or right.base is Base.DOUBLE:
        return DOUBLE
    if left.base is Base.DECIMAL or right.base is Base.DECIMAL:
        a, b = as_decimal(left), as_decimal(right)
        scale = max(a.scale, b.scale)
        integral = max(a.precision - a.scale, b.precision - b.scale)
        return Decimal(integral + scale, scale)
    if left.base is Base.BIGINT or right.base is Base.BIGINT:
        return BIGINT
    return INTEGER


def as_decimal(t: SqlType) -> Decimal:
    if isinstance(t, Decimal):
        return t
    if t.base is Base.INTEGER:
        return INT_AS_DECIMAL
    if t.base is Base.BIGINT:
        return BIGINT_AS_DECIMAL
    raise TypeError(f"{t} has no decimal form")


def common_type(types: list[SqlType]) -> SqlType | None:
    """The type every one of `types` converts to implicitly (for CASE, IN, ARRAY[...], ...).

    None entries (untyped NULL literals) are ignored by callers before calling this.
    """
    result: SqlType | None = None
    for t in types:
        if result is None or result == t:
            result = t
            continue
        widened = widen_numeric(result, t)
        if widened is None:
            return None
        result = widened
    return result


_WIDER = {Base.INTEGER: 0, Base.BIGINT: 1, Base.DECIMAL: 2, Base.DOUBLE: 3}


def implicitly_castable(source: SqlType, target: SqlType) -> bool:
    """Whether ksqlDB converts a `source` value to `target` without an explicit CAST (when
    writing a query's result into an existing stream): numbers to wider numbers, a DECIMAL to
    one that holds as many integral and fractional digits."""
    if source == target:
        return True
    if source.base not in _WIDER or target.base not in _WIDER:
        return False
    if isinstance(source, Decimal) and isinstance(target, Decimal):
        return (
            target.scale >= source.scale
            and target.precision - target.scale >= source.precision - source.scale
        )
    return _WIDER[target.base] > _WIDER[source.base]
