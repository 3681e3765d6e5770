"""Embedded log throughput: columnar appends and reads in batches of 10k ~100-byte records
(append_batch / read of one partition unless the scenario says otherwise)."""

from __future__ import annotations

import tempfile
import time

from bench import Scenario
from sqlengine.log import EmbeddedLog

RECORDS = 1_000_000
BATCH = 10_000
TOPIC = "bench"


def _batch(start: int) -> tuple[list[bytes], list[bytes], list[int]]:
    keys = [b"key-%08d" % i for i in range(start, start + BATCH)]
    values = [b"value-%08d-" % i + b"x" * 78 for i in range(start, start + BATCH)]
    return keys, values, list(range(start, start + BATCH))


def _fill(log: EmbeddedLog, topic: str = TOPIC) -> float:
    batches = [_batch(i) for i in range(0, RECORDS, BATCH)]  # built before the clock starts
    begin = time.perf_counter()
    for keys, values, stamps in batches:
        log.append_batch(topic, keys, values, stamps)
    return time.perf_counter() - begin


def append() -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as d:
        log = EmbeddedLog(d)
        log.create_topic(TOPIC)
        seconds = _fill(log)
        log.close()
    return RECORDS, seconds


def append_keyed_4_partitions() -> tuple[int, float]:
    """Partitioned by murmur2 of 1M distinct keys (the key -> partition cache never hits)."""
    with tempfile.TemporaryDirectory() as d:
        log = EmbeddedLog(d)
        log.create_topic(TOPIC, partitions=4)
        seconds = _fill(log)
        log.close()
    return RECORDS, seconds


def read() -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as d:
        log = EmbeddedLog(d)
        log.create_topic(TOPIC)
        _fill(log)
        log.close()
        log = EmbeddedLog(d)  # reopened: the index is rebuilt, nothing is cached
        begin = time.perf_counter()
        offset = count = 0
        while True:
            batch = log.read(TOPIC, 0, offset, BATCH)
            if not len(batch):
                break
            count += len(batch)
            offset = batch.next_offset
        seconds = time.perf_counter() - begin
        log.close()
    return count, seconds


SCENARIOS: dict[str, Scenario] = {
    "append": append,
    "append_keyed_4_partitions": append_keyed_4_partitions,
    "read": read,
}
