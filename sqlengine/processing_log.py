"""The processing log: where bad records and failed expressions go so queries keep running.

Entries are kept in a bounded in-memory ring (DESCRIBE EXTENDED's error statistics) and
appended to the processing log topic as ksqlDB writes them (JSON):

    {"level": "ERROR", "logger": "processing.CSAS_OUT_1.KsqlTopic.Source.deserializer",
     "time": 1637600229215,
     "message": {"type": 0,
                 "deserializationError": {"target": "value", "errorMessage": "...",
                                          "recordB64": null, "cause": [], "topic": "orders"},
                 "recordProcessingError": null, "productionError": null,
                 "serializationError": null, "kafkaStreamsThreadError": null}}

with ksqlDB's properties: `ksql.logging.processing.topic.name` (default
`<service id>ksql_processing_log`), `ksql.logging.processing.topic.auto.create` and
`ksql.logging.processing.stream.auto.create` (on by default, as in ksqlDB's container images),
`ksql.logging.processing.stream.name` (KSQL_PROCESSING_LOG) and
`ksql.logging.processing.rows.include` (the failed record itself: off by default).
"""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from sqlengine.log.base import Log

TOPIC_NAME = "ksql.logging.processing.topic.name"
TOPIC_AUTO_CREATE = "ksql.logging.processing.topic.auto.create"
STREAM_NAME = "ksql.logging.processing.stream.name"
STREAM_AUTO_CREATE = "ksql.logging.processing.stream.auto.create"
ROWS_INCLUDE = "ksql.logging.processing.rows.include"
DEFAULT_STREAM = "KSQL_PROCESSING_LOG"
# ksqlDB's ProcessingLogMessageSchema.MessageType, in its order
MESSAGE_TYPES = {
    "DESERIALIZATION_ERROR": (0, "deserializationError"),
    "RECORD_PROCESSING_ERROR": (1, "recordProcessingError"),
    "PRODUCTION_ERROR": (2, "productionError"),
    "SERIALIZATION_ERROR": (3, "serializationError"),
}
_ERROR_FIELDS = [*(name for _, name in MESSAGE_TYPES.values()), "kafkaStreamsThreadError"]
_LOGGER_SUFFIX = {
    "DESERIALIZATION_ERROR": "KsqlTopic.Source.deserializer",
    "RECORD_PROCESSING_ERROR": "Project",
    "SERIALIZATION_ERROR": "KsqlTopic.Sink.serializer",
}
# The stream over the topic, with ksqlDB's columns.
_STREAM_COLUMNS = (
    "logger VARCHAR, level VARCHAR, time BIGINT, message STRUCT<type INT, "
    "deserializationError STRUCT<target VARCHAR, errorMessage VARCHAR, recordB64 VARCHAR, "
    "cause ARRAY<VARCHAR>, `topic` VARCHAR>, "
    "recordProcessingError STRUCT<errorMessage VARCHAR, record VARCHAR, cause ARRAY<VARCHAR>>, "
    "productionError STRUCT<errorMessage VARCHAR>, "
    "serializationError STRUCT<target VARCHAR, errorMessage VARCHAR, record VARCHAR, "
    "cause ARRAY<VARCHAR>, `topic` VARCHAR>, "
    "kafkaStreamsThreadError STRUCT<errorMessage VARCHAR, threadName VARCHAR, "
    "cause ARRAY<VARCHAR>>>"
)


def _enabled(config: dict[str, str], name: str, default: bool) -> bool:
    return config.get(name, str(default)).strip().lower() == "true"


def processing_log_topic(config: dict[str, str], service_id: str) -> str:
    return config.get(TOPIC_NAME) or f"{service_id}ksql_processing_log"


def processing_log_stream(config: dict[str, str], service_id: str) -> tuple[str, str] | None:
    """The processing log stream's name and CREATE STREAM statement, if it is created at
    start (`ksql.logging.processing.stream.auto.create`)."""
    if not _enabled(config, STREAM_AUTO_CREATE, True):
        return None
    name = config.get(STREAM_NAME) or DEFAULT_STREAM
    topic = processing_log_topic(config, service_id).replace("'", "''")
    return name, (
        f"CREATE STREAM {name} ({_STREAM_COLUMNS}) "
        f"WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');"
    )


@dataclass(frozen=True)
class LogEntry:
    kind: str  # a MESSAGE_TYPES name
    topic: str
    partition: int
    offset: int
    message: str
    query_id: str | None = None  # the persistent query that met the record, if one did
    time_ms: int = field(default_factory=lambda: int(time.time() * 1000))  # when it was logged


class QueryFailures:
    """What failed of one query's records from one topic, since the server started."""

    RECENT = 10_000  # failure times kept for the rate

    def __init__(self) -> None:
        self.count = 0
        self.last_ms = 0
        self.times: deque[int] = deque(maxlen=self.RECENT)
        # queries' threads add while DESCRIBE and EXPLAIN read (a deque appended to while
        # iterated raises)
        self._lock = threading.Lock()

    def add(self, time_ms: int) -> None:
        with self._lock:
            self.count += 1
            self.last_ms = max(self.last_ms, time_ms)
            self.times.append(time_ms)

    def recent(self, since_ms: int) -> int:
        with self._lock:
            return sum(1 for t in self.times if t >= since_ms)

    def merge(self, other: QueryFailures) -> None:
        with other._lock:
            count, last_ms, times = other.count, other.last_ms, list(other.times)
        with self._lock:
            self.count += count
            self.last_ms = max(self.last_ms, last_ms)
            self.times.extend(times)


class ProcessingLog:
    def __init__(
        self,
        log: Log | None = None,
        capacity: int = 1000,
        config: dict[str, str] | None = None,
        service_id: str = "default_",
    ) -> None:
        config = config or {}
        self.log = log
        self.entries: deque[LogEntry] = deque(maxlen=capacity)  # the latest, for EXPLAIN
        # every failure counted, by query (None: outside one) and source topic
        self.failures: dict[tuple[str | None, str], QueryFailures] = {}
        self.topic = processing_log_topic(config, service_id)
        self.include_rows = _enabled(config, ROWS_INCLUDE, False)
        self.create_topic = _enabled(config, TOPIC_AUTO_CREATE, True)
        self._query = threading.local()

    @contextmanager
    def in_query(self, query_id: str) -> Iterator[None]:
        """Attribute what this thread logs meanwhile to the query `query_id`."""
        outer = getattr(self._query, "id", None)
        self._query.id = query_id
        try:
            yield
        finally:
            self._query.id = outer

    def failures_by_query(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (query_id, _), failures in list(self.failures.items()):
            if query_id is not None:
                counts[query_id] = counts.get(query_id, 0) + failures.count
        return counts

    def failures_of_topic(self, topic: str) -> list[QueryFailures]:
        return [f for (_, t), f in list(self.failures.items()) if t == topic]

    def failures_of_query(self, query_id: str) -> QueryFailures | None:
        """Every failure of the query's records, whatever topic they came from."""
        mine = [f for (q, _), f in list(self.failures.items()) if q == query_id]
        if not mine:
            return None
        total = QueryFailures()
        for failures in mine:
            total.merge(failures)
        return total

    def entries_of_query(self, query_id: str) -> list[LogEntry]:
        return [e for e in list(self.entries) if e.query_id == query_id]

    def _add(self, kind: str, topic: str, partition: int, offset: int, exc: Exception) -> None:
        entry = LogEntry(kind, topic, partition, offset, str(exc), getattr(self._query, "id", None))
        self.entries.append(entry)
        self.failures.setdefault((entry.query_id, topic), QueryFailures()).add(entry.time_ms)
        if self.log is None:
            return
        if self.log.topic(self.topic) is None:
            if not self.create_topic:
                return
            self.log.create_topic(self.topic, 1)
        payload = orjson.dumps(self.record(entry, exc))
        self.log.append_batch(self.topic, [None], [payload], [entry.time_ms])

    def record(self, entry: LogEntry, exc: Exception) -> dict[str, Any]:
        """The processing log record of `entry`, in ksqlDB's shape."""
        type_code, field_name = MESSAGE_TYPES[entry.kind]
        cause = _causes(exc)
        raw = self._raw(entry) if self.include_rows else None
        detail: dict[str, Any]
        if entry.kind == "RECORD_PROCESSING_ERROR":
            record = None if raw is None else raw.decode("utf-8", "replace")
            detail = {"errorMessage": entry.message, "record": record, "cause": cause}
        else:
            detail = {"target": "value", "errorMessage": entry.message, "cause": cause}
            detail["topic"] = entry.topic
            if entry.kind == "DESERIALIZATION_ERROR":
                detail["recordB64"] = None if raw is None else base64.b64encode(raw).decode()
            else:
                detail["record"] = None if raw is None else raw.decode("utf-8", "replace")
        message: dict[str, Any] = {"type": type_code, **dict.fromkeys(_ERROR_FIELDS)}
        message[field_name] = detail
        query = entry.query_id or "transient"
        return {
            "level": "ERROR",
            "logger": f"processing.{query}.{_LOGGER_SUFFIX.get(entry.kind, 'query')}",
            "time": entry.time_ms,
            "message": message,
        }

    def _raw(self, entry: LogEntry) -> bytes | None:
        """The failed record's value, read back from its topic."""
        if self.log is None or entry.offset < 0 or self.log.topic(entry.topic) is None:
            return None
        batch = self.log.read(entry.topic, entry.partition, entry.offset, 1)
        if not len(batch) or batch.offsets[0] != entry.offset:
            return None
        value = batch.values[0]
        return bytes(value) if value is not None else None

    def deserialization_error(
        self, topic: str, partition: int, offset: int, exc: Exception
    ) -> None:
        self._add("DESERIALIZATION_ERROR", topic, partition, offset, exc)

    def record_error(self, topic: str, partition: int, offset: int, exc: Exception) -> None:
        self._add("RECORD_PROCESSING_ERROR", topic, partition, offset, exc)


def _causes(exc: BaseException) -> list[str]:
    """The messages of the exceptions that caused `exc`, outermost first."""
    causes: list[str] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(causes) < 10:
        causes.append(str(cause) or type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return causes
