"""Protobuf compatibility, as Confluent's registry judges a change of schema file.

Protobuf data carries field numbers and wire types, not names, so fields match by number
and renaming, adding or removing a field (or a message) is compatible. Incompatible: a
changed package; a message of the writer's file missing from the reader's; a field whose
wire type changes (scalars stay compatible within a group: int32/uint32/int64/uint64/bool
and enums, sint32/sint64, fixed32/sfixed32, fixed64/sfixed64, string/bytes), whose kind
changes (scalar, enum, message) or whose message type changes; a proto2 `required` field
added or removed; a field leaving a oneof, or several joining one.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from sqlengine.serde.protobuf_schema import ProtoFile

FD = FieldDescriptor
_SCALAR_GROUPS = [
    {FD.TYPE_INT32, FD.TYPE_UINT32, FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_BOOL, FD.TYPE_ENUM},
    {FD.TYPE_SINT32, FD.TYPE_SINT64},
    {FD.TYPE_FIXED32, FD.TYPE_SFIXED32},
    {FD.TYPE_FIXED64, FD.TYPE_SFIXED64},
    {FD.TYPE_STRING, FD.TYPE_BYTES},
]


def protobuf_incompatibilities(reader: ProtoFile, writer: ProtoFile) -> list[str]:
    """Why data written with the `writer` file cannot be read with the `reader` file."""
    reasons: list[str] = []
    if reader.package != writer.package:
        reasons.append(f"PACKAGE_CHANGED: {writer.package!r} -> {reader.package!r}")
    readers = dict(_messages(reader))
    for name, written in _messages(writer):
        found = readers.get(name)
        if found is None:
            reasons.append(f"MESSAGE_REMOVED: #/{name}")
        else:
            reasons.extend(_fields(found, written, name))
    return reasons


def _messages(file: ProtoFile) -> Iterator[tuple[str, Descriptor]]:
    """Every message of the file (nested ones too), by its name within the package."""
    pending = [file.pool.FindMessageTypeByName(file.qualified(m)) for m in file.messages]
    prefix = f"{file.package}." if file.package else ""
    while pending:
        desc = pending.pop(0)
        if not desc.GetOptions().map_entry:
            yield desc.full_name.removeprefix(prefix), desc
        pending.extend(desc.nested_types)


def _kind(f: FieldDescriptor) -> str:
    if f.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
        return "message"
    return "enum" if f.type == FD.TYPE_ENUM else "scalar"


def _relative(desc: Descriptor) -> str:
    package = desc.file.package
    return desc.full_name.removeprefix(f"{package}.") if package else desc.full_name


def _required(f: FieldDescriptor) -> bool:
    return bool(f.is_required)


def _oneof(f: FieldDescriptor) -> str | None:
    """The real (not proto3 `optional`) oneof the field belongs to."""
    oneof = f.containing_oneof
    if oneof is None or (len(oneof.fields) == 1 and oneof.name == f"_{f.name}"):
        return None
    return oneof.name


def _fields(reader: Descriptor, writer: Descriptor, name: str) -> list[str]:
    reasons: list[str] = []
    where = f"#/{name}"
    for number, w in writer.fields_by_number.items():
        r = reader.fields_by_number.get(number)
        at = f"{where}/{number}"
        if r is None:
            if _required(w):
                reasons.append(f"REQUIRED_FIELD_REMOVED: {at}")
            if _oneof(w) is not None:
                reasons.append(f"ONEOF_FIELD_REMOVED: {at}")
            continue
        if _kind(r) != _kind(w):
            reasons.append(f"FIELD_KIND_CHANGED: {at}")
        elif _kind(r) == "message":
            if _relative(r.message_type) != _relative(w.message_type):
                reasons.append(f"FIELD_NAMED_TYPE_CHANGED: {at}")
        elif r.type != w.type and not any({r.type, w.type} <= g for g in _SCALAR_GROUPS):
            reasons.append(f"FIELD_SCALAR_KIND_CHANGED: {at}")
        if _required(r) != _required(w):
            change = "ADDED" if _required(r) else "REMOVED"
            reasons.append(f"REQUIRED_FIELD_{change}: {at}")
        if _oneof(w) is not None and _oneof(r) is None:
            reasons.append(f"ONEOF_FIELD_REMOVED: {at}")
    for number, r in reader.fields_by_number.items():
        if number not in writer.fields_by_number and _required(r):
            reasons.append(f"REQUIRED_FIELD_ADDED: {where}/{number}")
    moved: dict[str, int] = {}
    for number, r in reader.fields_by_number.items():
        w = writer.fields_by_number.get(number)
        oneof = _oneof(r)
        if w is not None and oneof is not None and _oneof(w) is None:
            moved[oneof] = moved.get(oneof, 0) + 1
    reasons.extend(
        f"MULTIPLE_FIELDS_MOVED_TO_ONEOF: {where}/{oneof}" for oneof, n in moved.items() if n > 1
    )
    return reasons
