"""Key and value formats, as ksqlDB serializes them: JSON, DELIMITED, KAFKA, NONE, and the
schema formats AVRO, PROTOBUF, JSON_SR (Schema Registry) and PROTOBUF_NOSR.

A serializer takes a row (values in column order, value forms of sqlengine/types.py) and
returns the record's bytes; a deserializer does the reverse. A null record (None bytes) reads
as None (a tombstone, or a null key) and None serializes to None. Both are built once per
schema, with a converter per column chosen up front.

Formats:
- JSON: a row is an object keyed by column name; read back with ksqlDB's coercions (see
  `coerce`) and its field matching (exact name, then the upper-cased JSON keys); missing fields
  are NULL. A value with one column and wrap_single=False, and a key with one column, are the
  bare JSON value (and a NULL one is a null record). DECIMAL is written as a number with its
  scale (10.50), DOUBLE as a number (1.0), BYTES as base64, DATE/TIME/TIMESTAMP as ints.
- DELIMITED: one CSV record, `delimiter` property (a character, TAB or SPACE; default ',');
  see `delimited` for quoting and NULLs.
- KAFKA: one INT, BIGINT, DOUBLE, STRING or BYTES column with Kafka's primitive serializers.
- NONE: no columns; writes null records, reads any record as no columns.
- AVRO, PROTOBUF, JSON_SR, PROTOBUF_NOSR: see `registry_serde` (the serializers and
  deserializers take the Schema Registry and the topic, whose subjects hold the schemas).
A schema with no columns (a keyless source's key) writes null records and reads as [] in every
format.

How the qtt corpus writes records (for the test runner):
- JSON keys/values are the JSON document itself: `orjson.dumps(obj)` gives the bytes; expected
  JSON outputs compare after parsing. `json_to_value`/`value_to_json` convert one column value.
- DELIMITED keys/values are the record's text ("0,zero,0", "\"-10\""): bytes = text UTF-8.
- KAFKA keys/values are the single column's JSON form: numbers for INT/BIGINT/DOUBLE, text for
  STRING, base64 text for BYTES. Bytes = make_serializer(...)([json_to_value(obj, t)]);
  outputs compare as value_to_json(deserialized[0], t).
- NONE keys are ignored on input and null on output.
`null` is always a null record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlengine.codegen_ops import parse_date, parse_time, parse_timestamp
from sqlengine.schema_registry import SchemaRegistry
from sqlengine.serde.base import (
    DELIMITED,
    JSON,
    KAFKA,
    NONE,
    SCHEMA_FORMATS,
    SR_FORMATS,
    FormatInfo,
    SerdeError,
)
from sqlengine.serde.checks import check_format, check_properties, format_name
from sqlengine.serde.coerce import CoercionError, json_reader, json_writer
from sqlengine.serde.delimited import (
    make_delimited_deserializer,
    make_delimited_serializer,
    parse_delimiter,
)
from sqlengine.serde.json_format import make_json_deserializer, make_json_serializer
from sqlengine.serde.kafka_format import make_kafka_deserializer, make_kafka_serializer
from sqlengine.serde.registry_serde import (
    inferred_columns,
    make_json_encoder,
    make_schema_deserializer,
    make_schema_serializer,
    parse_registered,
    schema_decoder,
    subject_of,
)
from sqlengine.types import Base, SqlType

__all__ = [
    "SCHEMA_FORMATS",
    "SR_FORMATS",
    "FormatInfo",
    "SerdeError",
    "check_format",
    "check_properties",
    "inferred_columns",
    "api_json_to_value",
    "json_to_value",
    "make_deserializer",
    "make_json_encoder",
    "parse_registered",
    "schema_decoder",
    "make_serializer",
    "parse_delimiter",
    "subject_of",
    "value_to_api_json",
    "value_to_json",
]

Serializer = Callable[[Sequence[Any] | None], bytes | None]
Deserializer = Callable[[bytes | None], list[Any] | None]


def _null_serializer(values: Sequence[Any] | None) -> None:
    return None


def _no_columns(data: bytes | None) -> list[Any] | None:
    return None if data is None else []


def _delimiter(fmt: FormatInfo) -> str:
    return parse_delimiter(fmt.properties.get("delimiter", ","))


def make_serializer(
    fmt: FormatInfo,
    columns: list[tuple[str, SqlType]],
    *,
    is_key: bool,
    wrap_single: bool = True,
    topic: str = "",
    registry: SchemaRegistry | None = None,
) -> Serializer:
    """The serializer of rows with `columns` in format `fmt` (schema checked by check_format).

    topic, registry: where schema formats register and look up schemas.
    """
    name = format_name(fmt.name)
    if not columns or name == NONE:
        return _null_serializer
    if name in SCHEMA_FORMATS:
        return make_schema_serializer(
            fmt, columns, is_key=is_key, wrap_single=wrap_single, registry=registry, topic=topic
        )
    if name == JSON:
        unwrap = len(columns) == 1 and (is_key or not wrap_single)
        return make_json_serializer(columns, unwrap=unwrap)
    if name == DELIMITED:
        return make_delimited_serializer(columns, _delimiter(fmt))
    return make_kafka_serializer(columns[0][1])


def make_deserializer(
    fmt: FormatInfo,
    columns: list[tuple[str, SqlType]],
    *,
    is_key: bool,
    wrap_single: bool = True,
    topic: str = "",
    registry: SchemaRegistry | None = None,
) -> Deserializer:
    """The deserializer of records in format `fmt` into rows with `columns`.

    topic: named in error messages, as ksqlDB names it. registry: where schema formats look
    up the schema ids records carry.
    """
    name = format_name(fmt.name)
    if not columns or name == NONE:
        return _no_columns
    if name in SCHEMA_FORMATS:
        return make_schema_deserializer(
            fmt, columns, is_key=is_key, wrap_single=wrap_single, registry=registry, topic=topic
        )
    if name == JSON:
        unwrap = len(columns) == 1 and (is_key or not wrap_single)
        return make_json_deserializer(columns, unwrap=unwrap, is_key=is_key, topic=topic)
    if name == DELIMITED:
        return make_delimited_deserializer(columns, _delimiter(fmt), topic=topic)
    assert name == KAFKA
    return make_kafka_deserializer(columns[0][1], topic=topic)


def json_to_value(obj: Any, t: SqlType) -> Any:
    """A JSON-decoded object as the value form of `t`, with ksqlDB's JSON coercions.

    Raises SerdeError (message ending in the JSON path, e.g. ", path: $") when it does not fit.
    """
    if obj is None:
        return None
    try:
        return json_reader(t)(obj)
    except CoercionError as e:
        raise SerdeError(str(e)) from None


# DATE, TIME and TIMESTAMP as ISO text (what `value_to_api_json` writes), by type base.
_TEMPORAL_PARSERS: dict[Base, Callable[[str], int]] = {
    Base.DATE: parse_date,
    Base.TIME: parse_time,
    Base.TIMESTAMP: parse_timestamp,
}


def api_json_to_value(obj: Any, t: SqlType) -> Any:
    """A column's value from a REST request's JSON (/inserts-stream): as `json_to_value`,
    and a DATE, TIME or TIMESTAMP also as the ISO text the API returns it as, so a client
    can write back what it read."""
    parse = _TEMPORAL_PARSERS.get(t.base)
    if parse is not None and isinstance(obj, str) and not obj.strip().lstrip("-").isdigit():
        try:
            return parse(obj)
        except ValueError as e:
            raise SerdeError(f"Can't convert type. sourceType: TextNode, requiredType: {t}") from e
    return json_to_value(obj, t)


def api_json_reader(t: SqlType) -> Callable[[Any], Any]:
    """`api_json_to_value` for a column of type `t`, its converter looked up once (an
    insert's every row reads the same columns)."""
    if t.base in _TEMPORAL_PARSERS:
        return lambda obj: api_json_to_value(obj, t)
    read = json_reader(t)

    def value(obj: Any) -> Any:
        if obj is None:
            return None
        try:
            return read(obj)
        except CoercionError as e:
            raise SerdeError(str(e)) from None

    return value


def value_to_json(v: Any, t: SqlType) -> Any:
    """A value of `t` as a JSON-compatible object, as the JSON serializer writes it.

    DECIMAL becomes a float here (the serializer itself writes the exact digits).
    """
    if v is None:
        return None
    write = json_writer(t, False)
    return v if write is None else write(v)


def value_to_api_json(v: Any, t: SqlType) -> Any:
    """A value of `t` as ksqlDB's REST API returns it in a row: as `value_to_json`, but DATE,
    TIME and TIMESTAMP (also inside arrays, maps and structs) as ISO-8601 text."""
    if v is None:
        return None
    write = api_json_writer(t)
    return v if write is None else write(v)


def api_json_writer(t: SqlType) -> Callable[[Any], Any] | None:
    """`value_to_api_json`'s converter of a non-null value of `t`; None: the value as it is."""
    return json_writer(t, False, temporal_text=True)
