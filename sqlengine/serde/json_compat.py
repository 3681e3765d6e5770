"""JSON Schema compatibility: does the reader schema accept every document the writer's does?

A subset of the rules Confluent's registry documents: types may widen (integer to number),
not narrow; enums may gain values, not lose them; bounds (minimum/maximum, min/maxLength,
min/maxItems, min/maxProperties) may relax, not tighten; a property may be required only if
the writer required it. Objects follow the content models: a property the writer's open
model (additionalProperties absent or true) let through may not gain a schema in the reader,
a closed reader may not drop a property the writer had, nor close an open model. Unions
(oneOf/anyOf): each writer branch must be accepted by some reader branch. Local `$ref`s
(#/definitions/..., #/$defs/...) are followed.
"""

from __future__ import annotations

from typing import Any

_TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def json_incompatibilities(reader: Any, writer: Any) -> list[str]:
    """Why a document valid for `writer` (a parsed JSON Schema) may fail `reader`."""
    check = _Checker(reader, writer)
    check.compare(reader, writer, "#")
    return check.reasons


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    if kind is None:
        return set(_TYPES)
    kinds = {kind} if isinstance(kind, str) else set(kind)
    return kinds | {"integer"} if "number" in kinds else kinds


def _open(schema: dict[str, Any]) -> bool:
    return schema.get("additionalProperties", True) is not False


class _Checker:
    def __init__(self, reader_root: Any, writer_root: Any) -> None:
        self.roots = (reader_root, writer_root)
        self.reasons: list[str] = []
        self._seen: set[tuple[int, int]] = set()

    def _deref(self, schema: Any, root: Any) -> Any:
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                return {}
            target = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            schema = target
        return schema

    def compare(self, reader: Any, writer: Any, path: str) -> None:
        reader = self._deref(reader, self.roots[0])
        writer = self._deref(writer, self.roots[1])
        if reader is True or reader == {} or writer is False:
            return
        if reader is False or writer is True:
            self.reasons.append(f"SCHEMA_NARROWED: {path}")
            return
        pair = (id(reader), id(writer))
        if pair in self._seen:
            return
        self._seen.add(pair)
        union = next((k for k in ("oneOf", "anyOf") if k in writer), None)
        if union is not None:
            for i, branch in enumerate(writer[union]):
                self.compare(reader, branch, f"{path}/{union}/{i}")
            return
        union = next((k for k in ("oneOf", "anyOf") if k in reader), None)
        if union is not None:
            if not any(self._accepts(branch, writer) for branch in reader[union]):
                self.reasons.append(f"COMBINED_TYPE_SUBSCHEMAS_CHANGED: {path}/{union}")
            return
        self._simple(reader, writer, path)
        if "object" in _types(reader) & _types(writer):
            self._object(reader, writer, path)
        if "array" in _types(reader) & _types(writer) and "items" in reader:
            self.compare(reader["items"], writer.get("items", True), f"{path}/items")

    def _simple(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        narrowed = _types(writer) - _types(reader)
        if narrowed:
            self.reasons.append(f"TYPE_NARROWED: {path} ({', '.join(sorted(narrowed))})")
        if "enum" in reader:
            lost = [v for v in writer.get("enum", [None]) if v not in reader["enum"]]
            if "enum" not in writer or lost:
                self.reasons.append(f"ENUM_ARRAY_NARROWED: {path}/enum")
        for key in _LOWER_BOUNDS:
            if key in reader and (key not in writer or reader[key] > writer[key]):
                self.reasons.append(f"{key.upper()}_ADDED_OR_INCREASED: {path}/{key}")
        for key in _UPPER_BOUNDS:
            if key in reader and (key not in writer or reader[key] < writer[key]):
                self.reasons.append(f"{key.upper()}_ADDED_OR_DECREASED: {path}/{key}")

    def _object(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        r_props: dict[str, Any] = reader.get("properties", {})
        w_props: dict[str, Any] = writer.get("properties", {})
        for name, schema in w_props.items():
            where = f"{path}/properties/{name}"
            if name in r_props:
                self.compare(r_props[name], schema, where)
            elif not _open(reader):
                self.reasons.append(f"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL: {where}")
            elif isinstance(reader.get("additionalProperties"), dict):
                self.compare(reader["additionalProperties"], schema, where)
        for name in r_props.keys() - w_props.keys():
            if _open(writer):
                self.reasons.append(
                    f"PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: {path}/properties/{name}"
                )
        required = set(reader.get("required", ())) - set(writer.get("required", ()))
        for name in sorted(required):
            self.reasons.append(f"REQUIRED_PROPERTY_ADDED: {path}/required/{name}")
        if _open(writer) and not _open(reader):
            self.reasons.append(f"ADDITIONAL_PROPERTIES_REMOVED: {path}/additionalProperties")
        elif isinstance(reader.get("additionalProperties"), dict):
            self.compare(
                reader["additionalProperties"],
                writer.get("additionalProperties", True),
                f"{path}/additionalProperties",
            )

    def _accepts(self, reader: Any, writer: Any) -> bool:
        trial = _Checker(*self.roots)
        trial._seen = set(self._seen)
        trial.compare(reader, writer, "")
        return not trial.reasons
