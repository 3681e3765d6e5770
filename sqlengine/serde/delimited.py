"""The DELIMITED format: one CSV record per Kafka record, as ksqlDB writes it with Commons CSV.

Reading: RFC 4180 with the configured delimiter and '"' quotes; the first non-empty line is the
record; an empty field (quoted or not) is NULL; a field count other than the column count fails.
BOOLEAN reads like Boolean.parseBoolean (anything but "true", any case, is false).

Writing: NULL is an empty field. Numbers are Java's text (DOUBLE as Double.toString, DECIMAL
plain with its scale), BYTES base64, DATE/TIME/TIMESTAMP their ints. A field is quoted when
Commons CSV's minimal quoting would: the record's first field when it starts with anything but
an ASCII letter or digit (so "-10" first in a record is written "\"-10\""), any field starting
with a character up to '#', containing a quote, CR, LF or the delimiter, or ending in a
character up to ' '; an empty string as the first field is written "".
"""

from __future__ import annotations

import base64
import binascii
import csv
from collections.abc import Callable, Sequence
from decimal import InvalidOperation
from typing import Any

from sqlengine.javatext import java_double_str, parse_java_double, parse_java_long
from sqlengine.serde.base import SerdeError
from sqlengine.serde.coerce import CoercionError, fit_decimal, parse_java_decimal
from sqlengine.types import Base, SqlType
from sqlengine.types import Decimal as DecimalType

Serializer = Callable[[Sequence[Any] | None], bytes | None]
Deserializer = Callable[[bytes | None], list[Any] | None]

NAMED_DELIMITERS = {"TAB": "\t", "SPACE": " "}


def parse_delimiter(text: str) -> str:
    """A DELIMITED `delimiter` property (one character, or TAB / SPACE) as its character."""
    if not text.strip():
        raise SerdeError(
            "Delimiter cannot be empty, if you meant to have a tab or space for delimiter, "
            "please use the special values 'TAB' or 'SPACE'"
        )
    if len(text) == 1:
        return text
    named = NAMED_DELIMITERS.get(text.upper())
    if named is None:
        raise SerdeError(
            f"Invalid delimiter value: '{text}'. Delimiter must be a single character or TAB,SPACE"
        )
    return named


def _format_boolean(v: bool) -> str:
    return "true" if v else "false"


def _format_bytes(v: bytes) -> str:
    return base64.b64encode(v).decode("ascii")


def _formatter(t: SqlType) -> Callable[[Any], str]:
    base = t.base
    if base is Base.BOOLEAN:
        return _format_boolean
    if base is Base.DOUBLE:
        return java_double_str
    if base is Base.DECIMAL:
        return lambda d: f"{d:f}"
    if base is Base.BYTES:
        return _format_bytes
    return str


def _quoted(text: str, first: bool, delimiter: str) -> str:
    """`text` as Commons CSV's minimal quoting prints it (see the module docstring)."""
    if not text:
        return '""' if first else text
    c = text[0]
    if (
        (first and not (c.isascii() and c.isalnum()))
        or c <= "#"
        or '"' in text
        or delimiter in text
        or "\n" in text
        or "\r" in text
        or text[-1] <= " "
    ):
        return '"' + text.replace('"', '""') + '"'
    return text


def make_delimited_serializer(columns: list[tuple[str, SqlType]], delimiter: str) -> Serializer:
    formatters = [_formatter(t) for _, t in columns]

    def serialize(values: Sequence[Any] | None) -> bytes | None:
        if values is None:
            return None
        fields = []
        first = True
        for fmt, v in zip(formatters, values, strict=True):
            fields.append("" if v is None else _quoted(fmt(v), first, delimiter))
            first = False
        return delimiter.join(fields).encode()

    return serialize


def _parse_boolean(text: str) -> bool:
    return text.lower() == "true"


def _parse_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"Value is not a valid Base64 encoded string: {text}") from None


def _parser(t: SqlType) -> Callable[[str], Any]:
    base = t.base
    if base is Base.BOOLEAN:
        return _parse_boolean
    if base in (Base.INTEGER, Base.DATE):
        return lambda text: parse_java_long(text, 32)
    if base in (Base.BIGINT, Base.TIME, Base.TIMESTAMP):
        return lambda text: parse_java_long(text, 64)
    if base is Base.DOUBLE:
        return parse_java_double
    if base is Base.BYTES:
        return _parse_bytes
    if isinstance(t, DecimalType):
        return lambda text: fit_decimal(parse_java_decimal(text), t)
    return str


def _split(text: str, delimiter: str) -> list[str]:
    if '"' not in text and "\n" not in text and "\r" not in text:
        return text.split(delimiter) if text else []
    for record in csv.reader(text.splitlines(True), delimiter=delimiter, strict=True):
        if record:
            return record
    return []


def make_delimited_deserializer(
    columns: list[tuple[str, SqlType]], delimiter: str, *, topic: str
) -> Deserializer:
    parsers = [_parser(t) for _, t in columns]
    expected = len(parsers)

    def deserialize(data: bytes | None) -> list[Any] | None:
        if data is None:
            return None
        try:
            fields = _split(data.decode("utf-8", errors="replace"), delimiter)
            if not fields:
                raise ValueError("No fields in record")
            if len(fields) != expected:
                raise ValueError(
                    f"Column count mismatch on deserialization. topic: {topic}, "
                    f"expected: {expected}, got: {len(fields)}"
                )
            return [p(f) if f else None for p, f in zip(parsers, fields, strict=True)]
        except (ValueError, InvalidOperation, csv.Error) as e:
            reason = e.message if isinstance(e, CoercionError) else str(e)
            raise SerdeError(f"Error deserializing delimited: {reason}") from None

    return deserialize
