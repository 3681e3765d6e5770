"""The event log: Kafka's model (topics, partitions, offsets, consumer groups).

`open_log(data_dir)` opens the default backend, the embedded file log."""

from __future__ import annotations

from pathlib import Path

from sqlengine.log.base import (
    Headers,
    Log,
    ProducerRecord,
    Record,
    RecordBatch,
    TopicExistsError,
    TopicInfo,
    UnknownTopicError,
    default_partition,
    murmur2,
)
from sqlengine.log.codec import CorruptFrameError
from sqlengine.log.embedded import EmbeddedLog
from sqlengine.log.memory import MemoryLog


def open_log(data_dir: Path | str, *, fsync: bool = False) -> Log:
    """The embedded log in data_dir (created if missing). fsync=True: each append is
    flushed to the device (survives machine crashes, much slower)."""
    return EmbeddedLog(data_dir, fsync=fsync)


__all__ = [
    "CorruptFrameError",
    "EmbeddedLog",
    "Headers",
    "Log",
    "MemoryLog",
    "ProducerRecord",
    "Record",
    "RecordBatch",
    "TopicExistsError",
    "TopicInfo",
    "UnknownTopicError",
    "default_partition",
    "murmur2",
    "open_log",
]
