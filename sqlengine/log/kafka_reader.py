"""Random-access reads of Kafka partitions over one confluent-kafka consumer.

The log interface reads by (topic, partition, offset); a Kafka consumer streams what it is
assigned. A PartitionReader keeps every partition it was asked for assigned, at the offset
the next read is expected to ask for, and buffers what the consumer fetched per partition,
so a query that reads its partitions in turn gets each one's records from the prefetch. A
read elsewhere seeks; a partition not read for a while is unassigned, so nothing is
prefetched for it any more.

A consumer is not thread-safe: the Kafka log gives each thread a reader of its own.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from sqlengine.log.base import Headers, RecordBatch

Position = tuple[str, int]
_IDLE_SECONDS = 60.0  # a partition not read for this long is unassigned
_DRAIN = 10_000  # messages taken from the consumer's queue at once
_POLL_SECONDS = 0.05
_MISSING_DATA_SECONDS = 30.0
_METADATA_SECONDS = 10.0  # how long a read below the end waits for its records


# librdkafka replaces a produced timestamp of 0 with the current time: the Kafka log writes
# records at the epoch with Kafka's "no timestamp" instead, read back as the epoch.
EPOCH_ON_THE_WIRE = -1


def _batch(topic: str, partition: int, messages: list[Message]) -> RecordBatch:
    stamps = [m.timestamp()[1] for m in messages]
    if EPOCH_ON_THE_WIRE in stamps:
        stamps = [0 if t == EPOCH_ON_THE_WIRE else t for t in stamps]
    raw_headers = [m.headers() for m in messages]
    if any(raw_headers):
        headers: list[Headers] = [tuple(h) if h else () for h in raw_headers]
    else:
        headers = [()] * len(messages)
    return RecordBatch(
        topic,
        partition,
        [m.offset() for m in messages],
        stamps,
        [m.key() for m in messages],
        [m.value() for m in messages],
        headers,
    )


class PartitionReader:
    def __init__(self, config: dict[str, str], known_end: Callable[[str, int], int]) -> None:
        self._consumer = Consumer(
            {
                **config,
                "group.id": "streamdb-reader",  # never joined nor committed: reads assign
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                # Records of aborted transactions are left out, and a read stops at the
                # first record of a transaction still open (processing.guarantee).
                "isolation.level": "read_committed",
                # Tells when a fetch reached the end: past a transaction marker, or at an
                # open transaction, no record comes however long a read waits.
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 20,
                "fetch.error.backoff.ms": 20,
                # Prefetch up to 32 MB per reader, however small the records: a fetch from
                # the broker is the slow part of a read.
                "queued.max.messages.kbytes": 32768,
                "queued.min.messages": 1_000_000,
            }
        )
        self._known_end = known_end
        self._config = config
        self._watermark_consumer: Consumer | None = None  # made by the first `watermarks`
        self._expected: dict[Position, int] = {}  # assigned: the offset the next read asks
        self._buffers: dict[Position, deque[Message]] = {}
        self._last_read: dict[Position, float] = {}
        self._topics_seen: set[str] = set()
        self._ends_asked: set[Position] = set()
        # Where the latest fetch of a partition (since it was assigned or sought) reached
        # the end of what it may read.
        self._fetched_to: dict[Position, int] = {}

    def _assign_at(self, position: Position, offset: int) -> None:
        """Makes the consumer deliver `position` from `offset` on."""
        expected = self._expected.get(position)
        if expected == offset:
            return
        topic, partition = position
        if expected is None:
            self._consumer.incremental_assign([TopicPartition(topic, partition, offset)])
            if topic not in self._topics_seen:
                # Else librdkafka learns a new topic's leaders at its next scan, up to 1s on.
                self._consumer.list_topics(topic, timeout=_METADATA_SECONDS)
                self._topics_seen.add(topic)
        else:
            self._consumer.seek(TopicPartition(topic, partition, offset))
        self._expected[position] = offset
        self._buffers[position] = deque()
        self._fetched_to.pop(position, None)

    def _drain(self, timeout: float) -> int:
        """Moves fetched messages into their partitions' buffers; returns how many."""
        # consume() waits out its timeout unless the batch fills: poll() for the first.
        first = self._consumer.poll(timeout) if timeout > 0 else None
        messages = self._consumer.consume(_DRAIN, 0)
        if first is not None:
            messages.insert(0, first)
        buffers = self._buffers
        kept = 0
        last: Position | None = None
        buffer: deque[Message] | None = None
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._fetched_to[(message.topic(), message.partition())] = message.offset()
                    continue
                raise KafkaException(error)
            position = (message.topic(), message.partition())
            if position != last:  # a fetch returns runs of one partition's messages
                last, buffer = position, buffers.get(position)
            if buffer is not None:
                buffer.append(message)
                kept += 1
        return kept

    def _drop_idle(self, now: float) -> None:
        idle = [p for p, at in self._last_read.items() if now - at > _IDLE_SECONDS]
        if idle:
            self.forget(idle)

    def forget(self, positions: list[Position]) -> None:
        """Stops reading these partitions (idle, or their topic was deleted)."""
        assigned = [p for p in positions if p in self._expected]
        if assigned:
            self._consumer.incremental_unassign([TopicPartition(t, p) for t, p in assigned])
        for position in positions:
            self._topics_seen.discard(position[0])
            self._ends_asked.discard(position)
            self._expected.pop(position, None)
            self._buffers.pop(position, None)
            self._last_read.pop(position, None)
            self._fetched_to.pop(position, None)

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> RecordBatch:
        position = (topic, partition)
        now = time.monotonic()
        self._drop_idle(now)
        self._last_read[position] = now
        self._assign_at(position, offset)
        buffer = self._buffers[position]
        if not buffer:
            self._drain(0)
        if not buffer and offset < self._end(position):
            deadline = now + _MISSING_DATA_SECONDS
            while not buffer and not self._nothing_readable(position, offset):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"reading {topic}[{partition}] at offset {offset}: no record came "
                        f"within {_MISSING_DATA_SECONDS:.0f}s, though the broker reports more; "
                        "check that the brokers in bootstrap.servers are reachable"
                    )
                self._drain(_POLL_SECONDS)
            if not buffer and self._fetched_to.get(position) == offset:
                # The fetch that ended at `offset` may be older than the watermark saying
                # the partition goes on: librdkafka updates it as a fetch's answer comes in,
                # before it queues the answer's records. One more poll lets those in.
                self._drain(_POLL_SECONDS)
        if len(buffer) <= max_records:
            messages = list(buffer)
            buffer.clear()
        else:
            messages = [buffer.popleft() for _ in range(max_records)]
        if messages:
            self._expected[position] = messages[-1].offset() + 1
        return _batch(topic, partition, messages)

    def _nothing_readable(self, position: Position, offset: int) -> bool:
        """Whether the latest fetch found no record to read from `offset` on, though the
        partition's end is further: the offsets between are transaction markers or records
        of aborted transactions (the fetch went past them), or a transaction is open there
        (the fetch stopped at it, short of the high watermark)."""
        fetched_to = self._fetched_to.get(position, -1)
        if fetched_to > offset:
            return True
        topic, partition = position
        high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)[
            1
        ]
        return fetched_to == offset < high

    def _end(self, position: Position) -> int:
        """Where the partition ends as far as this reader knows: past what the log wrote or
        read, or the high watermark of the latest fetch; asked of the broker once after
        assigning, before any fetch came back."""
        topic, partition = position
        high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)[
            1
        ]
        if high < 0 and position not in self._ends_asked:
            high = self.watermarks(topic, partition, _METADATA_SECONDS)[1]
            self._ends_asked.add(position)
        return max(high, self._known_end(topic, partition))

    def wait(self, positions: dict[Position, int], deadline: float) -> bool:
        """Fetches until any of `positions` has a record at or past its offset, or until
        `deadline` (monotonic); True if one has."""
        for position, offset in positions.items():
            self._last_read[position] = time.monotonic()
            self._assign_at(position, offset)
        while True:
            if any(self._buffers[p] for p in positions):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._drain(min(remaining, _POLL_SECONDS))

    def positions(self) -> list[Position]:
        """The partitions assigned."""
        return list(self._expected)

    def watermarks(self, topic: str, partition: int, timeout: float) -> tuple[int, int]:
        """(low, high) watermark of a partition, asked of its leader: the high watermark,
        where the next record goes, which a read_committed consumer is not told while a
        transaction is open (it gets the last stable offset; Tansu then answers 0)."""
        if self._watermark_consumer is None:
            self._watermark_consumer = Consumer(
                {
                    **self._config,
                    "group.id": "streamdb-reader",
                    "isolation.level": "read_uncommitted",
                }
            )
        low, high = self._watermark_consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout, cached=False
        )
        return low, high

    def stable_end(self, topic: str, partition: int, timeout: float) -> int:
        """Where a read_committed read of the partition stops for now: the high watermark,
        or, while a transaction is open, the last stable offset before it (Tansu: 0)."""
        return self._consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout, cached=False
        )[1]

    def close(self) -> None:
        self._consumer.close()
        if self._watermark_consumer is not None:
            self._watermark_consumer.close()
