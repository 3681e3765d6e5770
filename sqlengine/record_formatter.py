"""PRINT's view of a topic: each record as a line of text, and the formats its keys and values
may be written in, as ksqlDB's RecordFormatter guesses them.

Every format starts as a candidate; a key (or value) that a format cannot read strikes it
off, so the list narrows as records are seen. A record is shown as the first candidate left
reads it. Schema Registry formats (AVRO, PROTOBUF, JSON_SR) read a record when it is framed
with the id of a registered schema of their kind. `FormatsTracker` writes the "Key format:" and
"Value format:" lines whenever the lists change. Unlike ksqlDB, keys are not also tried as
windowed keys (SESSION(...), TUMBLING(...)): any string key of 8 bytes or more reads as one,
which shows keys as windows they are not.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlengine.javatext import java_double_str
from sqlengine.log.base import Record
from sqlengine.schema_registry import SchemaRegistry
from sqlengine.serde.registry_serde import parse_registered
from sqlengine.serde.schemas import Reader
from sqlengine.serde.wire import unframe

NO_DATA = "¯\\_(ツ)_/¯ - no data processed"
NO_FORMAT = (
    " does not match any supported format. "
    "It may be a STRING with encoding other than UTF8, or some other format."
)
_ROWTIME_PATTERN = "%Y/%m/%d %H:%M:%S"
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_DOUBLE = struct.Struct(">d")

Decode = Callable[[bytes], str]


class NotThisFormat(Exception):
    """The bytes cannot be read in the format tried."""


def rowtime_text(timestamp: int) -> str:
    """A record's timestamp as PRINT shows it: `yyyy/MM/dd HH:mm:ss.SSS Z`, in UTC."""
    if timestamp < 0:
        return "N/A"
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=timestamp)
    return f"{moment.strftime(_ROWTIME_PATTERN)}.{timestamp % 1000:03d} Z"


def _text(data: bytes) -> str:
    """UTF-8 text, as Kafka's StringDeserializer reads it; empty or malformed is no text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotThisFormat("not UTF-8") from exc
    if not text or "\ufffd" in text:
        raise NotThisFormat("empty, or holds a replacement character")
    return text


def _json(data: bytes) -> str:
    text = _text(data)
    try:
        json.loads(text)
    except ValueError as exc:
        raise NotThisFormat("not JSON") from exc
    return text  # the record's own text, as written


def _fixed(layout: struct.Struct, show: Callable[[Any], str]) -> Decode:
    def decode(data: bytes) -> str:
        if len(data) != layout.size:
            raise NotThisFormat(f"not {layout.size} bytes")
        return show(layout.unpack(data)[0])

    return decode


def _bytes_text(data: bytes) -> str:
    """Kafka's Bytes.toString: printable ASCII as it is, other bytes as \\xNN."""
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02X}" for b in data)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _avro_text(value: Any) -> str:
    """As Avro's GenericRecord.toString writes a record: JSON with spaces after `:` and `,`."""
    return json.dumps(_plain(value), separators=(", ", ": "), ensure_ascii=False)


def _json_sr_text(value: Any) -> str:
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def _protobuf_text(value: Any) -> str:
    """As protobuf's TextFormat shortDebugString writes a message: `A: 1 B { C: "x" }`."""

    def fields(message: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for name, v in message.items():
            for item in v if isinstance(v, list) else [v]:
                if item is None:
                    continue
                if isinstance(item, dict):
                    out.append(f"{name} {{ {' '.join(fields(item))} }}")
                elif isinstance(item, str):
                    out.append(f"{name}: {json.dumps(item, ensure_ascii=False)}")
                elif isinstance(item, bool):
                    out.append(f"{name}: {'true' if item else 'false'}")
                else:
                    out.append(f"{name}: {item}")
        return out

    return " ".join(fields(value)) if isinstance(value, dict) else str(value)


class _RegistryFormat:
    """AVRO, PROTOBUF or JSON_SR: records framed with a registered schema of that kind."""

    def __init__(self, registry: SchemaRegistry, schema_type: str, show: Callable[[Any], str]):
        self.registry = registry
        self.schema_type = schema_type
        self.show = show
        self.readers: dict[int, Reader | None] = {}

    def __call__(self, data: bytes) -> str:
        try:
            schema_id, payload = unframe(data)
        except Exception as exc:
            raise NotThisFormat("not framed") from exc
        read = self._reader(schema_id)
        if read is None:
            raise NotThisFormat(f"no {self.schema_type} schema with id {schema_id}")
        try:
            return self.show(read(payload))
        except Exception as exc:  # noqa: BLE001 - the codecs raise their own kinds on bad bytes
            raise NotThisFormat(str(exc)) from exc

    def _reader(self, schema_id: int) -> Reader | None:
        if schema_id not in self.readers:
            registered = self.registry.by_id(schema_id)
            self.readers[schema_id] = (
                parse_registered(registered, self.registry).reader()
                if registered is not None and registered.schema_type == self.schema_type
                else None
            )
        return self.readers[schema_id]


def _formats(registry: SchemaRegistry) -> list[tuple[str, Decode]]:
    """The formats tried, in ksqlDB's order: the first one left shows a record."""
    return [
        ("AVRO", _RegistryFormat(registry, "AVRO", _avro_text)),
        ("PROTOBUF", _RegistryFormat(registry, "PROTOBUF", _protobuf_text)),
        ("JSON", _json),
        ("JSON_SR", _RegistryFormat(registry, "JSON", _json_sr_text)),
        ("KAFKA_INT", _fixed(_INT, str)),
        ("KAFKA_BIGINT", _fixed(_LONG, str)),
        ("KAFKA_DOUBLE", _fixed(_DOUBLE, java_double_str)),
        ("KAFKA_STRING", _text),
    ]


class FormatGuess:
    """The formats one side of the records (keys or values) may be in, narrowed by each read."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.candidates = _formats(registry)
        self.seen_data = False

    def format(self, data: bytes | None) -> str:
        if data is None:
            return "<null>"
        self.seen_data = True
        shown: str | None = None
        left: list[tuple[str, Decode]] = []
        for name, decode in self.candidates:
            try:
                text = decode(data)
            except NotThisFormat:
                continue
            left.append((name, decode))
            if shown is None:
                shown = text
        self.candidates = left
        return shown if shown is not None else _bytes_text(data)

    def possible(self) -> list[str]:
        if not self.seen_data:
            return [NO_DATA]
        return [name for name, _ in self.candidates]


class RecordFormatter:
    """Records of one topic as PRINT lines, guessing their key and value formats as it goes."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.keys = FormatGuess(registry)
        self.values = FormatGuess(registry)
        self.tracker = FormatsTracker()

    def format(self, record: Record) -> str:
        return (
            f"rowtime: {rowtime_text(record.timestamp)}, key: {self.keys.format(record.key)}, "
            f"value: {self.values.format(record.value)}, partition: {record.partition}"
        )

    def format_lines(self, records: list[Record]) -> list[str]:
        """The lines of `records`, after the format lines when the guesses changed."""
        lines = [self.format(r) for r in records]
        return [*self.tracker.changes(self), *lines] if lines else []


class FormatsTracker:
    """The "Key format:" and "Value format:" lines, written again only when they change."""

    def __init__(self) -> None:
        self.shown: dict[str, list[str] | None] = {"Key format: ": None, "Value format: ": None}

    def changes(self, formatter: RecordFormatter) -> list[str]:
        lines = []
        now = {
            "Key format: ": formatter.keys.possible(),
            "Value format: ": formatter.values.possible(),
        }
        for prefix, formats in now.items():
            if formats != self.shown[prefix]:
                self.shown[prefix] = formats
                lines.append(prefix + (" or ".join(formats) if formats else NO_FORMAT))
        return lines
