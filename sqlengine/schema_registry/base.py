"""What a Schema Registry is to streamdb: Confluent's model of subjects, versions and ids.

A schema (type AVRO, PROTOBUF or JSON; its text; the schemas it references) has one id,
shared by every subject it is registered under. A subject's versions are numbered from 1; a
deleted version keeps its number (new versions count on from the highest) and its schema id
keeps resolving, as in Confluent's registry. `SchemaRegistry` is the interface the serdes,
DDL and REST API use; `LocalSchemaRegistry` (stored in the data dir) and
`RemoteSchemaRegistry` (an external registry over HTTP) implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol

BACKWARD = "BACKWARD"
COMPATIBILITY_LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
SCHEMA_TYPES = ("AVRO", "PROTOBUF", "JSON")


class RegistryError(Exception):
    """A request the registry refuses; `code` is Confluent's error code (e.g. 40401)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code

    @property
    def status(self) -> int:
        """The HTTP status Confluent answers with: the code's first three digits."""
        return self.code if self.code < 1000 else self.code // 100


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(f"Subject '{subject}' not found.", 40401)


def version_not_found(version: int | str) -> RegistryError:
    return RegistryError(f"Version {version} not found.", 40402)


def schema_not_found() -> RegistryError:
    return RegistryError("Schema not found", 40403)


@dataclass(frozen=True)
class SchemaReference:
    """An import of a schema: its name in the importing schema, and where it is registered."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class RegisteredSchema:
    id: int
    schema_type: str
    schema: str
    references: tuple[SchemaReference, ...] = ()

    def same_schema(self, other: RegisteredSchema) -> bool:
        return (self.schema_type, self.schema, self.references) == (
            other.schema_type,
            other.schema,
            other.references,
        )


def schema_json(schema: RegisteredSchema) -> dict[str, Any]:
    """The fields Confluent's REST API gives a schema (schemaType only when not AVRO)."""
    out: dict[str, Any] = {"schema": schema.schema}
    if schema.schema_type != "AVRO":
        out["schemaType"] = schema.schema_type
    if schema.references:
        out["references"] = [
            {"name": r.name, "subject": r.subject, "version": r.version} for r in schema.references
        ]
    return out


def schema_from_json(body: dict[str, Any], schema_id: int = 0) -> RegisteredSchema:
    """A schema as Confluent's REST API sends it (schemaType defaults to AVRO)."""
    refs = tuple(
        SchemaReference(str(r["name"]), str(r["subject"]), int(r["version"]))
        for r in body.get("references") or ()
    )
    return RegisteredSchema(schema_id, body.get("schemaType") or "AVRO", body["schema"], refs)


class SchemaRegistry(ABC):
    # ------------------------------------------------------------------ reading

    @abstractmethod
    def subjects(self) -> list[str]:
        """Subjects with at least one live version."""

    @abstractmethod
    def versions(self, subject: str) -> list[int]:
        """The subject's live version numbers; RegistryError 40401 when it has none."""

    @abstractmethod
    def version(self, subject: str, version: int | str) -> tuple[int, RegisteredSchema]:
        """(version number, schema) of a subject; `version` may be "latest" or -1."""

    @abstractmethod
    def by_id(self, schema_id: int) -> RegisteredSchema | None: ...

    @abstractmethod
    def subjects_of(self, schema_id: int) -> list[tuple[str, int]]:
        """(subject, version) pairs holding the schema with this id."""

    @abstractmethod
    def lookup(
        self,
        subject: str,
        schema_type: str,
        schema: str,
        references: tuple[SchemaReference, ...] = (),
    ) -> tuple[int, RegisteredSchema]:
        """(version, schema) under which `subject` already holds this schema."""

    @abstractmethod
    def referenced_by(self, subject: str, version: int | str) -> list[int]:
        """Ids of the schemas that reference this version."""

    @abstractmethod
    def compatibility(self, subject: str | None = None) -> str:
        """The level in force for `subject` (its own, else the global one)."""

    @abstractmethod
    def subject_compatibility(self, subject: str) -> str | None:
        """The level set for `subject` itself, if any."""

    @abstractmethod
    def check(
        self,
        subject: str,
        schema_type: str,
        schema: str,
        references: tuple[SchemaReference, ...] = (),
        version: int | str | None = None,
    ) -> list[str]:
        """Why `schema` may not become `subject`'s next version ([] when it may): against
        `version` only when given, else against the versions the level names. Raises
        RegistryError 42201 for a schema that does not parse."""

    def latest(self, subject: str) -> RegisteredSchema | None:
        try:
            return self.version(subject, "latest")[1]
        except RegistryError as exc:
            if exc.code in (40401, 40402):
                return None
            raise

    def referenced(self, schema: RegisteredSchema) -> dict[str, RegisteredSchema]:
        """Every schema `schema` imports, directly or not, by its import name."""
        out: dict[str, RegisteredSchema] = {}
        pending = list(schema.references)
        while pending:
            ref = pending.pop()
            if ref.name in out:
                continue
            _, found = self.version(ref.subject, ref.version)
            out[ref.name] = found
            pending.extend(found.references)
        return out

    # ------------------------------------------------------------------ writing

    @abstractmethod
    def register(
        self,
        subject: str,
        schema_type: str,
        schema: str,
        references: tuple[SchemaReference, ...] = (),
        schema_id: int | None = None,
    ) -> int:
        """The id of `schema` under `subject`, registering it as a new version if needed.

        schema_id: register with this id (as an import does); it must be free or hold the
        same schema. Raises RegistryError: 42201 for a schema that does not parse, 409 for a
        change the compatibility level refuses (with the reasons).
        """

    @abstractmethod
    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Deletes the subject's versions (soft, or for good once soft-deleted)."""

    @abstractmethod
    def delete_version(self, subject: str, version: int | str, *, permanent: bool = False) -> int:
        """Deletes one version; returns its number."""

    @abstractmethod
    def set_compatibility(self, level: str, subject: str | None = None) -> None: ...

    @abstractmethod
    def clear_compatibility(self, subject: str | None = None) -> str:
        """Drops the level set for `subject` (or the global one); returns what it was."""


class SchemaRules(Protocol):
    """What the registry knows of schema formats (sqlengine/serde/compatibility.py)."""

    def parse_error(self, schema: RegisteredSchema, registry: SchemaRegistry) -> str | None:
        """Why `schema` is not a valid schema of its type (None when it is)."""

    def incompatibilities(
        self, reader: RegisteredSchema, writer: RegisteredSchema, registry: SchemaRegistry
    ) -> list[str]:
        """Why data written with `writer` cannot be read with `reader` ([] when it can)."""
