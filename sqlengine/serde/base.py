"""Shared pieces of the serde package: the error type, format descriptors, ksqlDB's spellings."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlengine.types import Array, Base, Decimal, Map, SqlType, Struct

JSON = "JSON"
DELIMITED = "DELIMITED"
KAFKA = "KAFKA"
NONE = "NONE"
AVRO = "AVRO"
PROTOBUF = "PROTOBUF"
PROTOBUF_NOSR = "PROTOBUF_NOSR"
JSON_SR = "JSON_SR"
# Formats whose records carry a Schema Registry schema id, and those with a schema at all.
SR_FORMATS = (AVRO, PROTOBUF, JSON_SR)
SCHEMA_FORMATS = (*SR_FORMATS, PROTOBUF_NOSR)
FORMAT_NAMES = (JSON, DELIMITED, KAFKA, NONE, *SCHEMA_FORMATS)


class SerdeError(Exception):
    """Bytes that cannot be read, a value that cannot be converted, or an unsupported schema.

    The message is worded as ksqlDB words the same failure.
    """


@dataclass(frozen=True)
class FormatInfo:
    """A format name (any case) and its properties, e.g. ("DELIMITED", {"delimiter": "|"})."""

    name: str
    properties: dict[str, str] = field(default_factory=dict)


def java_type_name(t: SqlType) -> str:
    """A type as ksqlDB's Java SqlType prints it in error messages (INTEGER, STRUCT<`F` INT>)."""
    if isinstance(t, Decimal):
        return f"DECIMAL({t.precision}, {t.scale})"
    if isinstance(t, Array):
        return f"ARRAY<{java_type_name(t.element)}>"
    if isinstance(t, Map):
        return f"MAP<{java_type_name(t.key)}, {java_type_name(t.value)}>"
    if isinstance(t, Struct):
        inner = ", ".join(f"`{f.name}` {java_type_name(f.type)}" for f in t.fields)
        return f"STRUCT<{inner}>"
    return t.base.value


def java_column_list(columns: list[tuple[str, SqlType]], *, is_key: bool) -> str:
    """Columns as ksqlDB lists them in messages: [`K` STRING KEY, `V` INTEGER]."""
    suffix = " KEY" if is_key else ""
    return "[" + ", ".join(f"`{n}` {java_type_name(t)}{suffix}" for n, t in columns) + "]"


def contains_base(t: SqlType, base: Base) -> bool:
    """Whether `t` is, or nests, a type of the given base."""
    if t.base is base:
        return True
    if isinstance(t, Array):
        return contains_base(t.element, base)
    if isinstance(t, Map):
        return contains_base(t.key, base) or contains_base(t.value, base)
    if isinstance(t, Struct):
        return any(contains_base(f.type, base) for f in t.fields)
    return False
