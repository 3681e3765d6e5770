"""The event log: Kafka's model (topics, partitions, offsets, consumer groups).

`open_log(data_dir, config=...)` opens the default backend, the embedded file log, or a
Kafka cluster when config names one (`bootstrap.servers`)."""

from __future__ import annotations

from pathlib import Path

from planner.physical import service_id
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


def open_log(
    data_dir: Path | str, *, fsync: bool = False, config: dict[str, str] | None = None
) -> Log:
    """The Kafka cluster that `bootstrap.servers` in config names, with the Kafka client
    properties of config (see kafka_config.kafka_client_config); else the embedded log in data_dir
    (created if missing). fsync=True: each embedded append is flushed to the device
    (survives machine crashes, much slower)."""
    config = config or {}
    if config.get("bootstrap.servers"):
        # Imported here: the embedded log needs no Kafka client.
        from sqlengine.log.kafka import KafkaLog
        from sqlengine.log.kafka_config import kafka_client_config

        return KafkaLog(kafka_client_config(config), service_id(config))
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
