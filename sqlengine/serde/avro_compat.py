"""Avro compatibility: can a reader schema read data written with a writer schema?

Avro's schema resolution rules (as Avro's SchemaCompatibility, which Confluent's registry
uses, applies them) on schemas fastavro has parsed: a writer union is readable when each of
its branches is; a reader union reads a writer when one of its branches does; numbers promote
int -> long -> float -> double, string and bytes read each other; records match by name (or
the reader's aliases), each reader field reading the writer's field of that name (or alias)
or else having a default; writer enum symbols must be the reader's, unless it has a default;
fixed sizes must agree. Logical types are not compared.
"""

from __future__ import annotations

from typing import Any

import fastavro
import orjson

_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def avro_incompatibilities(reader: str, writer: str) -> list[str]:
    """Why data written with `writer` (Avro schema text) cannot be read with `reader`."""
    reader_names: dict[str, Any] = {}
    writer_names: dict[str, Any] = {}
    check = _Checker(reader_names, writer_names)
    check.compare(_parse(reader, reader_names), _parse(writer, writer_names), "")
    return check.reasons


def _parse(text: str, named: dict[str, Any]) -> Any:
    try:
        schema = orjson.loads(text)
    except orjson.JSONDecodeError:
        schema = text.strip()  # a bare primitive, registered as its name: int
    return fastavro.parse_schema(schema, named_schemas=named, _write_hint=False)


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class _Checker:
    """Named types are looked up in each side's own names (both may define a record of the
    same name); `seen` stops recursion through recursive records."""

    def __init__(
        self,
        reader_names: dict[str, Any],
        writer_names: dict[str, Any],
        seen: set[tuple[str, str]] | None = None,
    ) -> None:
        self.reader_names = reader_names
        self.writer_names = writer_names
        self.reasons: list[str] = []
        self._seen = set() if seen is None else seen

    def _fail(self, kind: str, path: str, detail: str) -> None:
        self.reasons.append(f"{{errorType:'{kind}', description:'{detail}', path:'{path or '/'}'}}")

    def compare(self, reader: Any, writer: Any, path: str) -> None:
        reader, writer = _resolve(reader, self.reader_names), _resolve(writer, self.writer_names)
        if isinstance(writer, list):
            for i, branch in enumerate(writer):
                self.compare(reader, branch, f"{path}/{i}")
            return
        if isinstance(reader, list):
            if not any(self._reads(branch, writer) for branch in reader):
                self._fail(
                    "MISSING_UNION_BRANCH",
                    path,
                    f"The new schema has no branch that reads type {_kind(writer)}",
                )
            return
        r_kind, w_kind = _kind(reader), _kind(writer)
        if r_kind != w_kind:
            if r_kind not in _PROMOTIONS.get(w_kind, ()):
                self._fail(
                    "TYPE_MISMATCH",
                    path,
                    f"reader type: {r_kind} not compatible with writer type: {w_kind}",
                )
            return
        if r_kind in ("record", "enum", "fixed"):
            if not self._names_match(reader, writer):
                self._fail(
                    "NAME_MISMATCH",
                    f"{path}/name",
                    f"expected: {writer['name']}, found: {reader['name']}",
                )
                return
            pair = (reader["name"], writer["name"])
            if pair in self._seen:
                return
            self._seen.add(pair)
        if r_kind == "record":
            self._records(reader, writer, path)
        elif r_kind == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                self._fail("MISSING_ENUM_SYMBOLS", f"{path}/symbols", f"[{', '.join(missing)}]")
        elif r_kind == "fixed" and reader["size"] != writer["size"]:
            self._fail(
                "FIXED_SIZE_MISMATCH",
                f"{path}/size",
                f"expected: {writer['size']}, found: {reader['size']}",
            )
        elif r_kind == "array":
            self.compare(reader["items"], writer["items"], f"{path}/items")
        elif r_kind == "map":
            self.compare(reader["values"], writer["values"], f"{path}/values")

    def _records(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        written = {f["name"]: f for f in writer["fields"]}
        for i, field in enumerate(reader["fields"]):
            names = [field["name"], *field.get("aliases", ())]
            match = next((written[n] for n in names if n in written), None)
            where = f"{path}/fields/{i}"
            if match is not None:
                self.compare(field["type"], match["type"], f"{where}/type")
            elif "default" not in field:
                self._fail(
                    "READER_FIELD_MISSING_DEFAULT_VALUE",
                    where,
                    f"The field '{field['name']}' in the reader schema has no default value "
                    "and is missing in the writer schema",
                )

    def _reads(self, reader: Any, writer: Any) -> bool:
        """Whether `reader` reads `writer` (trying it quietly)."""
        trial = _Checker(self.reader_names, self.writer_names, set(self._seen))
        trial.compare(reader, writer, "")
        return not trial.reasons

    @staticmethod
    def _names_match(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
        names = {_short(reader["name"]), *map(_short, reader.get("aliases", ()))}
        return _short(writer["name"]) in names


def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    kind = schema["type"]
    return kind if isinstance(kind, str) else _kind(kind)


def _resolve(schema: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        return named.get(schema, schema)
    return schema
