"""AVRO, PROTOBUF, JSON_SR and PROTOBUF_NOSR serdes, the Confluent wire format, the in-process
Schema Registry, and schema inference through the engine."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from sqlengine import types as T
from sqlengine.engine import Engine
from sqlengine.schema_registry import LocalSchemaRegistry, RegistryError, SchemaReference
from sqlengine.serde import (
    FormatInfo,
    SerdeError,
    inferred_columns,
    make_deserializer,
    make_json_encoder,
    make_serializer,
)
from sqlengine.serde.wire import decode_message_indexes, encode_message_indexes, frame, unframe

COLUMNS = [
    ("I", T.INTEGER),
    ("D", T.Decimal(4, 2)),
    ("S", T.Struct((T.Field("F", T.STRING),))),
    ("A", T.Array(T.BIGINT)),
    ("M", T.Map(T.STRING, T.DOUBLE)),
    ("TS", T.TIMESTAMP),
    ("DT", T.DATE),
    ("TM", T.TIME),
    ("B", T.BYTES),
]
ROW = [1, Decimal("10.01"), {"F": "x"}, [1, 2], {"a": 1.5}, 1000, 10, 5000, b"hi"]


@pytest.mark.parametrize("name", ["AVRO", "PROTOBUF", "JSON_SR", "PROTOBUF_NOSR"])
def test_round_trip_every_type(name: str) -> None:
    registry = LocalSchemaRegistry()
    fmt = FormatInfo(name)
    data = make_serializer(fmt, COLUMNS, is_key=False, topic="t", registry=registry)(ROW)
    assert data is not None
    back = make_deserializer(fmt, COLUMNS, is_key=False, topic="t", registry=registry)(data)
    assert back == ROW
    if name == "PROTOBUF_NOSR":
        assert registry.subjects() == []
    else:
        schema_id, _ = unframe(data)
        assert registry.latest("t-value").id == schema_id  # type: ignore[union-attr]


def test_avro_names_and_optional_fields() -> None:
    registry = LocalSchemaRegistry()
    cols = [("K", T.STRING), ("ADDRESS", T.Struct((T.Field("CITY", T.STRING),)))]
    make_serializer(FormatInfo("AVRO"), cols, is_key=False, topic="t", registry=registry)
    schema = registry.latest("t-value").schema  # type: ignore[union-attr]
    # As ksqlDB registers it (Kafka Connect's converter): name and namespace apart, and
    # every record's connect.name.
    assert '"name":"KsqlDataSourceSchema","namespace":"io.confluent.ksql.avro_schemas"' in schema
    assert '"connect.name":"io.confluent.ksql.avro_schemas.KsqlDataSourceSchema"' in schema
    assert '"name":"KsqlDataSourceSchema_ADDRESS"' in schema
    assert '"connect.name":"io.confluent.ksql.avro_schemas.KsqlDataSourceSchema_ADDRESS"' in schema
    assert '["null","string"]' in schema


def test_an_unwrapped_struct_key_is_a_record_named_after_the_topic() -> None:
    registry = LocalSchemaRegistry()
    cols = [("K", T.Struct((T.Field("A", T.INTEGER), T.Field("B", T.INTEGER))))]
    avro = make_serializer(
        FormatInfo("AVRO"), cols, is_key=True, topic="LEFT_TABLE", registry=registry
    )
    assert avro([{"A": 1, "B": 2}]) is not None
    schema = orjson.loads(registry.latest("LEFT_TABLE-key").schema)  # type: ignore[union-attr]
    assert schema == {
        "type": "record",
        "name": "LeftTableKey",
        "namespace": "io.confluent.ksql.avro_schemas",
        "fields": [
            {"name": "A", "type": ["null", "int"], "default": None},
            {"name": "B", "type": ["null", "int"], "default": None},
        ],
        "connect.name": "io.confluent.ksql.avro_schemas.LeftTableKey",
    }


def test_single_key_is_unwrapped_in_avro_and_wrapped_in_protobuf() -> None:
    registry = LocalSchemaRegistry()
    cols = [("K", T.INTEGER)]
    avro = make_serializer(FormatInfo("AVRO"), cols, is_key=True, topic="t", registry=registry)
    assert avro([7]) is not None
    assert registry.latest("t-key").schema == '["null","int"]'  # type: ignore[union-attr]
    proto = make_serializer(FormatInfo("PROTOBUF"), cols, is_key=True, topic="p", registry=registry)
    proto([7])
    assert "int32 K = 1;" in registry.latest("p-key").schema  # type: ignore[union-attr]


def test_protobuf_nulls_default_unless_optional() -> None:
    cols = [("I", T.INTEGER), ("S", T.STRING)]
    for nullable, expected in ((None, [0, ""]), ("optional", [None, None])):
        props = {"nullableRepresentation": nullable} if nullable else {}
        fmt = FormatInfo("PROTOBUF_NOSR", props)
        data = make_serializer(fmt, cols, is_key=False)([None, None])
        assert make_deserializer(fmt, cols, is_key=False)(data) == expected


def test_unknown_schema_id_and_bad_bytes_are_serde_errors() -> None:
    registry = LocalSchemaRegistry()
    read = make_deserializer(
        FormatInfo("AVRO"), [("V", T.INTEGER)], is_key=False, topic="t", registry=registry
    )
    with pytest.raises(SerdeError, match="Failed to deserialize value from topic: t"):
        read(frame(99, b"\x02"))
    with pytest.raises(SerdeError, match="Unknown magic byte"):
        read(b"\x01\x02")


def test_wire_message_indexes() -> None:
    assert encode_message_indexes([0]) == b"\x00"
    for indexes in ([0], [1], [2, 0, 3]):
        assert decode_message_indexes(encode_message_indexes(indexes) + b"rest") == (
            indexes,
            b"rest",
        )


def test_registry_ids_versions_references_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "sr.json"
    registry = LocalSchemaRegistry(path)
    first = registry.register("s-value", "AVRO", '"int"')
    assert registry.register("s-value", "AVRO", '"int"') == first
    second = registry.register("s-value", "AVRO", '"long"', schema_id=50)
    assert second == 50
    assert registry.versions("s-value") == [1, 2]
    registry.register("event.proto", "PROTOBUF", 'syntax = "proto3"; message E { int64 t = 1; }')
    ref = SchemaReference("event.proto", "event.proto", 1)
    main = 'syntax = "proto3"; import "event.proto"; message L { E e = 1; }'
    registry.register("l-value", "PROTOBUF", main, (ref,))
    with pytest.raises(RegistryError) as missing:
        registry.version("nope", "latest")
    assert missing.value.code == 40401
    reopened = LocalSchemaRegistry(path)
    assert reopened.version("s-value", "latest") == (2, reopened.by_id(50))
    assert list(reopened.referenced(reopened.latest("l-value"))) == ["event.proto"]  # type: ignore[arg-type]


def test_inference_from_a_protobuf_schema_with_a_reference() -> None:
    registry = LocalSchemaRegistry()
    registry.register(
        "event.proto", "PROTOBUF", 'syntax = "proto3"; message Event { int64 ts = 1; }'
    )
    registry.register(
        "t-value",
        "PROTOBUF",
        'syntax = "proto3"; import "event.proto"; message L { Event event = 1; repeated string x = 2; }',
        (SchemaReference("event.proto", "event.proto", 1),),
    )
    cols = inferred_columns(FormatInfo("PROTOBUF"), registry, "t", is_key=False)
    assert cols == [
        ("EVENT", T.Struct((T.Field("TS", T.BIGINT),))),
        ("X", T.Array(T.STRING)),
    ]
    encode = make_json_encoder(
        FormatInfo("PROTOBUF"), cols, is_key=False, wrap_single=True, registry=registry, topic="t"
    )
    read = make_deserializer(FormatInfo("PROTOBUF"), cols, is_key=False, registry=registry)
    assert read(encode({"event": {"ts": 5}, "x": ["a"]})) == [{"TS": 5}, ["a"]]


def test_engine_infers_columns_and_writes_sink_schemas(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    try:
        engine.log.create_topic("input", 1)
        engine.schema_registry.register(
            "input-value",
            "AVRO",
            '{"type":"record","name":"r","fields":[{"name":"c1","type":"int"}]}',
        )
        engine.execute(
            "CREATE STREAM s WITH (kafka_topic='input', value_format='AVRO');"
            "CREATE STREAM out AS SELECT c1 * 2 AS d FROM s;"
            "INSERT INTO s (c1) VALUES (21);"
        )
        assert [(c.name, c.type) for c in engine.catalog.source("S").columns] == [  # type: ignore[union-attr]
            ("C1", T.INTEGER)
        ]
        engine.run_until_idle()
        assert engine.execute("SELECT * FROM out;")[0].rows == [[42]]  # type: ignore[attr-defined]
        assert "OUT-value" in engine.schema_registry.subjects()
    finally:
        engine.close()
