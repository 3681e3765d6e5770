""".proto text -> protobuf descriptors at run time (no protoc), and ksqlDB's .proto of a schema.

`proto_file(text, imports)` parses with proto-schema-parser and builds FileDescriptorProtos into
a fresh DescriptorPool (one per schema: every ksqlDB schema names its message ConnectDefault1).
Imports resolve to: the schemas a registered schema references (by import name), the
well-known types shipped with the protobuf package, and the Confluent/Google types ksqlDB uses
(confluent/type/decimal.proto, google/type/date.proto, google/type/timeofday.proto). Options
are not kept in descriptors; a decimal field's precision and scale (its confluent.field_meta
params) are kept beside them in `ProtoFile.decimals`.

A schema may also be a base64 FileDescriptorProto, as Confluent's Protobuf serializers
register it; `serialized_text` gives any schema file in that form.

`derive_proto_text(columns, ...)` writes ksqlDB's schema for columns: message ConnectDefault1
with the columns as fields numbered from 1, a STRUCT as a nested message ConnectDefault2...,
nullable primitives plain (proto3 defaults), `optional`, or wrapper types as
`nullableRepresentation` says.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import lru_cache

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError
from proto_schema_parser import ast as past
from proto_schema_parser.parser import Parser

from sqlengine import types as T
from sqlengine.serde.base import SerdeError
from sqlengine.serde.schemas import PROTOBUF_MESSAGE

FDP = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    "double": FDP.TYPE_DOUBLE,
    "float": FDP.TYPE_FLOAT,
    "int64": FDP.TYPE_INT64,
    "uint64": FDP.TYPE_UINT64,
    "int32": FDP.TYPE_INT32,
    "fixed64": FDP.TYPE_FIXED64,
    "fixed32": FDP.TYPE_FIXED32,
    "bool": FDP.TYPE_BOOL,
    "string": FDP.TYPE_STRING,
    "bytes": FDP.TYPE_BYTES,
    "uint32": FDP.TYPE_UINT32,
    "sfixed32": FDP.TYPE_SFIXED32,
    "sfixed64": FDP.TYPE_SFIXED64,
    "sint32": FDP.TYPE_SINT32,
    "sint64": FDP.TYPE_SINT64,
}
_SHIPPED = {
    m.DESCRIPTOR.name: m.DESCRIPTOR
    for m in (any_pb2, descriptor_pb2, duration_pb2, empty_pb2, struct_pb2, timestamp_pb2)
}
_SHIPPED[wrappers_pb2.DESCRIPTOR.name] = wrappers_pb2.DESCRIPTOR
_BUILT_IN = {
    "confluent/type/decimal.proto": (
        'syntax = "proto3"; package confluent.type; '
        "message Decimal { bytes value = 1; uint32 precision = 2; int32 scale = 3; }"
    ),
    "confluent/meta.proto": (
        'syntax = "proto3"; package confluent; '
        "message Meta { string doc = 1; map<string, string> params = 2; }"
    ),
    "google/type/date.proto": (
        'syntax = "proto3"; package google.type; '
        "message Date { int32 year = 1; int32 month = 2; int32 day = 3; }"
    ),
    "google/type/timeofday.proto": (
        'syntax = "proto3"; package google.type; '
        "message TimeOfDay { int32 hours = 1; int32 minutes = 2; int32 seconds = 3; "
        "int32 nanos = 4; }"
    ),
}
DECIMAL_MESSAGE = "confluent.type.Decimal"
_MAIN = "schema.proto"


@dataclass
class ProtoFile:
    """A parsed schema file: its messages in the pool, in file order (for message indexes)."""

    pool: descriptor_pool.DescriptorPool
    package: str
    messages: list[str]  # top-level message names, in order
    decimals: dict[tuple[str, str], T.Decimal] = field(default_factory=dict)

    def message(self, full_name: str | None) -> tuple[Descriptor, list[int]]:
        """The message named `full_name` (default: the first), with its message indexes."""
        if not self.messages:
            raise SerdeError("Protobuf schema has no messages")
        if full_name is None:
            return self._find(self.qualified(self.messages[0])), [0]
        qualified = full_name if "." in full_name else self.qualified(full_name)
        desc = self._find(qualified) or self._find(full_name)
        if desc is None:
            raise SerdeError(f"Schema {full_name} not found in the Protobuf schema")
        return desc, _indexes(desc)

    def qualified(self, name: str) -> str:
        return f"{self.package}.{name}" if self.package else name

    def _find(self, name: str) -> Descriptor | None:
        try:
            return self.pool.FindMessageTypeByName(name)
        except KeyError:
            return None


def _indexes(desc: Descriptor) -> list[int]:
    path = []
    while desc.containing_type is not None:
        parent = desc.containing_type
        path.append(list(parent.nested_types).index(desc))
        desc = parent
    path.append(list(desc.file.message_types_by_name).index(desc.name))
    return path[::-1]


def _parse(text: str) -> past.File:
    try:
        return Parser().parse(text)
    except Exception as exc:  # noqa: BLE001 - the parser raises its own kinds
        raise SerdeError(f"Invalid Protobuf schema: {exc}") from exc


@lru_cache(maxsize=256)
def _cached_file(text: str, imports: tuple[tuple[str, str], ...]) -> ProtoFile:
    pool = descriptor_pool.DescriptorPool()
    decimals: dict[tuple[str, str], T.Decimal] = {}
    added: set[str] = set()
    available = dict(imports)

    def add(name: str, source: str) -> past.File:
        parsed = _parse(source)
        for el in parsed.file_elements:
            if isinstance(el, past.Import):
                _add_import(el.name)
        proto, found = _file_proto(name, parsed)
        decimals.update(found)
        pool.Add(proto)
        added.add(name)
        return parsed

    def _add_import(name: str) -> None:
        if name in added:
            return
        if name in _SHIPPED:
            proto = descriptor_pb2.FileDescriptorProto()
            _SHIPPED[name].CopyToProto(proto)
            for dep in proto.dependency:
                _add_import(dep)
            pool.Add(proto)
            added.add(name)
        elif name in available or name in _BUILT_IN:
            add(name, available.get(name) or _BUILT_IN[name])
        else:
            raise SerdeError(f"Protobuf schema imports unknown file {name}")

    serialized = _serialized(text)
    if serialized is not None:
        serialized.name = _MAIN
        for dep in serialized.dependency:
            _add_import(dep)
        pool.Add(serialized)
        names = [m.name for m in serialized.message_type]
        return ProtoFile(pool, serialized.package, names, decimals)
    main = add(_MAIN, text)
    package = next((el.name for el in main.file_elements if isinstance(el, past.Package)), "")
    messages = [el.name for el in main.file_elements if isinstance(el, past.Message)]
    try:
        pool.FindFileByName(_MAIN)
    except KeyError as exc:
        raise SerdeError(f"Invalid Protobuf schema: {exc}") from exc
    return ProtoFile(pool, package, messages, decimals)


def _serialized(text: str) -> descriptor_pb2.FileDescriptorProto | None:
    """A schema as Confluent's Protobuf serializers send it: a base64 FileDescriptorProto."""
    if not text or any(c in text for c in " ;{"):
        return None
    try:
        return descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(text, validate=True))
    except (ValueError, DecodeError):
        return None


def serialized_text(file: ProtoFile) -> str:
    """The schema file as a base64 FileDescriptorProto (the registry's `format=serialized`)."""
    proto = descriptor_pb2.FileDescriptorProto()
    file.pool.FindFileByName(_MAIN).CopyToProto(proto)
    return base64.b64encode(proto.SerializeToString()).decode("ascii")


def proto_file(text: str, imports: dict[str, str] | None = None) -> ProtoFile:
    """The schema file `text`; `imports`: import name -> text of referenced schemas."""
    try:
        return _cached_file(text, tuple(sorted((imports or {}).items())))
    except TypeError as exc:  # the pool refuses an inconsistent file
        raise SerdeError(f"Invalid Protobuf schema: {exc}") from exc


def _file_proto(
    name: str, parsed: past.File
) -> tuple[descriptor_pb2.FileDescriptorProto, dict[tuple[str, str], T.Decimal]]:
    proto = descriptor_pb2.FileDescriptorProto(name=name, syntax=parsed.syntax or "proto2")
    decimals: dict[tuple[str, str], T.Decimal] = {}
    package = ""
    for el in parsed.file_elements:
        if isinstance(el, past.Import):
            proto.dependency.append(el.name)
        elif isinstance(el, past.Package):
            package = proto.package = el.name
    for el in parsed.file_elements:
        if isinstance(el, past.Message):
            _message(proto.message_type.add(), el, package, proto.syntax, decimals)
        elif isinstance(el, past.Enum):
            _enum(proto.enum_type.add(), el)
    return proto, decimals


def _enum(proto: descriptor_pb2.EnumDescriptorProto, enum: past.Enum) -> None:
    proto.name = enum.name
    for v in enum.elements:
        if isinstance(v, past.EnumValue):
            proto.value.add(name=v.name, number=v.number)


def _message(
    proto: descriptor_pb2.DescriptorProto,
    msg: past.Message,
    scope: str,
    syntax: str,
    decimals: dict[tuple[str, str], T.Decimal],
) -> None:
    proto.name = msg.name
    full = f"{scope}.{msg.name}" if scope else msg.name
    optionals: list[descriptor_pb2.FieldDescriptorProto] = []
    for el in msg.elements:
        if isinstance(el, past.Field):
            f = _field(proto, el, full, decimals)
            if el.cardinality == past.FieldCardinality.OPTIONAL and syntax == "proto3":
                optionals.append(f)
        elif isinstance(el, past.MapField):
            entry = proto.nested_type.add(name=_camel(el.name) + "Entry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, label=FDP.LABEL_OPTIONAL, **_typed(el.key_type))
            entry.field.add(
                name="value", number=2, label=FDP.LABEL_OPTIONAL, **_typed(el.value_type)
            )
            proto.field.add(
                name=el.name, number=el.number, label=FDP.LABEL_REPEATED, type_name=entry.name
            )
        elif isinstance(el, past.OneOf):
            index = len(proto.oneof_decl)
            proto.oneof_decl.add(name=el.name)
            for member in el.elements:
                if isinstance(member, past.Field):
                    _field(proto, member, full, decimals).oneof_index = index
        elif isinstance(el, past.Message):
            _message(proto.nested_type.add(), el, full, syntax, decimals)
        elif isinstance(el, past.Enum):
            _enum(proto.enum_type.add(), el)
    # proto3 `optional` is a synthetic one-field oneof, after the real ones.
    for f in optionals:
        f.proto3_optional = True
        f.oneof_index = len(proto.oneof_decl)
        proto.oneof_decl.add(name="_" + f.name)


def _typed(type_name: str) -> dict[str, object]:
    if type_name in SCALARS:
        return {"type": SCALARS[type_name]}
    return {"type_name": type_name}


def _field(
    proto: descriptor_pb2.DescriptorProto,
    el: past.Field,
    message: str,
    decimals: dict[tuple[str, str], T.Decimal],
) -> descriptor_pb2.FieldDescriptorProto:
    label = {
        past.FieldCardinality.REPEATED: FDP.LABEL_REPEATED,
        past.FieldCardinality.REQUIRED: FDP.LABEL_REQUIRED,
    }.get(el.cardinality, FDP.LABEL_OPTIONAL)  # type: ignore[arg-type]
    if el.type.lstrip(".").endswith(DECIMAL_MESSAGE):
        decimals[(message, el.name)] = _decimal_params(el.options)
    return proto.field.add(name=el.name, number=el.number, label=label, **_typed(el.type))


def _decimal_params(options: list[past.Option]) -> T.Decimal:
    """DECIMAL(precision, scale) from a field's confluent.field_meta params (default 64, 0)."""
    params: dict[str, str] = {}
    for opt in options:
        if "field_meta" not in opt.name or not isinstance(opt.value, past.MessageLiteral):
            continue
        for meta in opt.value.elements:
            entries = meta.value if isinstance(meta.value, list) else [meta.value]
            for entry in entries:
                if isinstance(entry, past.MessageLiteral):
                    kv = {e.name: e.value for e in entry.elements}
                    params[str(kv.get("key"))] = str(kv.get("value"))
    return T.Decimal(int(params.get("precision", 64)), int(params.get("scale", 0)))


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


# ---------------------------------------------------------------------- ksqlDB's schemas

_PROTO_SCALARS = {
    T.Base.BOOLEAN: "bool",
    T.Base.INTEGER: "int32",
    T.Base.BIGINT: "int64",
    T.Base.DOUBLE: "double",
    T.Base.STRING: "string",
    T.Base.BYTES: "bytes",
}
_WRAPPERS = {
    T.Base.BOOLEAN: "google.protobuf.BoolValue",
    T.Base.INTEGER: "google.protobuf.Int32Value",
    T.Base.BIGINT: "google.protobuf.Int64Value",
    T.Base.DOUBLE: "google.protobuf.DoubleValue",
    T.Base.STRING: "google.protobuf.StringValue",
    T.Base.BYTES: "google.protobuf.BytesValue",
}
_MESSAGES = {
    T.Base.DECIMAL: ("confluent.type.Decimal", "confluent/type/decimal.proto"),
    T.Base.DATE: ("google.type.Date", "google/type/date.proto"),
    T.Base.TIME: ("google.type.TimeOfDay", "google/type/timeofday.proto"),
    T.Base.TIMESTAMP: ("google.protobuf.Timestamp", "google/protobuf/timestamp.proto"),
}


class _Writer:
    """Writes the .proto text of ksqlDB's schema, collecting imports and nested messages."""

    def __init__(self, nullable: str | None) -> None:
        self.nullable = nullable
        self.imports: set[str] = set()
        self.counter = 1

    def message(self, name: str, fields: list[tuple[str, T.SqlType]], indent: str) -> str:
        nested: list[str] = []
        lines = []
        for number, (fname, t) in enumerate(fields, start=1):
            lines.append(f"{indent}  {self._field(fname, t, number, nested, indent + '  ')}")
        body = "\n".join(lines + nested)
        return f"{indent}message {name} {{\n{body}\n{indent}}}\n"

    def _type(self, t: T.SqlType, nested: list[str], indent: str, top: bool) -> str:
        if isinstance(t, T.Struct):
            self.counter += 1
            name = f"ConnectDefault{self.counter}"
            nested.append(self.message(name, [(f.name, f.type) for f in t.fields], indent))
            return name
        if t.base in _MESSAGES:
            name, imported = _MESSAGES[t.base]
            self.imports.add(imported)
            return name
        if isinstance(t, T.Array | T.Map):
            raise SerdeError(f"PROTOBUF format does not support nested type {t}")
        if top and self.nullable == "wrapper":
            self.imports.add("google/protobuf/wrappers.proto")
            return _WRAPPERS[t.base]
        return _PROTO_SCALARS[t.base]

    def _field(self, name: str, t: T.SqlType, number: int, nested: list[str], indent: str) -> str:
        if isinstance(t, T.Array):
            return f"repeated {self._type(t.element, nested, indent, False)} {name} = {number};"
        if isinstance(t, T.Map):
            if t.key.base is not T.Base.STRING:
                raise SerdeError("PROTOBUF format only supports MAP types with STRING keys")
            value = self._type(t.value, nested, indent, False)
            return f"map<string, {value}> {name} = {number};"
        type_name = self._type(t, nested, indent, True)
        primitive = type_name in _PROTO_SCALARS.values()
        if primitive and self.nullable == "optional":
            return f"optional {type_name} {name} = {number};"
        if t.base is T.Base.DECIMAL:
            assert isinstance(t, T.Decimal)
            meta = (
                f'[(confluent.field_meta) = {{ params: [{{ key: "precision", value: '
                f'"{t.precision}" }}, {{ key: "scale", value: "{t.scale}" }}] }}]'
            )
            return f"{type_name} {name} = {number} {meta};"
        return f"{type_name} {name} = {number};"


def derive_proto_text(
    columns: list[tuple[str, T.SqlType]], *, full_name: str | None, nullable: str | None
) -> str:
    """ksqlDB's .proto schema of `columns` (message ConnectDefault1, or `full_name`)."""
    writer = _Writer(nullable.lower() if nullable else None)
    package, _, name = (full_name or PROTOBUF_MESSAGE).rpartition(".")
    body = writer.message(name, columns, "")
    head = 'syntax = "proto3";\n\n'
    if package:
        head += f"package {package};\n\n"
    imports = "".join(f'import "{i}";\n' for i in sorted(writer.imports))
    return head + (imports + "\n" if imports else "") + body
