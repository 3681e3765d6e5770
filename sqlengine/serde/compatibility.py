"""The schema registry's knowledge of the formats (its `SchemaRules`): whether a schema
parses, and whether one schema reads data written with another (avro_compat,
protobuf_compat, json_compat).

Parsing uses the serdes' own parsers (a Protobuf schema with the schemas it references), so
a schema the registry accepts is one streamdb can read and write.
"""

from __future__ import annotations

from sqlengine.schema_registry import RegisteredSchema, RegistryError, SchemaRegistry
from sqlengine.serde.avro_compat import avro_incompatibilities
from sqlengine.serde.avro_format import AvroSchema
from sqlengine.serde.base import SerdeError
from sqlengine.serde.json_compat import json_incompatibilities
from sqlengine.serde.json_sr_format import JsonSrSchema
from sqlengine.serde.protobuf_compat import protobuf_incompatibilities
from sqlengine.serde.protobuf_format import ProtobufSchema
from sqlengine.serde.registry_serde import parse_registered


class FormatRules:
    """`SchemaRules` of the AVRO, PROTOBUF and JSON schema types."""

    def parse_error(self, schema: RegisteredSchema, registry: SchemaRegistry) -> str | None:
        try:
            parse_registered(schema, registry)
        except (SerdeError, RegistryError) as exc:
            return str(exc)
        return None

    def incompatibilities(
        self, reader: RegisteredSchema, writer: RegisteredSchema, registry: SchemaRegistry
    ) -> list[str]:
        new = parse_registered(reader, registry)
        old = parse_registered(writer, registry)
        if isinstance(new, AvroSchema):
            return avro_incompatibilities(new.text, old.text)
        if isinstance(new, ProtobufSchema) and isinstance(old, ProtobufSchema):
            return protobuf_incompatibilities(new.file, old.file)
        if isinstance(new, JsonSrSchema) and isinstance(old, JsonSrSchema):
            return json_incompatibilities(new.schema, old.schema)
        return []


FORMAT_RULES = FormatRules()
