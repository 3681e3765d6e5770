"""Subjects, versions and schema ids, as Confluent's Schema Registry keeps them.

A schema (type AVRO, PROTOBUF or JSON; its text; the schemas it references) gets one id,
shared by every subject it is registered under; registering a schema a subject already has
returns its id again. A new version must pass the subject's compatibility level (global
default BACKWARD) against the previous version(s); the check itself is the `checker` given
(format-specific), which returns why a new schema cannot read data written with an old one;
without a checker every change is accepted.

State is one JSON document, rewritten atomically on each change.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

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


# (new, old) -> reasons the new schema cannot read data written with the old one.
Checker = Callable[[RegisteredSchema, RegisteredSchema, "SchemaRegistry"], list[str]]


class SchemaRegistry:
    def __init__(self, path: Path | None = None, checker: Checker | None = None) -> None:
        self.path = path
        self.checker = checker
        self._lock = threading.RLock()
        self._schemas: dict[int, RegisteredSchema] = {}
        self._subjects: dict[str, list[int]] = {}
        self._config: dict[str, str] = {}
        if path is not None and path.exists():
            self._load(path)

    # ------------------------------------------------------------------ reading

    def subjects(self) -> list[str]:
        with self._lock:
            return sorted(s for s, ids in self._subjects.items() if ids)

    def versions(self, subject: str) -> list[int]:
        with self._lock:
            return list(range(1, len(self._subject(subject)) + 1))

    def version(self, subject: str, version: int | str) -> tuple[int, RegisteredSchema]:
        """(version number, schema) of a subject; `version` may be "latest" or -1."""
        with self._lock:
            ids = self._subject(subject)
            number = len(ids) if version in ("latest", -1) else int(version)
            if not 1 <= number <= len(ids):
                raise RegistryError(f"Version {version} not found.", 40402)
            return number, self._schemas[ids[number - 1]]

    def latest(self, subject: str) -> RegisteredSchema | None:
        with self._lock:
            ids = self._subjects.get(subject)
            return self._schemas[ids[-1]] if ids else None

    def by_id(self, schema_id: int) -> RegisteredSchema | None:
        with self._lock:
            return self._schemas.get(schema_id)

    def subjects_of(self, schema_id: int) -> list[tuple[str, int]]:
        """(subject, version) pairs holding the schema with this id."""
        with self._lock:
            return [
                (s, ids.index(schema_id) + 1)
                for s, ids in sorted(self._subjects.items())
                if schema_id in ids
            ]

    def lookup(self, subject: str, schema_type: str, schema: str) -> tuple[int, RegisteredSchema]:
        """(version, schema) under which `subject` already holds this schema."""
        with self._lock:
            for number, sid in enumerate(self._subject(subject), start=1):
                found = self._schemas[sid]
                if found.schema_type == schema_type and found.schema == schema:
                    return number, found
            raise RegistryError("Schema not found", 40403)

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

    def compatibility(self, subject: str | None = None) -> str:
        with self._lock:
            if subject is not None and subject in self._config:
                return self._config[subject]
            return self._config.get("", BACKWARD)

    # ------------------------------------------------------------------ writing

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
        same schema. Raises RegistryError (409) for a change the compatibility level refuses.
        """
        if schema_type not in SCHEMA_TYPES:
            raise RegistryError(f"Invalid schema type {schema_type}", 42201)
        with self._lock:
            for ref in references:
                self.version(ref.subject, ref.version)
            new = RegisteredSchema(0, schema_type, schema, tuple(references))
            ids = self._subjects.setdefault(subject, [])
            for sid in ids:
                if self._same(self._schemas[sid], new):
                    return sid
            existing = next((s for s in self._schemas.values() if self._same(s, new)), None)
            if schema_id is not None:
                taken = self._schemas.get(schema_id)
                if taken is not None and not self._same(taken, new):
                    raise RegistryError(
                        f"Overwrite new schema with id {schema_id} is not permitted.", 42207
                    )
                sid = schema_id
            elif existing is not None:
                sid = existing.id
            else:
                sid = max(self._schemas, default=0) + 1
            candidate = RegisteredSchema(sid, schema_type, schema, tuple(references))
            self._check(subject, candidate, [self._schemas[i] for i in ids])
            self._schemas[sid] = candidate
            ids.append(sid)
            self._save()
            return sid

    def delete_subject(self, subject: str) -> list[int]:
        with self._lock:
            versions = self.versions(subject)
            del self._subjects[subject]
            self._config.pop(subject, None)
            self._save()
            return versions

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        level = level.upper()
        if level not in COMPATIBILITY_LEVELS:
            raise RegistryError(f"Invalid compatibility level: {level}", 42203)
        with self._lock:
            self._config["" if subject is None else subject] = level
            self._save()

    def check(self, subject: str, schema_type: str, schema: str) -> list[str]:
        """Why `schema` may not become `subject`'s next version ([] when it may)."""
        with self._lock:
            candidate = RegisteredSchema(0, schema_type, schema)
            return self._incompatibilities(
                subject, candidate, [self._schemas[i] for i in self._subjects.get(subject, [])]
            )

    # ------------------------------------------------------------------ internals

    def _subject(self, subject: str) -> list[int]:
        ids = self._subjects.get(subject)
        if not ids:
            raise RegistryError(f"Subject '{subject}' not found.", 40401)
        return ids

    @staticmethod
    def _same(a: RegisteredSchema, b: RegisteredSchema) -> bool:
        return (a.schema_type, a.schema, a.references) == (b.schema_type, b.schema, b.references)

    def _incompatibilities(
        self, subject: str, new: RegisteredSchema, previous: list[RegisteredSchema]
    ) -> list[str]:
        level = self.compatibility(subject)
        if self.checker is None or level == "NONE" or not previous:
            return []
        olds = previous if level.endswith("_TRANSITIVE") else previous[-1:]
        reasons: list[str] = []
        for old in olds:
            if old.schema_type != new.schema_type:
                reasons.append(f"Incompatible schema type: {old.schema_type} -> {new.schema_type}")
                continue
            if level.startswith(("BACKWARD", "FULL")):
                reasons.extend(self.checker(new, old, self))
            if level.startswith(("FORWARD", "FULL")):
                reasons.extend(self.checker(old, new, self))
        return reasons

    def _check(self, subject: str, new: RegisteredSchema, previous: list[RegisteredSchema]) -> None:
        reasons = self._incompatibilities(subject, new, previous)
        if reasons:
            raise RegistryError(
                "Schema being registered is incompatible with an earlier schema for subject "
                f'"{subject}", details: [{", ".join(reasons)}]',
                409,
            )

    def _load(self, path: Path) -> None:
        state = orjson.loads(path.read_bytes())
        for s in state["schemas"]:
            refs = tuple(SchemaReference(**r) for r in s["references"])
            self._schemas[s["id"]] = RegisteredSchema(s["id"], s["type"], s["schema"], refs)
        self._subjects = {k: list(v) for k, v in state["subjects"].items()}
        self._config = dict(state["config"])

    def _save(self) -> None:
        if self.path is None:
            return
        state = {
            "schemas": [
                {
                    "id": s.id,
                    "type": s.schema_type,
                    "schema": s.schema,
                    "references": [r.__dict__ for r in s.references],
                }
                for s in self._schemas.values()
            ],
            "subjects": self._subjects,
            "config": self._config,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(state))
        os.replace(tmp, self.path)
