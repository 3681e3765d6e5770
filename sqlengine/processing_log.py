"""The processing log: where bad records and failed expressions go so queries keep running.

Entries are kept in a bounded in-memory ring (for tests and the REST API) and appended as JSON
to the log topic PROCESSING_LOG_TOPIC, as ksqlDB writes its processing log stream's topic.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import orjson

from sqlengine.log.base import Log

PROCESSING_LOG_TOPIC = "streamdb_processing_log"


@dataclass(frozen=True)
class LogEntry:
    kind: str  # DESERIALIZATION_ERROR | RECORD_PROCESSING_ERROR | SERIALIZATION_ERROR
    topic: str
    partition: int
    offset: int
    message: str
    time_ms: int = field(default_factory=lambda: int(time.time() * 1000))  # when it was logged


class ProcessingLog:
    def __init__(self, log: Log | None = None, capacity: int = 1000) -> None:
        self.log = log
        self.entries: deque[LogEntry] = deque(maxlen=capacity)

    def _add(self, entry: LogEntry) -> None:
        self.entries.append(entry)
        if self.log is None:
            return
        if self.log.topic(PROCESSING_LOG_TOPIC) is None:
            self.log.create_topic(PROCESSING_LOG_TOPIC, 1)
        payload = orjson.dumps(
            {
                "type": entry.kind,
                "topic": entry.topic,
                "partition": entry.partition,
                "offset": entry.offset,
                "message": entry.message,
            }
        )
        self.log.append_batch(PROCESSING_LOG_TOPIC, [None], [payload], [entry.time_ms])

    def deserialization_error(
        self, topic: str, partition: int, offset: int, exc: Exception
    ) -> None:
        self._add(LogEntry("DESERIALIZATION_ERROR", topic, partition, offset, str(exc)))

    def record_error(self, topic: str, partition: int, offset: int, exc: Exception) -> None:
        self._add(LogEntry("RECORD_PROCESSING_ERROR", topic, partition, offset, str(exc)))
