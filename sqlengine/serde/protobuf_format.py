"""PROTOBUF / PROTOBUF_NOSR: values <-> protobuf messages built from descriptors at run time.

Reading as ksqlDB's Connect converter does: a proto3 field without presence reads as its
default (0, false, "", [], {}), a message field or `optional` scalar that is not set as NULL;
google.protobuf wrappers are their primitive, google.protobuf.Timestamp TIMESTAMP,
google.type.Date DATE, google.type.TimeOfDay TIME, confluent.type.Decimal DECIMAL (its
precision and scale from the field's confluent.field_meta), enums STRING (the value's name),
uint32/int64/uint64/sint64/fixed* BIGINT, int32/sint32/sfixed32 INT, float DOUBLE.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from sqlengine import types as T
from sqlengine.serde.base import SerdeError
from sqlengine.serde.protobuf_schema import DECIMAL_MESSAGE, ProtoFile
from sqlengine.serde.schemas import PhysicalSchema, Reader, Writer, field_lookup
from sqlengine.serde.wire import decode_message_indexes

FD = FieldDescriptor
_INT = {FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32}
_LONG = {
    FD.TYPE_INT64,
    FD.TYPE_UINT64,
    FD.TYPE_SINT64,
    FD.TYPE_FIXED64,
    FD.TYPE_SFIXED64,
    FD.TYPE_UINT32,
    FD.TYPE_FIXED32,
}
_WRAPPED = {
    "google.protobuf.BoolValue": T.BOOLEAN,
    "google.protobuf.Int32Value": T.INTEGER,
    "google.protobuf.UInt32Value": T.BIGINT,
    "google.protobuf.Int64Value": T.BIGINT,
    "google.protobuf.UInt64Value": T.BIGINT,
    "google.protobuf.FloatValue": T.DOUBLE,
    "google.protobuf.DoubleValue": T.DOUBLE,
    "google.protobuf.StringValue": T.STRING,
    "google.protobuf.BytesValue": T.BYTES,
}
_TIME_TYPES = {
    "google.protobuf.Timestamp": T.TIMESTAMP,
    "google.type.Date": T.DATE,
    "google.type.TimeOfDay": T.TIME,
}
_EPOCH = datetime.date(1970, 1, 1)
_MS_PER_HOUR = 3_600_000


def _is_map(f: FieldDescriptor) -> bool:
    return f.message_type is not None and f.message_type.GetOptions().map_entry


def _is_repeated(f: FieldDescriptor) -> bool:
    return bool(f.is_repeated)


class ProtobufSchema(PhysicalSchema):
    schema_type = "PROTOBUF"

    def __init__(
        self, text: str, file: ProtoFile, full_name: str | None, *, framed: bool = True
    ) -> None:
        self.text = text
        self.file = file
        self.framed = framed
        self.descriptor, self.message_indexes = file.message(full_name)

    # ------------------------------------------------------------------ SQL types

    def sql_type(self) -> T.SqlType:
        return self._message_type(self.descriptor)

    def _message_type(self, desc: Descriptor) -> T.SqlType:
        special = _WRAPPED.get(desc.full_name) or _TIME_TYPES.get(desc.full_name)
        if special is not None:
            return special
        return T.Struct(tuple(T.Field(f.name, self._field_type(desc, f)) for f in desc.fields))

    def _field_type(self, desc: Descriptor, f: FieldDescriptor) -> T.SqlType:
        if _is_map(f):
            key, value = f.message_type.fields
            return T.Map(self._single_type(desc, key), self._single_type(desc, value))
        single = self._single_type(desc, f)
        return T.Array(single) if _is_repeated(f) else single

    def _single_type(self, desc: Descriptor, f: FieldDescriptor) -> T.SqlType:
        if f.type == FD.TYPE_MESSAGE:
            if f.message_type.full_name == DECIMAL_MESSAGE:
                return self.file.decimals.get((desc.full_name, f.name), T.Decimal(64, 0))
            return self._message_type(f.message_type)
        if f.type == FD.TYPE_ENUM or f.type == FD.TYPE_STRING:
            return T.STRING
        if f.type in _INT:
            return T.INTEGER
        if f.type in _LONG:
            return T.BIGINT
        if f.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
            return T.DOUBLE
        if f.type == FD.TYPE_BOOL:
            return T.BOOLEAN
        return T.BYTES

    # ------------------------------------------------------------------ reading

    def reader(self) -> Reader:
        file, framed = self.file, self.framed
        classes: dict[tuple[int, ...], tuple[type[Message], Callable[[Message], Any]]] = {}

        def entry(indexes: list[int]) -> tuple[type[Message], Callable[[Message], Any]]:
            key = tuple(indexes)
            if key not in classes:
                desc = _by_indexes(file, indexes)
                classes[key] = (message_factory.GetMessageClass(desc), _message_reader(desc))
            return classes[key]

        def read(payload: bytes) -> Any:
            indexes, body = decode_message_indexes(payload) if framed else ([0], payload)
            cls, convert = entry(indexes) if framed else entry(self.message_indexes or [0])
            try:
                return convert(cls.FromString(body))
            except DecodeError as exc:
                raise SerdeError(f"Failed to parse the protobuf message: {exc}") from None

        return read

    # ------------------------------------------------------------------ writing

    def writer(self) -> Writer:
        cls = message_factory.GetMessageClass(self.descriptor)
        fill = _message_filler(self.descriptor)

        def write(value: Any) -> bytes:
            msg = cls()
            fill(msg, value)
            return msg.SerializeToString()

        return write


def _by_indexes(file: ProtoFile, indexes: list[int]) -> Descriptor:
    try:
        desc = file.pool.FindMessageTypeByName(file.qualified(file.messages[indexes[0]]))
        for i in indexes[1:]:
            desc = desc.nested_types[i]
    except (IndexError, KeyError):
        raise SerdeError(f"Invalid message indexes: {indexes}") from None
    return desc


def _scalar_reader(f: FieldDescriptor) -> Callable[[Any], Any] | None:
    if f.type == FD.TYPE_BYTES:
        return lambda b: base64.b64encode(b).decode("ascii")
    if f.type == FD.TYPE_ENUM:
        names = {v.number: v.name for v in f.enum_type.values}
        return lambda n: names.get(n, str(n))
    if f.type == FD.TYPE_MESSAGE:
        return _message_reader(f.message_type)
    return None


def _decimal_value(msg: Message) -> Decimal:
    unscaled = int.from_bytes(msg.value, "big", signed=True) if msg.value else 0  # type: ignore[attr-defined]
    return Decimal(unscaled).scaleb(-msg.scale)  # type: ignore[attr-defined]


def _timestamp_ms(msg: Message) -> int:
    return msg.seconds * 1000 + msg.nanos // 1_000_000  # type: ignore[attr-defined]


def _date_days(msg: Message) -> int:
    return (datetime.date(msg.year, msg.month, msg.day) - _EPOCH).days  # type: ignore[attr-defined]


def _time_ms(msg: Message) -> int:
    return (
        msg.hours * _MS_PER_HOUR  # type: ignore[attr-defined]
        + msg.minutes * 60_000  # type: ignore[attr-defined]
        + msg.seconds * 1000  # type: ignore[attr-defined]
        + msg.nanos // 1_000_000  # type: ignore[attr-defined]
    )


_SPECIAL_READERS: dict[str, Callable[[Message], Any]] = {
    DECIMAL_MESSAGE: _decimal_value,
    "google.protobuf.Timestamp": _timestamp_ms,
    "google.type.Date": _date_days,
    "google.type.TimeOfDay": _time_ms,
}


def _message_reader(desc: Descriptor) -> Callable[[Message], Any]:
    """Message -> JSON-like object (see sqlengine/serde/schemas.py)."""
    if desc.full_name in _SPECIAL_READERS:
        return _SPECIAL_READERS[desc.full_name]
    if desc.full_name in _WRAPPED:
        inner = _scalar_reader(desc.fields[0])
        return (lambda m: m.value) if inner is None else (lambda m: inner(m.value))  # type: ignore[attr-defined]
    fields: list[tuple[str, Callable[[Message], Any]]] = [
        (f.name, _field_reader(f)) for f in desc.fields
    ]

    def read(msg: Message) -> dict[str, Any]:
        return {name: get(msg) for name, get in fields}

    return read


def _field_reader(f: FieldDescriptor) -> Callable[[Message], Any]:
    name = f.name
    if _is_map(f):
        value = _scalar_reader(f.message_type.fields_by_name["value"])
        if value is None:
            return lambda m: dict(getattr(m, name))
        return lambda m: {k: value(v) for k, v in getattr(m, name).items()}
    convert = _scalar_reader(f)
    if _is_repeated(f):
        if convert is None:
            return lambda m: list(getattr(m, name))
        return lambda m: [convert(x) for x in getattr(m, name)]
    if f.has_presence:

        def present(m: Message) -> Any:
            if not m.HasField(name):
                return None
            v = getattr(m, name)
            return v if convert is None else convert(v)

        return present
    if convert is None:
        return lambda m: getattr(m, name)
    return lambda m: convert(getattr(m, name))


# ---------------------------------------------------------------------- writing


def _decimal_fill(msg: Message, v: Any) -> None:
    d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    _, digits, exponent = d.as_tuple()
    scale = max(0, -int(exponent))
    unscaled = int(d.scaleb(scale))
    size = (unscaled.bit_length() + 8) // 8
    msg.value = unscaled.to_bytes(size, "big", signed=True)  # type: ignore[attr-defined]
    msg.precision = max(len(digits), scale)  # type: ignore[attr-defined]
    msg.scale = scale  # type: ignore[attr-defined]


def _timestamp_fill(msg: Message, v: Any) -> None:
    ms = int(v)
    msg.seconds, rest = divmod(ms, 1000)  # type: ignore[attr-defined]
    msg.nanos = rest * 1_000_000  # type: ignore[attr-defined]


def _date_fill(msg: Message, v: Any) -> None:
    day = _EPOCH + datetime.timedelta(days=int(v))
    msg.year, msg.month, msg.day = day.year, day.month, day.day  # type: ignore[attr-defined]


def _time_fill(msg: Message, v: Any) -> None:
    hours, rest = divmod(int(v), _MS_PER_HOUR)
    minutes, rest = divmod(rest, 60_000)
    seconds, ms = divmod(rest, 1000)
    msg.hours, msg.minutes, msg.seconds = hours, minutes, seconds  # type: ignore[attr-defined]
    msg.nanos = ms * 1_000_000  # type: ignore[attr-defined]


_SPECIAL_FILLERS: dict[str, Callable[[Message, Any], None]] = {
    DECIMAL_MESSAGE: _decimal_fill,
    "google.protobuf.Timestamp": _timestamp_fill,
    "google.type.Date": _date_fill,
    "google.type.TimeOfDay": _time_fill,
}


def _scalar_writer(f: FieldDescriptor) -> Callable[[Any], Any]:
    if f.type in _INT or f.type in _LONG:
        return int
    if f.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
        return float
    if f.type == FD.TYPE_BOOL:
        return bool
    if f.type == FD.TYPE_ENUM:
        numbers = {v.name: v.number for v in f.enum_type.values}

        def enum_number(v: Any) -> int:
            if isinstance(v, int):
                return v
            if v not in numbers:
                raise SerdeError(f"Unknown enum value {v} for field {f.name}")
            return numbers[v]

        return enum_number
    if f.type == FD.TYPE_BYTES:
        return lambda v: v if isinstance(v, bytes) else base64.b64decode(v)
    return str


def _message_filler(desc: Descriptor) -> Callable[[Message, Any], None]:
    """(empty message, generic value) -> the message filled in."""
    if desc.full_name in _SPECIAL_FILLERS:
        return _SPECIAL_FILLERS[desc.full_name]
    if desc.full_name in _WRAPPED:
        convert = _scalar_writer(desc.fields[0])

        def wrap(msg: Message, v: Any) -> None:
            msg.value = convert(v)  # type: ignore[attr-defined]

        return wrap
    fields = [_field_filler(f) for f in desc.fields]
    lookup = field_lookup([f.name for f in desc.fields])

    def fill(msg: Message, v: Any) -> None:
        msg.SetInParent()
        for set_field, x in zip(fields, lookup(v), strict=True):
            if x is not None:
                set_field(msg, x)

    return fill


def _field_filler(f: FieldDescriptor) -> Callable[[Message, Any], None]:
    name = f.name
    if _is_map(f):
        value_field = f.message_type.fields_by_name["value"]
        key = _scalar_writer(f.message_type.fields_by_name["key"])
        if value_field.type == FD.TYPE_MESSAGE:
            fill_value = _message_filler(value_field.message_type)

            def set_message_map(msg: Message, v: Any) -> None:
                target = getattr(msg, name)
                for k, x in v.items():
                    if x is not None:
                        fill_value(target[key(k)], x)

            return set_message_map
        value = _scalar_writer(value_field)

        def set_map(msg: Message, v: Any) -> None:
            target = getattr(msg, name)
            for k, x in v.items():
                if x is not None:
                    target[key(k)] = value(x)

        return set_map
    if f.type == FD.TYPE_MESSAGE:
        fill = _message_filler(f.message_type)
        if _is_repeated(f):

            def set_messages(msg: Message, v: Any) -> None:
                target = getattr(msg, name)
                for x in v:
                    fill(target.add(), x if x is not None else {})

            return set_messages

        def set_message(msg: Message, v: Any) -> None:
            sub = getattr(msg, name)
            sub.SetInParent()
            fill(sub, v)

        return set_message
    convert = _scalar_writer(f)
    if _is_repeated(f):

        def set_scalars(msg: Message, v: Any) -> None:
            getattr(msg, name).extend(convert(x) for x in v if x is not None)

        return set_scalars

    def set_scalar(msg: Message, v: Any) -> None:
        setattr(msg, name, convert(v))

    return set_scalar
