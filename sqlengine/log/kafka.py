"""The Kafka backend: every topic on a Kafka cluster, through confluent-kafka.

    log = KafkaLog({"bootstrap.servers": "127.0.0.1:9092"}, service_id="default_")

- Topics: created, described and deleted by the AdminClient, with partitions, replicas and
  config as declared. Config keys of streamdb's own (`streamdb.*`, which Kafka would reject)
  are kept in the metadata topic below.
- Appends: one Producer, `partitioner=murmur2_random`, so keyed records land where Java
  clients put them (`default_partition`); null keys go round-robin as on the embedded log.
  Records are produced in a batch and flushed: an append returns once the brokers acked
  every record (acks=all), with the (partition, offset) each got.
- Reads: each thread has a PartitionReader (kafka_reader.py), a consumer that assigns and
  seeks.
- Timestamps: librdkafka stamps a record given timestamp 0 with the current time, so a
  record at the epoch (0) goes out as -1 (Kafka's "no timestamp") and -1 reads back as 0.
- End offsets: past the last record this client wrote or read, or the high watermark if
  that is further, confirmed by reading the tail (a broker may report it short).
- Scale-out: `join_group` makes this process a member of a query's consumer group
  (kafka_group.py), whose partitions Kafka splits among the servers of a service id.
- Transactions (processing.guarantee=exactly_once_v2): `step` runs a query's step as a
  Kafka transaction that the group's commit commits (kafka_transactions.py); every read is
  read_committed, and stops at a transaction marker or an open transaction.
- Consumer groups: a group's commit holds input offsets together with entries that are no
  Kafka partitions (a state store's changelog position, an exactly-once step number), and
  must be atomic. So the complete group state is one record, keyed by group, of the
  compacted metadata topic `_confluent-ksql-<service id>_streamdb_metadata`; the entries
  that are Kafka partitions are then also committed to the Kafka consumer group of that
  name, where Kafka's tools show them. A group whose partitions servers split (`join_group`)
  is committed by each member under a key of its own per generation of its assignment
  (`group:<group>@<incarnation>.<generation>`, holding what it committed in that generation),
  and read as the records in topic order: a later owner's entries replace an earlier one's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import orjson
import pyarrow as pa
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from planner.physical import SERVICE_ID
from sqlengine.log.base import (
    TOPIC_NAME,
    GroupMember,
    Headers,
    Log,
    ProducerRecord,
    RecordBatch,
    TopicExistsError,
    TopicInfo,
    UnknownTopicError,
    check_commit,
    check_new_topic,
    default_partition,
)
from sqlengine.log.kafka_group import KafkaGroupMember
from sqlengine.log.kafka_reader import EPOCH_ON_THE_WIRE, PartitionReader, Position
from sqlengine.log.kafka_transactions import TransactionalStep, Transactions

STREAMDB_CONFIG_PREFIX = "streamdb."
_TIMEOUT = 30.0  # seconds an admin request or a flush may take
_TOPIC_KEY = "topic:"
_BY_PARTITIONER = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the partitioner chooses
_GROUP_KEY = "group:"
_MEMBER_SEPARATOR = "@"


def metadata_topic(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_streamdb_metadata"


def _column(values: list | pa.Array) -> list:
    """A column as a list (an Arrow string column as bytes)."""
    if isinstance(values, list):
        return values
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = values.cast(pa.binary())
    return values.to_pylist()


class _Delivery:
    """Collects the delivery reports of one flushed batch: each partition's first and last
    offset, and with `placed` each record's (partition, offset)."""

    def __init__(self, records: int, placed: bool) -> None:
        self.placed: list[tuple[int, int]] = [(-1, -1)] * records if placed else []
        self.spans: dict[int, list[int]] = {}
        self.error: KafkaError | None = None

    def on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.error = error
            return
        partition, offset = message.partition(), message.offset()
        span = self.spans.get(partition)
        if span is None:
            self.spans[partition] = [offset, offset]
        elif offset > span[1]:
            span[1] = offset
        elif offset < span[0]:
            span[0] = offset

    def report(self, index: int) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self.on_delivery(error, message)
            if error is None:
                self.placed[index] = (message.partition(), message.offset())

        return on_delivery


class KafkaLog(Log):
    def __init__(self, client_config: dict[str, str], service_id: str = SERVICE_ID):
        if not client_config.get("bootstrap.servers"):
            raise ValueError("the Kafka log needs bootstrap.servers (HOST:PORT[,...])")
        # Topics exist only as created: a broker with auto.create.topics.enable must not
        # make one for a metadata request or a record (librdkafka's producers would ask).
        self._client = {**client_config, "allow.auto.create.topics": False}
        self._admin = AdminClient(self._client)
        self._producer = Producer(
            {
                **self._client,
                "partitioner": "murmur2_random",
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "batch.num.messages": 10000,
            }
        )
        self._produce_lock = threading.Lock()
        self._transactions = Transactions(self._client)
        self._lock = threading.RLock()
        self._topics: dict[str, TopicInfo] = {}
        self._known_ends: dict[Position, int] = {}
        self._null_key_counters: dict[str, int] = {}
        self._readers: dict[int, PartitionReader] = {}
        self._deleted: set[str] = set()
        self._closed = False
        self._group_committers: dict[str, Consumer] = {}
        # The metadata topic, read by a reader of its own up to `_metadata_read`.
        self._metadata_topic = metadata_topic(service_id)
        self._metadata_reader = PartitionReader(self._client, self._known_end)
        self._metadata_read = 0
        self._topic_extras: dict[str, dict[str, str]] = {}
        self._groups: dict[str, dict[Position, int]] = {}
        self._members: dict[str, KafkaGroupMember] = {}
        self._member_commits: dict[str, dict[Position, int]] = {}
        if not self._describe([self._metadata_topic]):
            self._create(self._metadata_topic, 1, 1, {"cleanup.policy": "compact"})
        self._read_metadata()

    # ------------------------------------------------------------------ topics

    def _describe(self, names: list[str] | None = None) -> dict[str, TopicInfo]:
        """The topics (all, or those of `names` that exist) as the brokers know them, with
        streamdb's config keys: two requests, however many topics."""
        metadata = self._admin.list_topics(timeout=_TIMEOUT).topics
        found = [n for n in (metadata if names is None else names) if n in metadata]
        found = [n for n in found if metadata[n].error is None]
        if not found:
            return {}
        resources = [ConfigResource("topic", name) for name in found]
        configs = self._admin.describe_configs(resources)
        infos = {}
        for name, resource in zip(found, resources, strict=True):
            entries = configs[resource].result(timeout=_TIMEOUT)
            config = {k: e.value for k, e in entries.items() if not e.is_default}
            config.update(self._topic_extras.get(name, {}))
            partitions = metadata[name].partitions
            replicas = max((len(p.replicas) for p in partitions.values()), default=1)
            infos[name] = TopicInfo(name, len(partitions), replicas, config)
        return infos

    def _create(self, name: str, partitions: int, replicas: int, config: dict[str, str]) -> None:
        new = NewTopic(name, partitions, replicas, config=config)
        try:
            self._admin.create_topics([new])[name].result(timeout=_TIMEOUT)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicExistsError(name) from None
            raise
        deadline = time.monotonic() + _TIMEOUT
        while name not in self._admin.list_topics(timeout=_TIMEOUT).topics:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name} was created but does not show in metadata")
            time.sleep(0.05)

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replicas: int = 1,
        config: dict[str, str] | None = None,
    ) -> TopicInfo:
        check_new_topic(name, partitions, replicas)
        config = dict(config or {})
        kafka_config = {k: v for k, v in config.items() if not k.startswith(STREAMDB_CONFIG_PREFIX)}
        extras = {k: v for k, v in config.items() if k.startswith(STREAMDB_CONFIG_PREFIX)}
        with self._lock:
            self._check_open()
            if self.topic(name) is not None:
                raise TopicExistsError(name)
            if extras or name in self._topic_extras:
                # Before the topic: a topic never shows without its streamdb config.
                self._write_metadata(_TOPIC_KEY + name, extras or None)
            self._create(name, partitions, replicas, kafka_config)
            info = TopicInfo(name, partitions, replicas, config)
            self._topics[name] = info
            self._deleted.discard(name)
            return info

    def delete_topic(self, name: str) -> None:
        with self._lock:
            self._check_open()
            if self.topic(name) is None:
                raise UnknownTopicError(name)
            try:
                self._admin.delete_topics([name])[name].result(timeout=_TIMEOUT)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
                self._topics.pop(name, None)  # another server deleted it meanwhile
                raise UnknownTopicError(name) from None
            deadline = time.monotonic() + _TIMEOUT
            while name in self._admin.list_topics(timeout=_TIMEOUT).topics:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topic {name} was deleted but still shows in metadata")
                time.sleep(0.05)
            self._topics.pop(name, None)
            self._deleted.add(name)
            self._known_ends = {p: o for p, o in self._known_ends.items() if p[0] != name}
            if name in self._topic_extras:
                self._write_metadata(_TOPIC_KEY + name, None)

    def topics(self) -> list[TopicInfo]:
        self._read_metadata()
        infos = self._describe()
        infos.pop(self._metadata_topic, None)
        self._topics.update(infos)
        return [infos[name] for name in sorted(infos)]

    def topic(self, name: str) -> TopicInfo | None:
        info = self._topics.get(name)
        if info is None:
            self._read_metadata()
            info = self._describe([name]).get(name)
            if info is not None:
                self._topics[name] = info
        return info

    def _partitions(self, topic: str) -> int:
        info = self.topic(topic)
        if info is None:
            raise UnknownTopicError(topic)
        return info.partitions

    # ------------------------------------------------------------------ appends

    def _produce(
        self,
        topic: str,
        keys: list[bytes | None],
        values: list[bytes | None],
        timestamps: list[int],
        headers: list[Headers] | None,
        partitions: list[int | None],
        placed: bool = False,
        producer: Producer | None = None,
    ) -> _Delivery:
        """Produces the records and waits for every ack; where they went (each record's
        place too if `placed`). Inside a step (`step`), by the step's transactional producer
        unless `producer` is given."""
        delivery = _Delivery(len(keys), placed)
        if producer is None:
            step = self._transactions.current()
            producer = self._producer if step is None else step.begin()
        produce = producer.produce
        with self._produce_lock:
            for i, key in enumerate(keys):
                partition = partitions[i]
                while True:
                    try:
                        produce(
                            topic,
                            values[i],
                            key,
                            timestamp=timestamps[i] or EPOCH_ON_THE_WIRE,
                            headers=list(headers[i]) if headers and headers[i] else None,
                            on_delivery=delivery.report(i) if placed else delivery.on_delivery,
                            partition=_BY_PARTITIONER if partition is None else partition,
                        )
                        break
                    except BufferError:  # the local queue is full: let it drain
                        producer.poll(0.01)
            remaining = producer.flush(_TIMEOUT)
        if remaining:
            raise TimeoutError(f"{remaining} records to {topic} not acked in {_TIMEOUT:.0f}s")
        if delivery.error is not None:
            raise KafkaException(delivery.error)
        for partition, (_, last) in delivery.spans.items():
            self._saw_end(topic, partition, last + 1)
        return delivery

    def _placement(self, topic: str, keys: list[bytes | None]) -> list[int | None]:
        """Null keys round-robin (as the embedded log); keyed records by the producer's
        murmur2 partitioner."""
        count = self._partitions(topic)
        if count == 1:
            return [0] * len(keys)
        counter = self._null_key_counters.get(topic, 0)
        placement: list[int | None] = []
        for key in keys:
            if key is None:
                placement.append(default_partition(None, count, counter))
                counter += 1
            else:
                placement.append(None)
        self._null_key_counters[topic] = counter
        return placement

    def append(self, topic: str, records: list[ProducerRecord]) -> list[tuple[int, int]]:
        self._check_open()
        keys = [r.key for r in records]
        placement = self._placement(topic, keys)
        partitions = [
            p if r.partition is None else r.partition
            for r, p in zip(records, placement, strict=True)
        ]
        delivery = self._produce(
            topic,
            keys,
            [r.value for r in records],
            [r.timestamp for r in records],
            [r.headers for r in records],
            partitions,
            placed=True,
        )
        return delivery.placed

    def append_batch(
        self,
        topic: str,
        keys: list[bytes | None] | pa.Array,
        values: list[bytes | None] | pa.Array,
        timestamps: list[int] | pa.Array,
        headers: list[Headers] | None = None,
        partition: int | None = None,
    ) -> dict[int, range]:
        self._check_open()
        key_list, value_list, stamps = _column(keys), _column(values), _column(timestamps)
        if not len(key_list) == len(value_list) == len(stamps):
            raise ValueError("keys, values and timestamps must have the same length")
        if not key_list:
            return {}
        if partition is None:
            partitions = self._placement(topic, key_list)
        else:
            partitions = [partition] * len(key_list)
        delivery = self._produce(topic, key_list, value_list, stamps, headers, partitions)
        return {p: range(first, last + 1) for p, (first, last) in sorted(delivery.spans.items())}

    # ------------------------------------------------------------------ reads

    def _reader(self) -> PartitionReader:
        thread = threading.get_ident()
        reader = self._readers.get(thread)
        if reader is None:
            self._check_open()
            reader = self._readers[thread] = PartitionReader(self._client, self._known_end)
        if self._deleted:
            reader.forget([p for p in reader.positions() if p[0] in self._deleted])
        return reader

    def _known_end(self, topic: str, partition: int) -> int:
        return self._known_ends.get((topic, partition), 0)

    def read(
        self, topic: str, partition: int, offset: int, max_records: int = 10000
    ) -> RecordBatch:
        if offset < 0:
            raise ValueError(f"negative offset {offset}")
        if not 0 <= partition < self._partitions(topic):
            raise UnknownTopicError(f"topic {topic} has no partition {partition}")
        batch = self._reader().read(topic, partition, offset, max_records)
        if len(batch):
            self._saw_end(topic, partition, batch.next_offset)
        return batch

    def _watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        if not 0 <= partition < self._partitions(topic):
            raise UnknownTopicError(f"topic {topic} has no partition {partition}")
        low, high = self._reader().watermarks(topic, partition, _TIMEOUT)
        self._saw_end(topic, partition, high)
        return low, high

    def _saw_end(self, topic: str, partition: int, end: int) -> None:
        """Records that `partition` holds records below `end`."""
        position = (topic, partition)
        with self._lock:
            if end > self._known_ends.get(position, 0):
                self._known_ends[position] = end

    def end_offset(self, topic: str, partition: int) -> int:
        """The high watermark, or past what this log wrote or read if that is further. A
        watermark beyond those is confirmed by reading the partition's tail: a broker may
        report it short of its last batch's records (Tansu: the batch's first offset + 1).
        Not while a transaction is open there: its records are read once it ends."""
        known = self._known_end(topic, partition)
        high = self._watermarks(topic, partition)[1]
        if high <= known:
            return known
        if self._reader().stable_end(topic, partition, _TIMEOUT) < high:
            return high
        offset = high - 1
        while len(batch := self.read(topic, partition, offset)):
            offset = batch.next_offset
        return max(high, offset)

    def start_offset(self, topic: str, partition: int) -> int:
        return self._watermarks(topic, partition)[0]

    def wait_for_data(self, positions: dict[tuple[str, int], int], timeout: float) -> bool:
        if any(self._known_end(t, p) > o for (t, p), o in positions.items()):
            return True
        return self._reader().wait(positions, time.monotonic() + timeout)

    # ------------------------------------------------------------------ metadata topic

    def _write_metadata(self, key: str, value: object) -> None:
        payload = None if value is None else orjson.dumps(value)
        self._produce(
            self._metadata_topic, [key.encode()], [payload], [0], None, [0], producer=self._producer
        )
        self._apply_metadata(key, value)

    def _apply_metadata(self, key: str, value: object) -> None:
        if key.startswith(_TOPIC_KEY):
            name = key[len(_TOPIC_KEY) :]
            if value is None:
                self._topic_extras.pop(name, None)
            else:
                self._topic_extras[name] = dict(value)  # type: ignore[call-overload]
        elif key.startswith(_GROUP_KEY):
            group, member, _ = key[len(_GROUP_KEY) :].partition(_MEMBER_SEPARATOR)
            entries = {(t, p): o for t, p, o in value or []}  # type: ignore[union-attr]
            if member:
                self._groups.setdefault(group, {}).update(entries)
            else:
                self._groups[group] = entries

    def _read_metadata(self) -> None:
        """Catches up with what other servers wrote to the metadata topic."""
        with self._lock:
            high = self._metadata_reader.watermarks(self._metadata_topic, 0, _TIMEOUT)[1]
            self._saw_end(self._metadata_topic, 0, high)
            end = self._known_end(self._metadata_topic, 0)
            while self._metadata_read < end:
                batch = self._metadata_reader.read(
                    self._metadata_topic, 0, self._metadata_read, 10000
                )
                if not len(batch):
                    break
                for key, value in zip(batch.keys, batch.values, strict=True):
                    self._apply_metadata(
                        (key or b"").decode(), orjson.loads(value) if value else None
                    )
                self._metadata_read = batch.next_offset

    # ------------------------------------------------------------------ consumer groups

    def join_group(self, group: str, topics: list[str]) -> GroupMember:
        with self._lock:
            self._check_open()
            member = KafkaGroupMember(self._client, group, topics, {})
            self._members[group] = member
            return member

    def _member_record(
        self, member: KafkaGroupMember, group: str, offsets: dict[Position, int]
    ) -> tuple[str, dict[Position, int]]:
        """The key of a member's commit in the metadata topic, and what its record holds."""
        key = f"{_GROUP_KEY}{group}{_MEMBER_SEPARATOR}{member.incarnation}.{member.generation()}"
        return key, {**self._member_commits.get(key, {}), **offsets}

    def _commit_as_member(
        self, member: KafkaGroupMember, group: str, offsets: dict[Position, int]
    ) -> None:
        key, merged = self._member_record(member, group, offsets)
        self._member_commits[key] = merged
        self._write_metadata(key, [[t, p, o] for (t, p), o in merged.items()])
        member.commit_offsets(
            [
                TopicPartition(t, p, o)
                for (t, p), o in offsets.items()
                if TOPIC_NAME.fullmatch(t) and t in self._topics
            ]
        )

    transactional = True

    def step(self, group: str, task: str) -> AbstractContextManager[None]:  # type: ignore[override]
        """A Kafka transaction (kafka_transactions.py), committed by the group's commit. A
        member of a group that servers split has a transactional.id of its own (servers
        must not fence each other); the broker fences a stale member by the group
        generation its offsets are sent with."""
        member = self._members.get(group)
        return self._transactions.step(group, task if member is None else member.incarnation)

    def _commit_step(
        self, step: TransactionalStep, group: str, offsets: dict[Position, int]
    ) -> None:
        """The commit that ends a step's transaction: the group's record of the metadata
        topic and its Kafka offsets (`send_offsets_to_transaction`) go in the transaction,
        which then commits; this process applies the record once it is committed. A
        member's offsets go with its group generation."""
        member = self._members.get(group)
        if member is None:
            key, merged = _GROUP_KEY + group, {**self.committed(group), **offsets}
            metadata = self._group_committer(group).consumer_group_metadata()
        else:
            key, merged = self._member_record(member, group, offsets)
            # Before its first assignment a member has no generation to send.
            metadata = (
                member.group_metadata() or self._group_committer(group).consumer_group_metadata()
            )
        entries = [[t, p, o] for (t, p), o in merged.items()]
        payload = orjson.dumps(entries)
        self._produce(
            self._metadata_topic, [key.encode()], [payload], [0], None, [0], producer=step.begin()
        )
        kafka = self._kafka_partitions(offsets)
        if kafka:
            step.producer.send_offsets_to_transaction(kafka, metadata, _TIMEOUT)
        step.commit()
        if member is not None:
            self._member_commits[key] = merged
        self._apply_metadata(key, entries)

    def _kafka_partitions(self, offsets: dict[Position, int]) -> list[TopicPartition]:
        """The entries of a commit that are offsets of Kafka partitions."""
        return [
            TopicPartition(t, p, o)
            for (t, p), o in offsets.items()
            if TOPIC_NAME.fullmatch(t) and t in self._topics
        ]

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        check_commit(offsets)
        with self._lock:
            self._check_open()
            step = self._transactions.current()
            if step is not None and step.group == group:
                self._commit_step(step, group, offsets)
                return
            if self._transactions.runs_steps_of(group):
                return  # its steps commit it, in their transactions (kafka_transactions.py)
            member = self._members.get(group)
            if member is not None:
                self._commit_as_member(member, group, offsets)
                return
            merged = {**self.committed(group), **offsets}
            entries = [[t, p, o] for (t, p), o in merged.items()]
            self._write_metadata(_GROUP_KEY + group, entries)
            kafka = self._kafka_partitions(offsets)
            if kafka:
                self._group_committer(group).commit(offsets=kafka, asynchronous=False)

    def _group_committer(self, group: str) -> Consumer:
        committer = self._group_committers.get(group)
        if committer is None:
            committer = self._group_committers[group] = Consumer(
                {**self._client, "group.id": group, "enable.auto.commit": False}
            )
        return committer

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        with self._lock:
            if group not in self._groups or group in self._members:
                self._read_metadata()  # a group's other members commit too
            return dict(self._groups.get(group, {}))

    # ------------------------------------------------------------------ lifecycle

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the log is closed")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._producer.flush(_TIMEOUT)
            self._transactions.close()
            for reader in [*self._readers.values(), self._metadata_reader]:
                reader.close()
            for committer in self._group_committers.values():
                committer.close()
            for member in self._members.values():
                member.close()
            self._readers.clear()
            self._group_committers.clear()
