"""What a Schema Registry format's schema offers the serdes, and naming shared by the formats.

A `PhysicalSchema` is one parsed schema (an Avro schema, a Protobuf message, a JSON schema):
the SQL type it carries (for schema inference, and to read test data), a writer of generic
values (value forms of sqlengine/types.py: a STRUCT or a whole row as a dict by field name,
matched to the schema's fields by exact name, then ignoring case) into its payload, and a
reader of payloads into JSON-like objects (dicts by the schema's field names, lists, numbers,
Decimal, text; BYTES as base64 text; DATE/TIME/TIMESTAMP as ints) that
sqlengine/serde/coerce.py then reads into a source's columns with ksqlDB's coercions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from sqlengine.types import Array, Field, Map, SqlType, Struct

Writer = Callable[[Any], bytes]
Reader = Callable[[bytes], Any]

# ksqlDB's names for the records/messages it generates, and for columns of anonymous schemas.
AVRO_NAMESPACE = "io.confluent.ksql.avro_schemas"
AVRO_RECORD = "KsqlDataSourceSchema"
PROTOBUF_MESSAGE = "ConnectDefault1"
ANONYMOUS_KEY = "ROWKEY"
ANONYMOUS_VALUE = "ROWVAL"


class PhysicalSchema(ABC):
    schema_type: str  # as the registry names it: AVRO, PROTOBUF, JSON
    text: str  # the schema text registered
    # Protobuf: which message of the file this is, written after the schema id.
    message_indexes: list[int] | None = None

    @abstractmethod
    def sql_type(self) -> SqlType:
        """The SQL type of what the schema describes, with its field names as written."""

    @abstractmethod
    def writer(self) -> Writer:
        """Generic value (not None) -> payload."""

    @abstractmethod
    def reader(self) -> Reader:
        """Payload -> JSON-like object (None for a null value)."""


def field_lookup(names: list[str]) -> Callable[[Mapping[str, Any]], list[Any]]:
    """Reads the values of the schema fields `names` from a dict keyed by SQL field names:
    exact name first, then ignoring case (a schema `v0` takes column `V0`); missing is None."""

    def lookup(obj: Mapping[str, Any]) -> list[Any]:
        out = []
        folded: dict[str, Any] | None = None
        for name in names:
            if name in obj:
                out.append(obj[name])
                continue
            if folded is None:
                folded = {k.upper(): v for k, v in obj.items()}
            out.append(folded.get(name.upper()))
        return out

    return lookup


def upper_names(t: SqlType) -> SqlType:
    """`t` with every STRUCT field name upper-cased, as schema inference names columns when
    no schema id is given."""
    if isinstance(t, Struct):
        return Struct(tuple(Field(f.name.upper(), upper_names(f.type)) for f in t.fields))
    if isinstance(t, Array):
        return Array(upper_names(t.element))
    if isinstance(t, Map):
        return Map(t.key, upper_names(t.value))
    return t
