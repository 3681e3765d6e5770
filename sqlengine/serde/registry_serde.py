"""Serdes of the Schema Registry formats (AVRO, PROTOBUF, JSON_SR) and PROTOBUF_NOSR.

Writing: the writer schema is the registered schema the format's `schemaId` property names
(with `fullSchemaName` choosing a Protobuf message), else ksqlDB's schema of the columns,
registered under the subject `<topic>-key` / `<topic>-value` when the serializer is made (as
ksqlDB registers a sink's schemas when its query starts); records are framed with its id.
Reading: a record's schema id names its writer schema in the registry; the decoded value is
read into the columns with the JSON coercions (sqlengine/serde/coerce.py), fields matched by
name (exact, then upper-cased). PROTOBUF_NOSR has no registry and no framing: both sides use
the columns' schema.

A single key column, and a single value column with WRAP_SINGLE_VALUE=false, are written
unwrapped (the bare value) in AVRO and JSON_SR; PROTOBUF always writes a message.

Format properties: schemaId, fullSchemaName, nullableRepresentation (PROTOBUF: optional or
wrapper).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlengine.schema_registry import RegisteredSchema, RegistryError, SchemaRegistry
from sqlengine.serde.avro_format import derive_avro, key_record_name, parse_avro
from sqlengine.serde.base import (
    AVRO,
    JSON_SR,
    PROTOBUF,
    PROTOBUF_NOSR,
    FormatInfo,
    SerdeError,
)
from sqlengine.serde.coerce import CoercionError, fields_reader, json_reader
from sqlengine.serde.json_sr_format import derive_json_schema, parse_json_schema
from sqlengine.serde.protobuf_format import ProtobufSchema
from sqlengine.serde.protobuf_schema import derive_proto_text, proto_file
from sqlengine.serde.schemas import ANONYMOUS_KEY, ANONYMOUS_VALUE, PhysicalSchema, upper_names
from sqlengine.serde.wire import frame, unframe
from sqlengine.types import Array, Field, Map, SqlType, Struct

Serializer = Callable[[Sequence[Any] | None], bytes | None]
Deserializer = Callable[[bytes | None], list[Any] | None]
Columns = list[tuple[str, SqlType]]


def subject_of(topic: str, *, is_key: bool) -> str:
    return f"{topic}-{'key' if is_key else 'value'}"


def unwraps(name: str, columns: Columns, *, is_key: bool, wrap_single: bool) -> bool:
    """Whether the format writes these columns as one bare value."""
    if name in (PROTOBUF, PROTOBUF_NOSR):
        return False
    return len(columns) == 1 and (is_key or not wrap_single)


def derive_schema(
    fmt: FormatInfo, columns: Columns, *, unwrap: bool, key_topic: str | None = None
) -> PhysicalSchema:
    """ksqlDB's schema of `columns` in format `fmt` (of the key of `key_topic`, if given)."""
    name = fmt.name.upper()
    full_name = fmt.properties.get("fullSchemaName")
    if name == AVRO:
        key_name = None
        if key_topic is not None:
            key_name = full_name or key_record_name(key_topic)
        return derive_avro(columns, unwrap=unwrap, full_name=full_name, key_name=key_name)
    if name == JSON_SR:
        return derive_json_schema(columns, unwrap=unwrap)
    text = derive_proto_text(
        columns, full_name=full_name, nullable=fmt.properties.get("nullableRepresentation")
    )
    return ProtobufSchema(text, proto_file(text), full_name, framed=name == PROTOBUF)


def parse_registered(
    registered: RegisteredSchema, registry: SchemaRegistry, full_name: str | None = None
) -> PhysicalSchema:
    """A registered schema, with what it references."""
    if registered.schema_type == "AVRO":
        return parse_avro(registered.schema)
    if registered.schema_type == "JSON":
        return parse_json_schema(registered.schema)
    imports = {name: s.schema for name, s in registry.referenced(registered).items()}
    return ProtobufSchema(registered.schema, proto_file(registered.schema, imports), full_name)


def _need(registry: SchemaRegistry | None, name: str) -> SchemaRegistry:
    if registry is None:
        raise SerdeError(f"Format {name} requires a Schema Registry")
    return registry


def writer_schema(
    fmt: FormatInfo,
    columns: Columns,
    *,
    unwrap: bool,
    registry: SchemaRegistry | None,
    subject: str,
) -> tuple[PhysicalSchema, int | None]:
    """The schema records are written with, and its id (None for PROTOBUF_NOSR)."""
    name = fmt.name.upper()
    if name == PROTOBUF_NOSR:
        return derive_schema(fmt, columns, unwrap=False), None
    registry = _need(registry, name)
    given = fmt.properties.get("schemaId")
    if given is not None:
        registered = registry.by_id(int(given))
        if registered is None:
            raise SerdeError(f"Schema id {given} does not exist in the Schema Registry")
        return parse_registered(registered, registry, fmt.properties.get("fullSchemaName")), int(
            given
        )
    key_topic = subject.removesuffix("-key") if subject.endswith("-key") else None
    schema = derive_schema(fmt, columns, unwrap=unwrap, key_topic=key_topic)
    try:
        return schema, registry.register(subject, schema.schema_type, schema.text)
    except RegistryError as exc:
        # Refused as incompatible (say, by a record name of the schema a source was inferred
        # from): the subject's latest schema serves when it holds these very columns.
        latest = registry.latest(subject) if exc.code == 409 else None
        if latest is not None and latest.schema_type == schema.schema_type:
            current = parse_registered(latest, registry, fmt.properties.get("fullSchemaName"))
            if _carries(current, columns, unwrap=unwrap):
                return current, latest.id
        raise SerdeError(str(exc)) from exc


def _carries(schema: PhysicalSchema, columns: Columns, *, unwrap: bool) -> bool:
    """Whether `schema` holds exactly `columns` (names ignoring case), so that records
    written with it read back as they were."""
    try:
        carried = upper_names(schema.sql_type())
    except SerdeError:
        return False
    if unwrap:
        return carried == upper_names(columns[0][1])
    return carried == upper_names(Struct(tuple(Field(n, t) for n, t in columns)))


def make_schema_serializer(
    fmt: FormatInfo,
    columns: Columns,
    *,
    is_key: bool,
    wrap_single: bool,
    registry: SchemaRegistry | None,
    topic: str,
) -> Serializer:
    unwrap = unwraps(fmt.name.upper(), columns, is_key=is_key, wrap_single=wrap_single)
    subject = subject_of(topic, is_key=is_key)
    schema, schema_id = writer_schema(
        fmt, columns, unwrap=unwrap, registry=registry, subject=subject
    )
    write = schema.writer()
    indexes = schema.message_indexes
    names = [n for n, _ in columns]

    def serialize(values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return None
        if unwrap:
            if values[0] is None:
                return None
            payload = write(values[0])
        else:
            payload = write(dict(zip(names, values, strict=True)))
        return payload if schema_id is None else frame(schema_id, payload, indexes)

    return serialize


def row_reader(columns: Columns, *, unwrap: bool) -> Callable[[Any], list[Any]]:
    """JSON-like decoded value -> the row of `columns`."""
    if unwrap:
        read = json_reader(columns[0][1])
        return lambda obj: [read(obj)]
    return fields_reader(columns, Struct(tuple(Field(n, t) for n, t in columns)))


def schema_decoder(
    fmt: FormatInfo, columns: Columns, *, is_key: bool, registry: SchemaRegistry | None
) -> Callable[[bytes], Any]:
    """Record bytes -> the JSON-like value its writer schema decodes (None for null)."""
    name = fmt.name.upper()
    if name == PROTOBUF_NOSR:
        return derive_schema(fmt, columns, unwrap=False).reader()
    registry = _need(registry, name)
    readers: dict[int, Callable[[bytes], Any]] = {}

    def decode(data: bytes) -> Any:
        schema_id, payload = unframe(data)
        read = readers.get(schema_id)
        if read is None:
            registered = registry.by_id(schema_id)
            if registered is None:
                raise SerdeError(f"Schema not found; error code: 40403 (schema id {schema_id})")
            read = readers[schema_id] = parse_registered(registered, registry).reader()
        return read(payload)

    return decode


def make_schema_deserializer(
    fmt: FormatInfo,
    columns: Columns,
    *,
    is_key: bool,
    wrap_single: bool,
    registry: SchemaRegistry | None,
    topic: str,
) -> Deserializer:
    unwrap = unwraps(fmt.name.upper(), columns, is_key=is_key, wrap_single=wrap_single)
    decode = schema_decoder(fmt, columns, is_key=is_key, registry=registry)
    read_row = row_reader(columns, unwrap=unwrap)
    target = "key" if is_key else "value"

    def deserialize(data: bytes | None) -> list[Any] | None:
        if data is None:
            return None
        try:
            obj = decode(data)
            return None if obj is None else read_row(obj)
        except (SerdeError, CoercionError) as e:
            raise SerdeError(f"Failed to deserialize {target} from topic: {topic}. {e}") from None
        except Exception as e:  # noqa: BLE001 - codecs raise their own kinds on bad bytes
            raise SerdeError(
                f"Failed to deserialize {target} from topic: {topic}. {type(e).__name__}: {e}"
            ) from None

    return deserialize


def inferred_columns(
    fmt: FormatInfo,
    registry: SchemaRegistry | None,
    topic: str,
    *,
    is_key: bool,
    wrap_single: bool = True,
) -> Columns:
    """The columns schema inference gives a source: those of the registered schema the
    format's schemaId names, else of the subject's latest; names are upper-cased unless a
    schema id is given. A non-record schema, and any schema of an unwrapped key or value
    (AVRO and JSON_SR keys, WRAP_SINGLE_VALUE=false), is one column, ROWKEY or ROWVAL."""
    name = fmt.name.upper()
    registry = _need(registry, name)
    given = fmt.properties.get("schemaId")
    registered = (
        registry.by_id(int(given))
        if given is not None
        else registry.latest(subject_of(topic, is_key=is_key))
    )
    if registered is None:
        what = "keys" if is_key else "values"
        raise SerdeError(
            f"Schema for message {what} on topic '{topic}' does not exist in the Schema Registry."
        )
    t = parse_registered(registered, registry, fmt.properties.get("fullSchemaName")).sql_type()
    if given is None:
        t = upper_names(t)
    single = unwraps(name, [("", t)], is_key=is_key, wrap_single=wrap_single)
    if isinstance(t, Struct) and not single:
        return [(f.name, f.type) for f in t.fields]
    return [(ANONYMOUS_KEY if is_key else ANONYMOUS_VALUE, t)]


def make_json_encoder(
    fmt: FormatInfo,
    columns: Columns,
    *,
    is_key: bool,
    wrap_single: bool,
    registry: SchemaRegistry | None,
    topic: str,
) -> Callable[[Any], bytes]:
    """Writes JSON-decoded data (as test data and tools state records) with the subject's
    latest schema, else the columns' schema (registered as ksqlDB would); the data is read
    with the JSON coercions into the schema's own types first."""
    name = fmt.name.upper()
    unwrap = unwraps(name, columns, is_key=is_key, wrap_single=wrap_single)
    subject = subject_of(topic, is_key=is_key)
    latest = registry.latest(subject) if registry is not None and name != PROTOBUF_NOSR else None
    if latest is not None and registry is not None:
        schema = parse_registered(latest, registry, fmt.properties.get("fullSchemaName"))
        schema_id: int | None = latest.id
    else:
        schema, schema_id = writer_schema(
            fmt, columns, unwrap=unwrap, registry=registry, subject=subject
        )
    sql_type = schema.sql_type()
    json_read = json_reader(sql_type)
    # As upstream's test-data Avro serializer: a record's fields are found ignoring case.
    read = (lambda obj: json_read(_named_as(obj, sql_type))) if name == AVRO else json_read
    write = schema.writer()
    indexes = schema.message_indexes

    def encode(obj: Any) -> bytes:
        try:
            payload = write(read(obj))
        except CoercionError as e:
            raise SerdeError(str(e)) from None
        return payload if schema_id is None else frame(schema_id, payload, indexes)

    return encode


def _named_as(obj: Any, t: SqlType) -> Any:
    """JSON-decoded data with each object's keys renamed to the STRUCT field of `t` they
    name ignoring case (an exact name first)."""
    if isinstance(t, Struct) and isinstance(obj, dict):
        upper = {k.upper(): v for k, v in obj.items()}
        return {
            f.name: _named_as(obj[f.name] if f.name in obj else upper.get(f.name.upper()), f.type)
            for f in t.fields
        }
    if isinstance(t, Array) and isinstance(obj, list):
        return [_named_as(x, t.element) for x in obj]
    if isinstance(t, Map) and isinstance(obj, dict):
        return {k: _named_as(v, t.value) for k, v in obj.items()}
    return obj
