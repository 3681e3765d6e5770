"""The runtime statistics DESCRIBE ... EXTENDED shows for a source's topic, in ksqlDB's words.

ksqlDB writes them as one line of `name: value` pairs (`statistics` and `errorStats` of a
source description), e.g.
    messages-per-sec:      0.10   total-messages:       249     last-message: 2019-04-22T22:34:29.823Z
Here they come from what the server keeps anyway: the topic's records (how many, and how many
carry a timestamp within the last minute, for the rate), the persistent queries' read
positions on it (messages consumed), and the processing log (messages that failed).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlengine.log.base import Log
from sqlengine.processing_log import LogEntry

RATE_WINDOW_MS = 60_000
_TAIL_RECORDS = 10_000  # records read per partition to count the recent ones


@dataclass(frozen=True)
class TopicStatistics:
    statistics: str
    error_stats: str


def instant_text(epoch_ms: int) -> str:
    """An instant as Java's Instant.toString writes it with milliseconds: 2019-04-22T22:34:29.823Z."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=epoch_ms)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{epoch_ms % 1000:03d}Z"


def _stat(name: str, value: float) -> str:
    number = f"{value:10.0f}" if value == round(value) else f"{value:10.2f}"
    return f"{name:>16}:{number}"


def _moment(name: str, epoch_ms: int) -> str:
    return f"{name:>16}: {instant_text(epoch_ms)}"


def topic_statistics(
    log: Log,
    topic: str,
    read_positions: Iterable[dict[tuple[str, int], int]],
    failures: Iterable[LogEntry],
) -> TopicStatistics:
    """The statistics of `topic` now; `read_positions` are the next offsets of the queries
    reading it, `failures` the processing log's entries."""
    info = log.topic(topic)
    if info is None:
        return TopicStatistics("", "")
    now = int(time.time() * 1000)
    total = recent = consumed = 0
    last: int | None = None
    positions = list(read_positions)
    for partition in range(info.partitions):
        start, end = log.start_offset(topic, partition), log.end_offset(topic, partition)
        total += end - start
        if end > start:
            tail = log.read(topic, partition, max(start, end - _TAIL_RECORDS), _TAIL_RECORDS)
            stamps = tail.timestamps
            recent += sum(1 for t in stamps if now - t <= RATE_WINDOW_MS)
            last = max(stamps[-1], last) if last is not None else stamps[-1]
        for read in positions:
            consumed += max(read.get((topic, partition), start) - start, 0)
    stats = []
    if positions:
        stats.append(_stat("consumer-total-messages", consumed))
    stats += [
        _stat("messages-per-sec", recent / (RATE_WINDOW_MS / 1000)),
        _stat("total-messages", total),
    ]
    if last is not None:
        stats.append(_moment("last-message", last))
    failed = [f for f in failures if f.topic == topic]
    errors = []
    if failed:
        recent_failures = sum(1 for f in failed if now - f.time_ms <= RATE_WINDOW_MS)
        errors = [
            _stat("consumer-failed-messages", len(failed)),
            _stat("failed-messages-per-sec", recent_failures / (RATE_WINDOW_MS / 1000)),
            _moment("last-failed", max(f.time_ms for f in failed)),
        ]
    return TopicStatistics(" ".join(stats), " ".join(errors))
