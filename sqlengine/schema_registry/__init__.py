"""Confluent-style Schema Registries: the interface (`base.SchemaRegistry`), the built-in one
stored in the engine's data dir (`registry.LocalSchemaRegistry`) and a client of an external
one (`client.RemoteSchemaRegistry`). The format rules (validity, compatibility) live with
the formats, in sqlengine/serde/compatibility.py; the REST API over a registry in
server/schema_registry.py.
"""

from sqlengine.schema_registry.base import (
    BACKWARD,
    COMPATIBILITY_LEVELS,
    SCHEMA_TYPES,
    RegisteredSchema,
    RegistryError,
    SchemaReference,
    SchemaRegistry,
    SchemaRules,
)
from sqlengine.schema_registry.client import RemoteSchemaRegistry
from sqlengine.schema_registry.registry import LocalSchemaRegistry

__all__ = [
    "BACKWARD",
    "COMPATIBILITY_LEVELS",
    "SCHEMA_TYPES",
    "LocalSchemaRegistry",
    "RegisteredSchema",
    "RegistryError",
    "RemoteSchemaRegistry",
    "SchemaReference",
    "SchemaRegistry",
    "SchemaRules",
]
