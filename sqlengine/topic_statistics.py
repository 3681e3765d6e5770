"""The runtime statistics DESCRIBE ... EXTENDED and EXPLAIN show, in ksqlDB's words.

ksqlDB writes them two ways: as one line of `name: value` pairs (`statistics` and `errorStats`
of a source description), e.g.
    messages-per-sec:      0.10   total-messages:       249     last-message: 2019-04-22T22:34:29.823Z
and as one metric per host (`clusterStatistics` and `clusterErrorStats`, which its CLI prints
as the "Runtime statistics by host" table). Here they come from what the server keeps anyway:
the topic's records (how many, and how many carry a timestamp within the last minute, for the
rates), the persistent queries' read positions (messages consumed), and the processing log's
failure counts (messages that failed).
"""

from __future__ import annotations

import datetime as dt
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlengine.log.base import Log
from sqlengine.processing_log import QueryFailures

RATE_WINDOW_MS = 60_000
_TAIL_RECORDS = 10_000  # records read per partition to count the recent ones


@dataclass(frozen=True)
class Stat:
    """One metric as ksqlDB's TopicSensors.Stat has it: the time of its last event (0: none)."""

    name: str
    value: float
    timestamp_ms: int

    def formatted(self) -> str:
        number = f"{self.value:10.0f}" if self.value == round(self.value) else f"{self.value:10.2f}"
        return f"{self.name:>16}:{number}"


@dataclass(frozen=True)
class TopicStatistics:
    stats: list[Stat]
    errors: list[Stat]

    @property
    def statistics(self) -> str:
        return _line(self.stats, "last-message")

    @property
    def error_stats(self) -> str:
        return _line(self.errors, "last-failed")


def instant_text(epoch_ms: int) -> str:
    """An instant as Java's Instant.toString writes it with milliseconds: 2019-04-22T22:34:29.823Z."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=epoch_ms)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{epoch_ms % 1000:03d}Z"


def _line(stats: list[Stat], last_name: str) -> str:
    """ksqlDB's one-line form: each metric, then the latest event's time."""
    if not stats:
        return ""
    last = max(s.timestamp_ms for s in stats)
    moment = [f"{last_name:>16}: {instant_text(last)}"] if last else []
    return " ".join([*(s.formatted() for s in stats), *moment])


def _per_sec(count: int) -> float:
    return count / (RATE_WINDOW_MS / 1000)


@dataclass
class _Counts:
    total: int = 0
    recent: int = 0
    consumed: int = 0
    consumed_recent: int = 0
    last: int = 0


def _count(log: Log, topic: str, positions: list[Mapping[tuple[str, int], int]]) -> _Counts:
    """The records of `topic`, and those the readers at `positions` have consumed."""
    counts = _Counts()
    info = log.topic(topic)
    if info is None:
        return counts
    now = int(time.time() * 1000)
    for partition in range(info.partitions):
        start, end = log.start_offset(topic, partition), log.end_offset(topic, partition)
        counts.total += end - start
        reads = [read.get((topic, partition), start) for read in positions]
        counts.consumed += sum(max(read - start, 0) for read in reads)
        if end <= start:
            continue
        tail = log.read(topic, partition, max(start, end - _TAIL_RECORDS), _TAIL_RECORDS)
        recent = [
            o
            for o, t in zip(tail.offsets, tail.timestamps, strict=True)
            if now - t <= RATE_WINDOW_MS
        ]
        counts.recent += len(recent)
        counts.consumed_recent += sum(bisect_left(recent, read) for read in reads)
        counts.last = max(counts.last, tail.timestamps[-1])
    return counts


def _error_stats(failures: Iterable[QueryFailures]) -> list[Stat]:
    failed = [f for f in failures if f.count]
    if not failed:
        return []
    last = max(f.last_ms for f in failed)
    now = int(time.time() * 1000)
    recent = sum(f.recent(now - RATE_WINDOW_MS) for f in failed)
    return [
        Stat("consumer-failed-messages", sum(f.count for f in failed), last),
        Stat("failed-messages-per-sec", _per_sec(recent), last),
    ]


def topic_statistics(
    log: Log,
    topic: str,
    read_positions: Iterable[Mapping[tuple[str, int], int]],
    failures: Iterable[QueryFailures],
) -> TopicStatistics:
    """The statistics of `topic` now; `read_positions` are the next offsets of the queries
    reading it, `failures` what failed of those queries' records from it."""
    if log.topic(topic) is None:
        return TopicStatistics([], [])
    positions = list(read_positions)
    counts = _count(log, topic, positions)
    stats = []
    if positions:
        stats += [
            Stat("consumer-messages-per-sec", _per_sec(counts.consumed_recent), counts.last),
            Stat("consumer-total-messages", counts.consumed, counts.last),
        ]
    stats += [
        Stat("messages-per-sec", _per_sec(counts.recent), counts.last),
        Stat("total-messages", counts.total, counts.last),
    ]
    return TopicStatistics(stats, _error_stats(failures))


def query_statistics(
    log: Log, read_positions: Mapping[tuple[str, int], int], failures: QueryFailures | None
) -> TopicStatistics:
    """A persistent query's statistics over every topic it reads, as EXPLAIN shows them."""
    consumed = consumed_recent = 0
    last = 0
    for topic in sorted({t for t, _ in read_positions}):
        counts = _count(log, topic, [read_positions])
        consumed += counts.consumed
        consumed_recent += counts.consumed_recent
        last = max(last, counts.last)
    stats = [
        Stat("consumer-messages-per-sec", _per_sec(consumed_recent), last),
        Stat("consumer-total-messages", consumed, last),
    ]
    return TopicStatistics(stats, _error_stats([failures] if failures else []))
