"""A persistent query's membership of its Kafka consumer group
(`_confluent-ksql-<service id>query_<QUERY_ID>`): servers of one service id subscribe to the
query's source topics under that group, and Kafka's group protocol splits the partitions
among them, as Kafka Streams splits a ksqlDB query's tasks.

The member only learns what it owns: the query reads through the log (`kafka_reader`), so
the member's consumer pauses whatever it is assigned and fetches nothing. A thread polls it,
which runs the rebalance callbacks and keeps the membership alive however long a query's
step takes. A revocation waits (at most `RELEASE_SECONDS`) until the query has committed
what it did with the partitions (`released`), so the next owner goes on from there.
"""

from __future__ import annotations

import threading
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

from sqlengine.log.base import GroupMember, Position

RELEASE_SECONDS = 8.0  # below max.poll.interval.ms: the callback holds up the poll
_POLL_SECONDS = 0.1
# The classic group protocol with short timeouts: a member that dies is noticed within
# seconds, and a rebalance does not wait minutes for members that are gone.
GROUP_CONFIG = {
    "group.protocol": "classic",
    "session.timeout.ms": "6000",
    "heartbeat.interval.ms": "1500",
    "max.poll.interval.ms": "10000",
    "partition.assignment.strategy": "range",
}


class KafkaGroupMember(GroupMember):
    def __init__(
        self, client_config: dict[str, str], group: str, topics: list[str], settings: dict[str, str]
    ) -> None:
        # Commits in the log's metadata topic carry this name: a new one per process and
        # query, so a later owner's commits are told from an earlier owner's.
        self.incarnation = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._generation = 0
        self._group_metadata: object = None  # set by each assignment
        self._owned: frozenset[Position] = frozenset()
        self._released = threading.Event()
        self._closing = threading.Event()
        # Offsets to commit to the Kafka group, by the polling thread (the consumer's own).
        self._to_commit: dict[Position, int] = {}
        self._consumer = Consumer(
            {
                **client_config,
                **GROUP_CONFIG,
                **settings,
                "group.id": group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
            }
        )
        self._consumer.subscribe(
            topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        self._thread = threading.Thread(target=self._poll, name=f"member-{group}", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._closing.is_set():
            self._consumer.poll(_POLL_SECONDS)  # paused: only callbacks and heartbeats
            with self._lock:
                offsets, self._to_commit = self._to_commit, {}
            if offsets:
                tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
                try:
                    self._consumer.commit(offsets=tps, asynchronous=True)
                except KafkaException:
                    pass  # for Kafka's tools only: the next commit shows the progress

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)
        if partitions:
            consumer.pause(partitions)
        # Asked here, on the polling thread: asked on another, while it polls, it blocks.
        metadata = consumer.consumer_group_metadata()
        with self._lock:
            self._owned = frozenset((tp.topic, tp.partition) for tp in partitions)
            self._generation += 1
            self._group_metadata = metadata

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._lock:
            self._owned = frozenset()
            self._generation += 1
            self._released.clear()
        if not self._closing.is_set():
            self._released.wait(RELEASE_SECONDS)

    def generation(self) -> int:
        return self._generation

    def assignment(self) -> frozenset[Position] | None:
        return self._owned

    def released(self, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._released.set()

    def commit_offsets(self, offsets: list[TopicPartition]) -> None:
        """Shows the query's progress to Kafka's tools, as the group's member (a commit by
        no member is refused while the group has members); the log's metadata topic holds
        the offsets the query resumes from."""
        with self._lock:
            self._to_commit.update({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def group_metadata(self) -> object:
        """The member's consumer group metadata as of its latest assignment, which offsets
        committed by a transaction carry (`send_offsets_to_transaction`): the broker
        refuses them from a member of an older generation, a zombie whose partitions went
        to another server."""
        with self._lock:
            return self._group_metadata

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self._released.set()  # a revocation waiting for the query: it is gone
        self._thread.join(timeout=5)
        self._consumer.close()
