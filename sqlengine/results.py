"""Typed results of `Engine.execute`: one per statement, shaped after ksqlDB's REST entities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlengine.processing_log import LogEntry
from sqlengine.topic_statistics import TopicStatistics


class StatementError(Exception):
    """A statement failed. `message` is ksqlDB-worded; `statement` is the statement's text."""

    def __init__(self, message: str, statement: str = "", line: int = 0, column: int = 0):
        super().__init__(message)
        self.message = message
        self.statement = statement
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.statement:
            return f"{self.message}\nStatement: {self.statement}"
        return self.message


class AssertionFailed(StatementError):
    """An ASSERT that still failed when its timeout ran out (ksqlDB answers 417)."""


@dataclass
class Result:
    statement: str


@dataclass
class CommandStatus(Result):
    """A statement that changed the catalog or started/stopped a query."""

    message: str
    command_id: str = ""
    query_id: str | None = None


@dataclass
class SourceSummary:
    name: str
    kind: str
    topic: str
    key_format: str
    value_format: str
    windowed: bool


@dataclass
class SourceList(Result):
    kind: str  # STREAM | TABLE
    sources: list[SourceSummary]


@dataclass
class QuerySummary:
    query_id: str
    sql: str
    sinks: list[str]
    state: str


@dataclass
class QueryList(Result):
    queries: list[QuerySummary]


@dataclass
class SourceDescriptionResult(Result):
    name: str
    kind: str
    columns: list[tuple[str, str, str | None]]  # name, type, KEY/HEADERS/...
    topic: str
    key_format: str
    value_format: str
    timestamp: str | None
    read_queries: list[QuerySummary]
    write_queries: list[QuerySummary]
    extended: bool
    statement_text: str
    partitions: int = 1
    runtime: TopicStatistics | None = None  # DESCRIBE ... EXTENDED: the topic's statistics
    host: str = ""  # the server the statistics are of (host:port)


@dataclass
class SourceDescriptionList(Result):
    """DESCRIBE STREAMS / DESCRIBE TABLES: every source of the kind."""

    descriptions: list[SourceDescriptionResult]


@dataclass
class TopicList(Result):
    topics: list[tuple[str, int]]  # name, partitions
    consumer_groups: dict[str, int] | None = None  # SHOW TOPICS EXTENDED: groups per topic


@dataclass
class PropertyList(Result):
    properties: dict[str, str]
    overwritten: list[str] = field(default_factory=list)  # SET in this session or request
    defaults: list[str] = field(default_factory=list)  # neither configured nor SET


@dataclass
class FunctionList(Result):
    functions: list[tuple[str, str, str]]  # name, kind, category


@dataclass
class FunctionDescription(Result):
    name: str
    kind: str
    description: str
    signatures: list[tuple[str, str, str]]
    author: str = ""
    version: str = ""
    path: str = "internal"  # ksqlDB's jar: where a user-defined function was loaded from


@dataclass
class TypeList(Result):
    types: dict[str, str]


@dataclass
class VariableList(Result):
    variables: dict[str, str]


@dataclass
class ExplainResult(Result):
    query_id: str | None
    sql: str
    plan: str  # the logical plan
    topology: str = ""  # the physical plan: operators, stores, topics, tasks
    sources: list[str] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    query_type: str = "PUSH"  # PERSISTENT (a running query), PUSH or PULL
    state: str | None = None  # a persistent query's: RUNNING, PAUSED, ERROR
    runtime: TopicStatistics | None = None  # a persistent query's statistics
    errors: list[LogEntry] = field(default_factory=list)  # its latest failed records
    host: str = ""


@dataclass
class Rows(Result):
    """Rows of a query (pull query, or a bounded read of a stream)."""

    columns: list[tuple[str, str]]  # name, type
    rows: list[list[Any]]


@dataclass
class PrintedRecords(Result):
    lines: list[str]


@dataclass
class Entity(Result):
    """A result already in the shape of ksqlDB's REST entity (the connector statements')."""

    body: dict[str, Any]


@dataclass
class Warning(Result):
    message: str


@dataclass
class AssertTopicResult(Result):
    topic: str
    exists: bool


@dataclass
class AssertSchemaResult(Result):
    subject: str | None
    schema_id: int | None
    exists: bool


@dataclass
class Handled(Result):
    """A statement done with nothing to show (a DEFINE): ksqlDB's REST answer lists no entity
    for it."""
