"""The metastore: streams, tables, custom types and persistent queries."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlengine import types as T

KEY = "KEY"
VALUE = "VALUE"
HEADERS = "HEADERS"  # the whole header list: ARRAY<STRUCT<KEY STRING, VALUE BYTES>>
HEADER = "HEADER"  # one header's value: BYTES

HEADERS_TYPE = T.Array(T.Struct((T.Field("KEY", T.STRING), T.Field("VALUE", T.BYTES))))

# Pseudo columns readable in every query but not part of a source's schema.
ROWTIME = "ROWTIME"
ROWPARTITION = "ROWPARTITION"
ROWOFFSET = "ROWOFFSET"
WINDOWSTART = "WINDOWSTART"
WINDOWEND = "WINDOWEND"
PSEUDO_COLUMNS: tuple[tuple[str, T.SqlType], ...] = (
    (ROWTIME, T.BIGINT),
    (ROWPARTITION, T.INTEGER),
    (ROWOFFSET, T.BIGINT),
)
RAW_HEADERS = "$HEADERS"  # a row's record headers, passed from source to sink
SYSTEM_COLUMN_NAMES = frozenset({ROWTIME, ROWPARTITION, ROWOFFSET, WINDOWSTART, WINDOWEND})


# Formats that can write a single column either wrapped in a record or as a bare value.
WRAPPING_FORMATS = frozenset({"JSON", "JSON_SR", "AVRO", "PROTOBUF", "PROTOBUF_NOSR"})


@dataclass(frozen=True)
class SourceColumn:
    name: str
    type: T.SqlType
    kind: str = VALUE  # KEY | VALUE | HEADERS | HEADER
    header_key: str | None = None


@dataclass(frozen=True)
class Format:
    """A key or value format as declared: name plus its properties (e.g. delimiter)."""

    name: str
    properties: tuple[tuple[str, str], ...] = ()

    def prop(self, name: str) -> str | None:
        return dict(self.properties).get(name)


@dataclass(frozen=True)
class WindowInfo:
    """How a windowed source's keys are framed: TUMBLING/HOPPING/SESSION and the size."""

    kind: str
    size_ms: int | None = None


@dataclass
class DataSource:
    name: str
    kind: str  # STREAM | TABLE
    columns: list[SourceColumn]
    topic: str
    key_format: Format
    value_format: Format
    sql: str = ""
    wrap_single_value: bool | None = None
    timestamp_column: str | None = None
    timestamp_format: str | None = None
    is_source: bool = False  # CREATE SOURCE: read-only, materialized
    window: WindowInfo | None = None
    created_by_query: str | None = None

    @property
    def key_columns(self) -> list[SourceColumn]:
        return [c for c in self.columns if c.kind == KEY]

    @property
    def value_columns(self) -> list[SourceColumn]:
        return [c for c in self.columns if c.kind == VALUE]

    @property
    def header_columns(self) -> list[SourceColumn]:
        return [c for c in self.columns if c.kind in (HEADERS, HEADER)]

    @property
    def key_features(self) -> list[str]:
        """Serde features as ksqlDB lists them: a single key in a format that can both wrap
        and unwrap it is explicitly unwrapped."""
        single = len(self.key_columns) == 1
        return ["UNWRAP_SINGLES"] if single and self.key_format.name in WRAPPING_FORMATS else []

    @property
    def value_features(self) -> list[str]:
        if self.wrap_single_value is None:
            return []
        return ["WRAP_SINGLES" if self.wrap_single_value else "UNWRAP_SINGLES"]

    def column(self, name: str) -> SourceColumn | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def schema_text(self) -> str:
        """The schema as ksqlDB prints it, e.g. `ID INT KEY, NAME STRING`."""
        parts = []
        for c in self.columns:
            text = f"{T.quote_identifier(c.name)} {c.type}"
            if c.kind == KEY:
                text += " PRIMARY KEY" if self.kind == "TABLE" else " KEY"
            elif c.kind == HEADERS:
                text += " HEADERS"
            elif c.kind == HEADER:
                text += f" HEADER('{c.header_key}')"
            parts.append(text)
        return ", ".join(parts)


@dataclass
class QueryInfo:
    query_id: str
    sql: str
    sink: str | None
    sources: list[str]
    state: str = "RUNNING"


@dataclass
class Catalog:
    sources: dict[str, DataSource] = field(default_factory=dict)
    types: dict[str, T.SqlType] = field(default_factory=dict)
    queries: dict[str, QueryInfo] = field(default_factory=dict)

    def source(self, name: str) -> DataSource | None:
        return self.sources.get(name)

    def readers_of(self, name: str) -> list[str]:
        return [q.query_id for q in self.queries.values() if name in q.sources]

    def writers_of(self, name: str) -> list[str]:
        return [q.query_id for q in self.queries.values() if q.sink == name]
