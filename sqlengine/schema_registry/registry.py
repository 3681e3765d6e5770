"""The built-in Schema Registry: subjects, versions and ids kept in one JSON document in the
data dir, rewritten atomically on each change.

Registering a schema a subject already holds returns its id again; a new version must pass
the subject's compatibility level (global default BACKWARD) against the previous live
version(s), as the `rules` given (format-specific) judge it; without rules every schema is
accepted as it is.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from sqlengine.schema_registry.base import (
    BACKWARD,
    COMPATIBILITY_LEVELS,
    SCHEMA_TYPES,
    RegisteredSchema,
    RegistryError,
    SchemaReference,
    SchemaRegistry,
    SchemaRules,
    schema_not_found,
    subject_not_found,
    version_not_found,
)


@dataclass
class _Version:
    number: int
    id: int
    deleted: bool = False


class LocalSchemaRegistry(SchemaRegistry):
    def __init__(self, path: Path | None = None, rules: SchemaRules | None = None) -> None:
        self.path = path
        self.rules = rules
        self._lock = threading.RLock()
        self._schemas: dict[int, RegisteredSchema] = {}
        self._subjects: dict[str, list[_Version]] = {}
        self._config: dict[str, str] = {}
        if path is not None and path.exists():
            self._load(path)

    # ------------------------------------------------------------------ reading

    def subjects(self) -> list[str]:
        with self._lock:
            return sorted(s for s in self._subjects if self._live(s))

    def versions(self, subject: str) -> list[int]:
        with self._lock:
            return [v.number for v in self._live_or_raise(subject)]

    def version(self, subject: str, version: int | str) -> tuple[int, RegisteredSchema]:
        with self._lock:
            found = self._find(subject, version)
            return found.number, self._schemas[found.id]

    def by_id(self, schema_id: int) -> RegisteredSchema | None:
        with self._lock:
            return self._schemas.get(schema_id)

    def subjects_of(self, schema_id: int) -> list[tuple[str, int]]:
        with self._lock:
            return [
                (s, v.number)
                for s in sorted(self._subjects)
                for v in self._live(s)
                if v.id == schema_id
            ]

    def lookup(
        self,
        subject: str,
        schema_type: str,
        schema: str,
        references: tuple[SchemaReference, ...] = (),
    ) -> tuple[int, RegisteredSchema]:
        wanted = RegisteredSchema(0, schema_type, schema, tuple(references))
        with self._lock:
            for v in self._live_or_raise(subject):
                found = self._schemas[v.id]
                if found.same_schema(wanted):
                    return v.number, found
            raise schema_not_found()

    def referenced_by(self, subject: str, version: int | str) -> list[int]:
        with self._lock:
            number = self._find(subject, version).number
            return sorted(
                {
                    v.id
                    for s in self._subjects
                    for v in self._live(s)
                    if any(
                        (r.subject, r.version) == (subject, number)
                        for r in self._schemas[v.id].references
                    )
                }
            )

    def compatibility(self, subject: str | None = None) -> str:
        with self._lock:
            if subject is not None and subject in self._config:
                return self._config[subject]
            return self._config.get("", BACKWARD)

    def subject_compatibility(self, subject: str) -> str | None:
        with self._lock:
            return self._config.get(subject)

    def check(
        self,
        subject: str,
        schema_type: str,
        schema: str,
        references: tuple[SchemaReference, ...] = (),
        version: int | str | None = None,
    ) -> list[str]:
        candidate = RegisteredSchema(0, schema_type, schema, tuple(references))
        with self._lock:
            self._validate(candidate)
            if version is None:
                previous = [self._schemas[v.id] for v in self._live(subject)]
            else:
                previous = [self._schemas[self._find(subject, version).id]]
            return self._incompatibilities(subject, candidate, previous)

    # ------------------------------------------------------------------ writing

    def register(
        self,
        subject: str,
        schema_type: str,
        schema: str,
        references: tuple[SchemaReference, ...] = (),
        schema_id: int | None = None,
    ) -> int:
        new = RegisteredSchema(0, schema_type, schema, tuple(references))
        with self._lock:
            self._validate(new)
            live = self._live(subject)
            for v in live:
                if self._schemas[v.id].same_schema(new):
                    return v.id
            existing = next((s for s in self._schemas.values() if s.same_schema(new)), None)
            if schema_id is not None:
                taken = self._schemas.get(schema_id)
                if taken is not None and not taken.same_schema(new):
                    raise RegistryError(
                        f"Overwrite new schema with id {schema_id} is not permitted.", 42207
                    )
                sid = schema_id
            elif existing is not None:
                sid = existing.id
            else:
                sid = max(self._schemas, default=0) + 1
            candidate = RegisteredSchema(sid, schema_type, schema, tuple(references))
            reasons = self._incompatibilities(
                subject, candidate, [self._schemas[v.id] for v in live]
            )
            if reasons:
                raise RegistryError(
                    "Schema being registered is incompatible with an earlier schema for subject "
                    f'"{subject}", details: [{", ".join(reasons)}]',
                    409,
                )
            self._schemas[sid] = candidate
            versions = self._subjects.setdefault(subject, [])
            versions.append(_Version(max((v.number for v in versions), default=0) + 1, sid))
            self._save()
            return sid

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        with self._lock:
            versions = self._subjects.get(subject)
            if not versions:
                raise subject_not_found(subject)
            if permanent:
                if self._live(subject):
                    raise RegistryError(
                        f"Subject '{subject}' was not deleted first before being permanently "
                        "deleted",
                        40405,
                    )
                numbers = [v.number for v in versions]
                del self._subjects[subject]
                self._config.pop(subject, None)
            else:
                live = self._live_or_raise(subject)
                numbers = [v.number for v in live]
                for v in live:
                    v.deleted = True
            self._save()
            return numbers

    def delete_version(self, subject: str, version: int | str, *, permanent: bool = False) -> int:
        with self._lock:
            found = self._find(subject, version, deleted=permanent)
            if not found.deleted and self.referenced_by(subject, found.number):
                raise RegistryError(
                    f"One or more references exist to the schema {{subject={subject},"
                    f"version={found.number}}}.",
                    42206,
                )
            if permanent:
                if not found.deleted:
                    raise RegistryError(
                        f"Subject '{subject}' Version {found.number} was not deleted first "
                        "before being permanently deleted",
                        40407,
                    )
                self._subjects[subject].remove(found)
            else:
                found.deleted = True
            self._save()
            return found.number

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        level = level.upper()
        if level not in COMPATIBILITY_LEVELS:
            raise RegistryError(f"Invalid compatibility level: {level}", 42203)
        with self._lock:
            self._config["" if subject is None else subject] = level
            self._save()

    def clear_compatibility(self, subject: str | None = None) -> str:
        with self._lock:
            level = self._config.pop("" if subject is None else subject, None)
            if level is None:
                if subject is None:
                    return BACKWARD
                raise RegistryError(
                    f"Subject '{subject}' does not have subject-level compatibility configured",
                    40408,
                )
            self._save()
            return level

    # ------------------------------------------------------------------ internals

    def _live(self, subject: str) -> list[_Version]:
        return [v for v in self._subjects.get(subject, []) if not v.deleted]

    def _live_or_raise(self, subject: str) -> list[_Version]:
        live = self._live(subject)
        if not live:
            raise subject_not_found(subject)
        return live

    def _find(self, subject: str, version: int | str, *, deleted: bool = False) -> _Version:
        """A version of the subject by number, "latest" or -1 (soft-deleted ones too when
        `deleted`)."""
        candidates = self._subjects.get(subject, []) if deleted else self._live(subject)
        if not candidates:
            raise subject_not_found(subject)
        if version in ("latest", -1, "-1"):
            return candidates[-1]
        try:
            number = int(version)
        except ValueError:
            raise RegistryError(
                f"The specified version '{version}' is not a valid version id. Allowed values "
                'are between [1, 2^31-1] and the string "latest"',
                42202,
            ) from None
        if number < 1:
            raise RegistryError(
                f"The specified version '{version}' is not a valid version id.", 42202
            )
        for v in candidates:
            if v.number == number:
                return v
        raise version_not_found(version)

    def _validate(self, schema: RegisteredSchema) -> None:
        if schema.schema_type not in SCHEMA_TYPES:
            raise RegistryError(f"Invalid schema type {schema.schema_type}", 42201)
        for ref in schema.references:
            self._find(ref.subject, ref.version)
        error = None if self.rules is None else self.rules.parse_error(schema, self)
        if error is not None:
            raise RegistryError(f"Invalid schema: {error}", 42201)

    def _incompatibilities(
        self, subject: str, new: RegisteredSchema, previous: list[RegisteredSchema]
    ) -> list[str]:
        level = self.compatibility(subject)
        if self.rules is None or level == "NONE" or not previous:
            return []
        olds = previous if level.endswith("_TRANSITIVE") else previous[-1:]
        reasons: list[str] = []
        for old in olds:
            if old.schema_type != new.schema_type:
                reasons.append(f"Incompatible schema type: {old.schema_type} -> {new.schema_type}")
                continue
            if level.startswith(("BACKWARD", "FULL")):
                reasons.extend(self.rules.incompatibilities(new, old, self))
            if level.startswith(("FORWARD", "FULL")):
                reasons.extend(self.rules.incompatibilities(old, new, self))
        return reasons

    def _load(self, path: Path) -> None:
        state = orjson.loads(path.read_bytes())
        for s in state["schemas"]:
            refs = tuple(SchemaReference(**r) for r in s["references"])
            self._schemas[s["id"]] = RegisteredSchema(s["id"], s["type"], s["schema"], refs)
        self._subjects = {
            subject: [_Version(*v) for v in versions]
            for subject, versions in state["subjects"].items()
        }
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
            "subjects": {
                s: [[v.number, v.id, v.deleted] for v in versions]
                for s, versions in self._subjects.items()
            },
            "config": self._config,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(state))
        os.replace(tmp, self.path)
