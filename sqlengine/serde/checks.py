"""Which schemas each format can carry, refused with ksqlDB's messages."""

from __future__ import annotations

import re

from sqlengine.serde.base import (
    AVRO,
    DELIMITED,
    FORMAT_NAMES,
    JSON,
    JSON_SR,
    KAFKA,
    NONE,
    PROTOBUF,
    PROTOBUF_NOSR,
    FormatInfo,
    SerdeError,
    contains_base,
    java_column_list,
    java_type_name,
)
from sqlengine.serde.delimited import parse_delimiter
from sqlengine.serde.kafka_format import SUPPORTED_BASES as KAFKA_BASES
from sqlengine.types import Base, Map, SqlType

_PROPERTIES = {
    JSON: (),
    DELIMITED: ("delimiter",),
    KAFKA: (),
    NONE: (),
    AVRO: ("fullSchemaName", "schemaId"),
    PROTOBUF: ("fullSchemaName", "schemaId", "nullableRepresentation"),
    PROTOBUF_NOSR: ("nullableRepresentation",),
    JSON_SR: ("schemaId",),
}
_COMPLEX = (Base.ARRAY, Base.MAP, Base.STRUCT)
# Formats that write a single column either wrapped in a record or as the bare value; the
# others can do only one of the two.
_WRAP_OR_UNWRAP = (JSON, JSON_SR, AVRO)
_WRAP_ONLY = (PROTOBUF, PROTOBUF_NOSR)
_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_name(name: str) -> str:
    """The canonical (upper-case) name of a supported format, else ksqlDB's 'Unknown format'."""
    upper = name.upper()
    if upper not in FORMAT_NAMES:
        raise SerdeError(f"Unknown format: {name}")
    return upper


def check_properties(fmt: FormatInfo) -> None:
    """Refuses properties the format does not take, and malformed delimiters."""
    name = format_name(fmt.name)
    unsupported = sorted(k for k in fmt.properties if k not in _PROPERTIES[name])
    if unsupported:
        raise SerdeError(
            f"{name} does not support the following configs: [{', '.join(unsupported)}]"
        )
    if "delimiter" in fmt.properties:
        parse_delimiter(fmt.properties["delimiter"])
    full_name = fmt.properties.get("fullSchemaName")
    if full_name is not None and not full_name.strip():
        raise SerdeError(
            f"fullSchemaName cannot be empty. Format configuration: {{fullSchemaName={full_name.strip()}}}"
        )


def _non_string_map_key(t: SqlType) -> bool:
    if isinstance(t, Map) and t.key.base is not Base.STRING:
        return True
    return any(_non_string_map_key(c) for c in _children(t))


def _children(t: SqlType) -> list[SqlType]:
    if t.base is Base.ARRAY:
        return [t.element]  # type: ignore[attr-defined]
    if t.base is Base.MAP:
        return [t.key, t.value]  # type: ignore[attr-defined]
    if t.base is Base.STRUCT:
        return [f.type for f in t.fields]  # type: ignore[attr-defined]
    return []


def _field_names(t: SqlType) -> list[str]:
    if t.base is Base.STRUCT:
        return [n for f in t.fields for n in (f.name, *_field_names(f.type))]  # type: ignore[attr-defined]
    return [n for c in _children(t) for n in _field_names(c)]


def _avro_name_refusal(name: str) -> str | None:
    if _AVRO_NAME.fullmatch(name):
        return None
    if not (name[:1].isalpha() or name[:1] == "_"):
        return f"Schema is not compatible with Avro: Illegal initial character: {name}"
    return f"Schema is not compatible with Avro: Illegal character in: {name}"


def _format_refusal(name: str, columns: list[tuple[str, SqlType]], *, is_key: bool) -> str | None:
    """Why format `name` cannot carry `columns`, in ksqlDB's words, or None."""
    if name == NONE:
        if columns:
            got = java_column_list(columns, is_key=is_key)
            return f"The 'NONE' format can only be used when no columns are defined. Got: {got}"
    elif name == KAFKA:
        if len(columns) > 1:
            got = java_column_list(columns, is_key=is_key)
            return f"The 'KAFKA' format only supports a single field. Got: {got}"
        for _, t in columns:
            if t.base not in KAFKA_BASES:
                return f"The 'KAFKA' format does not support type '{t.base.value}'"
    elif name == DELIMITED:
        for column, t in columns:
            if t.base in _COMPLEX:
                return (
                    f"The 'DELIMITED' format does not support type '{t.base.value}', "
                    f"column: `{column}`"
                )
    elif any(_non_string_map_key(t) for _, t in columns):
        if name == AVRO:
            return "Avro only supports MAPs with STRING keys"
        if name in _WRAP_ONLY:
            return f"{name} format only supports MAP types with STRING keys"
        return "JSON only supports MAP types with STRING keys"
    elif name == AVRO:
        unwrapped = len(columns) == 1 and is_key
        names = [] if unwrapped else [n for n, _ in columns]
        for n in names + [f for _, t in columns for f in _field_names(t)]:
            reason = _avro_name_refusal(n)
            if reason is not None:
                return reason
    return None


def check_format(
    name: str, columns: list[tuple[str, SqlType]], *, is_key: bool, wrap_single: bool | None
) -> None:
    """Refuses a key or value schema the format cannot carry, with ksqlDB's message.

    wrap_single: the source's WRAP_SINGLE_VALUE (None when not given); ignored for keys.
    """
    fmt = format_name(name)
    if is_key:
        for column, t in columns:
            if contains_base(t, Base.MAP):
                raise SerdeError(
                    "Map keys, including types that contain maps, are not supported as they may "
                    "lead to unexpected behavior due to inconsistent serialization. Key column "
                    f"name: `{column}`. Column type: {java_type_name(t)}. "
                    "See https://github.com/confluentinc/ksql/issues/6621 for more."
                )
    elif wrap_single is not None:
        if len(columns) != 1:
            raise SerdeError("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
        refused = fmt not in _WRAP_OR_UNWRAP and (
            fmt == NONE or (not wrap_single if fmt in _WRAP_ONLY else wrap_single)
        )
        if refused:
            setting = "true" if wrap_single else "false"
            raise SerdeError(
                f"Format '{fmt}' does not support 'WRAP_SINGLE_VALUE' set to '{setting}'."
            )
    reason = _format_refusal(fmt, columns, is_key=is_key)
    if reason is not None:
        features = (
            ""
            if is_key or wrap_single is None
            else ("WRAP_SINGLES" if wrap_single else "UNWRAP_SINGLES")
        )
        raise SerdeError(
            f"{'Key' if is_key else 'Value'} format does not support schema.\n"
            f"format: {fmt}\n"
            f"schema: Persistence{{columns={java_column_list(columns, is_key=is_key)}, "
            f"features=[{features}]}}\n"
            f"reason: {reason}"
        )
