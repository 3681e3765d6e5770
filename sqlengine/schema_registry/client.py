"""An external Confluent-compatible Schema Registry, reached over its REST API.

Schemas by id never change, so they are cached; everything else is asked each time (the
serdes ask once per query or schema id). Confluent's error answers become RegistryError with
their code; an unreachable registry is RegistryError 50001.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import httpx

from sqlengine.schema_registry.base import (
    RegisteredSchema,
    RegistryError,
    SchemaReference,
    SchemaRegistry,
    schema_from_json,
    schema_json,
)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def _path(*parts: str | int) -> str:
    return "/".join(quote(str(p), safe="") for p in parts)


class RemoteSchemaRegistry(SchemaRegistry):
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url + "/",
            timeout=timeout,
            headers={"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE},
        )
        self._by_id: dict[int, RegisteredSchema] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise RegistryError(f"Schema Registry {self.url} unreachable: {exc}", 50001) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        if response.is_success:
            return answer
        if isinstance(answer, dict) and "error_code" in answer:
            raise RegistryError(str(answer.get("message", "")), int(answer["error_code"]))
        raise RegistryError(f"Schema Registry answered {response.status_code}: {answer}", 50001)

    # ------------------------------------------------------------------ reading

    def subjects(self) -> list[str]:
        return list(self._call("GET", "subjects"))

    def versions(self, subject: str) -> list[int]:
        return list(self._call("GET", _path("subjects", subject, "versions")))

    def version(self, subject: str, version: int | str) -> tuple[int, RegisteredSchema]:
        found = self._call("GET", _path("subjects", subject, "versions", version))
        return int(found["version"]), schema_from_json(found, int(found["id"]))

    def by_id(self, schema_id: int) -> RegisteredSchema | None:
        with self._lock:
            cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        try:
            found = schema_from_json(
                self._call("GET", _path("schemas", "ids", schema_id)), schema_id
            )
        except RegistryError as exc:
            if exc.code == 40403:
                return None
            raise
        with self._lock:
            self._by_id[schema_id] = found
        return found

    def subjects_of(self, schema_id: int) -> list[tuple[str, int]]:
        found = self._call("GET", _path("schemas", "ids", schema_id, "versions"))
        return [(str(v["subject"]), int(v["version"])) for v in found]

    def lookup(
        self,
        subject: str,
        schema_type: str,
        schema: str,
        references: tuple[SchemaReference, ...] = (),
    ) -> tuple[int, RegisteredSchema]:
        body = schema_json(RegisteredSchema(0, schema_type, schema, references))
        found = self._call("POST", _path("subjects", subject), body)
        return int(found["version"]), schema_from_json(found, int(found["id"]))

    def referenced_by(self, subject: str, version: int | str) -> list[int]:
        return list(
            self._call("GET", _path("subjects", subject, "versions", version, "referencedby"))
        )

    def compatibility(self, subject: str | None = None) -> str:
        if subject is None:
            return str(self._call("GET", "config")["compatibilityLevel"])
        found = self._call("GET", _path("config", subject), params={"defaultToGlobal": "true"})
        return str(found["compatibilityLevel"])

    def subject_compatibility(self, subject: str) -> str | None:
        try:
            return str(self._call("GET", _path("config", subject))["compatibilityLevel"])
        except RegistryError as exc:
            if exc.code == 40408:
                return None
            raise

    def check(
        self,
        subject: str,
        schema_type: str,
        schema: str,
        references: tuple[SchemaReference, ...] = (),
        version: int | str | None = None,
    ) -> list[str]:
        parts: tuple[str | int, ...] = ("compatibility", "subjects", subject, "versions")
        body = schema_json(RegisteredSchema(0, schema_type, schema, references))
        try:
            found = self._call(
                "POST",
                _path(*parts, *(() if version is None else (version,))),
                body,
                {"verbose": "true"},
            )
        except RegistryError as exc:
            if exc.code == 40401 and version is None:
                return []
            raise
        if found.get("is_compatible", False):
            return []
        return [str(m) for m in found.get("messages") or ["incompatible"]]

    # ------------------------------------------------------------------ writing

    def register(
        self,
        subject: str,
        schema_type: str,
        schema: str,
        references: tuple[SchemaReference, ...] = (),
        schema_id: int | None = None,
    ) -> int:
        body = schema_json(RegisteredSchema(0, schema_type, schema, references))
        if schema_id is not None:
            body["id"] = schema_id
        return int(self._call("POST", _path("subjects", subject, "versions"), body)["id"])

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        params = {"permanent": "true"} if permanent else None
        return list(self._call("DELETE", _path("subjects", subject), params=params))

    def delete_version(self, subject: str, version: int | str, *, permanent: bool = False) -> int:
        params = {"permanent": "true"} if permanent else None
        return int(
            self._call("DELETE", _path("subjects", subject, "versions", version), params=params)
        )

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        path = "config" if subject is None else _path("config", subject)
        self._call("PUT", path, {"compatibility": level.upper()})

    def clear_compatibility(self, subject: str | None = None) -> str:
        path = "config" if subject is None else _path("config", subject)
        return str(self._call("DELETE", path)["compatibilityLevel"])
