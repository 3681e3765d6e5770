"""An in-process Confluent-style Schema Registry, stored in the engine's data dir.

See `registry.SchemaRegistry`; the REST API over it lives in server/.
"""

from sqlengine.schema_registry.registry import (
    BACKWARD,
    COMPATIBILITY_LEVELS,
    RegisteredSchema,
    RegistryError,
    SchemaReference,
    SchemaRegistry,
)

__all__ = [
    "BACKWARD",
    "COMPATIBILITY_LEVELS",
    "RegisteredSchema",
    "RegistryError",
    "SchemaReference",
    "SchemaRegistry",
]
