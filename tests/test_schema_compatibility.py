"""Compatibility rules of the built-in registry, per format and level."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sqlengine.engine import Engine
from sqlengine.results import StatementError
from sqlengine.schema_registry import LocalSchemaRegistry, RegistryError
from sqlengine.serde.compatibility import FORMAT_RULES


def _record(*fields: dict[str, object]) -> str:
    return orjson.dumps({"type": "record", "name": "R", "fields": list(fields)}).decode()


def _refused(registry: LocalSchemaRegistry, schema_type: str, schema: str) -> str:
    with pytest.raises(RegistryError) as refused:
        registry.register("s", schema_type, schema)
    assert refused.value.code == 409
    return str(refused.value)


def test_avro_levels() -> None:
    registry = LocalSchemaRegistry(rules=FORMAT_RULES)
    registry.register("s", "AVRO", _record({"name": "a", "type": "int"}))
    widened = _record({"name": "a", "type": "long"}, {"name": "b", "type": "string", "default": ""})
    assert registry.register("s", "AVRO", widened) == 2
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in _refused(
        registry, "AVRO", _record({"name": "a", "type": "long"}, {"name": "c", "type": "string"})
    )
    registry.set_compatibility("FULL", "s")
    narrowed = _record(
        {"name": "a", "type": "float"}, {"name": "b", "type": "string", "default": ""}
    )
    assert "TYPE_MISMATCH" in _refused(registry, "AVRO", narrowed)
    registry.set_compatibility("BACKWARD_TRANSITIVE", "s")
    assert registry.check("s", "AVRO", _record({"name": "a", "type": "double"})) == []
    assert registry.check("s", "AVRO", _record({"name": "a", "type": "string"}))


def test_protobuf_fields_match_by_number_and_wire_type() -> None:
    registry = LocalSchemaRegistry(rules=FORMAT_RULES)
    registry.register(
        "s", "PROTOBUF", 'syntax = "proto3"; message M { int32 a = 1; string b = 2; }'
    )
    renamed = 'syntax = "proto3"; message M { int64 x = 1; bytes b = 2; bool c = 3; }'
    assert registry.register("s", "PROTOBUF", renamed) == 2
    reason = _refused(registry, "PROTOBUF", 'syntax = "proto3"; message M { string x = 1; }')
    assert "FIELD_SCALAR_KIND_CHANGED" in reason
    assert "MESSAGE_REMOVED" in _refused(registry, "PROTOBUF", 'syntax = "proto3"; message N {}')


def test_json_schema_content_models() -> None:
    registry = LocalSchemaRegistry(rules=FORMAT_RULES)
    closed = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "additionalProperties": False,
    }
    registry.register("s", "JSON", orjson.dumps(closed).decode())
    added = {**closed, "properties": {"a": {"type": "number"}, "b": {"type": "string"}}}
    assert registry.register("s", "JSON", orjson.dumps(added).decode()) == 2
    required = {**added, "required": ["b"]}
    assert "REQUIRED_PROPERTY_ADDED" in _refused(registry, "JSON", orjson.dumps(required).decode())
    narrowed = {**added, "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
    assert "TYPE_NARROWED" in _refused(registry, "JSON", orjson.dumps(narrowed).decode())


def test_malformed_schemas_are_refused_with_the_reason() -> None:
    registry = LocalSchemaRegistry(rules=FORMAT_RULES)
    for schema_type, text in (
        ("AVRO", '{"type": "recrd"}'),
        ("PROTOBUF", "message {"),
        ("JSON", "[1"),
    ):
        with pytest.raises(RegistryError, match="Invalid") as bad:
            registry.register("s", schema_type, text)
        assert bad.value.code == 42201


def test_a_sink_schema_the_registry_refuses_fails_the_statement(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    try:
        engine.schema_registry.register("OUT-value", "AVRO", _record({"name": "X", "type": "int"}))
        with pytest.raises(StatementError, match="incompatible.*NAME_MISMATCH"):
            engine.execute(
                "CREATE STREAM s (id INT KEY, v STRING) "
                "WITH (kafka_topic='s', value_format='AVRO', partitions=1);"
                "CREATE STREAM out WITH (value_format='AVRO') AS SELECT * FROM s;"
            )
        assert engine.catalog.source("OUT") is None
    finally:
        engine.close()
