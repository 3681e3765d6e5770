"""The Kafka backend of the log against a real broker (Tansu, started by the fixture)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from sqlengine.log import ProducerRecord, TopicExistsError, UnknownTopicError, default_partition
from sqlengine.log.kafka import KafkaLog
from sqlengine.testing.kafka_broker import TansuBroker

_names = itertools.count()


def fresh(prefix: str) -> str:
    """A topic or group name no other test uses (the broker lives for the session)."""
    return f"{prefix}-{next(_names)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def log(kafka_broker: TansuBroker) -> Iterator[KafkaLog]:
    log = KafkaLog({"bootstrap.servers": kafka_broker.bootstrap_servers}, fresh("svc"))
    yield log
    log.close()


def read_all(log: KafkaLog, topic: str, partition: int) -> list:
    records, offset = [], 0
    for _ in range(100):
        batch = log.read(topic, partition, offset)
        if not len(batch):
            return records
        records.extend(batch.records())
        offset = batch.next_offset
    raise AssertionError("the partition never ended")


def test_topics_are_created_described_listed_and_deleted(log: KafkaLog) -> None:
    name = fresh("orders")
    info = log.create_topic(name, 3, config={"cleanup.policy": "compact", "streamdb.id": "x1"})
    assert (info.partitions, info.replicas) == (3, 1)
    assert name in [t.name for t in log.topics()]
    with pytest.raises(TopicExistsError):
        log.create_topic(name, 1)
    described = log.topic(name)
    assert described is not None and described.partitions == 3
    assert described.config["streamdb.id"] == "x1"
    log.delete_topic(name)
    assert log.topic(name) is None
    assert name not in [t.name for t in log.topics()]
    with pytest.raises(UnknownTopicError):
        log.delete_topic(name)


def test_records_round_trip_with_headers_null_keys_and_null_values(log: KafkaLog) -> None:
    name = fresh("rt")
    log.create_topic(name, 1)
    records = [
        ProducerRecord(b"k1", b"v1", 1000, (("h", b"x"), ("empty", None))),
        ProducerRecord(None, b"no key", 1001),
        ProducerRecord(b"k2", None, 1002),
        ProducerRecord(b"", b"", 1003),
    ]
    assert log.append(name, records) == [(0, 0), (0, 1), (0, 2), (0, 3)]
    read = read_all(log, name, 0)
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in read] == [
        (0, 1000, b"k1", b"v1", (("h", b"x"), ("empty", None))),
        (1, 1001, None, b"no key", ()),
        (2, 1002, b"k2", None, ()),
        (3, 1003, b"", b"", ()),
    ]
    assert log.end_offset(name, 0) == 4
    assert log.start_offset(name, 0) == 0
    # A read in the middle seeks; a read at the end finds nothing.
    assert [r.offset for r in log.read(name, 0, 2).records()] == [2, 3]
    assert len(log.read(name, 0, 4)) == 0


def test_append_batch_returns_each_partitions_offsets(log: KafkaLog) -> None:
    name = fresh("batch")
    log.create_topic(name, 2)
    written = log.append_batch(name, [b"a", b"b", b"c"], [b"1", b"2", b"3"], [0, 6, 7], partition=1)
    assert written == {1: range(0, 3)}
    assert log.append_batch(name, [b"d"], [b"4"], [8], partition=1) == {1: range(3, 4)}
    read = read_all(log, name, 1)
    assert [r.value for r in read] == [b"1", b"2", b"3", b"4"]
    # librdkafka would stamp timestamp 0 with the time of sending: it stays the epoch.
    assert [r.timestamp for r in read] == [0, 6, 7, 8]
    assert read_all(log, name, 0) == []


def test_keyed_records_land_where_murmur2_puts_them(log: KafkaLog) -> None:
    name = fresh("placement")
    log.create_topic(name, 6)
    keys = [f"key-{i}".encode() for i in range(200)]
    placed = log.append(name, [ProducerRecord(k, b"v", 0) for k in keys])
    assert [p for p, _ in placed] == [default_partition(k, 6) for k in keys]
    for partition in range(6):
        mine = [k for k in keys if default_partition(k, 6) == partition]
        assert [r.key for r in read_all(log, name, partition)] == mine


def test_an_external_java_style_producer_and_consumer_agree(
    log: KafkaLog, kafka_broker: TansuBroker
) -> None:
    """An external producer with Kafka's murmur2 partitioner puts each key where the log
    does; an external consumer reads what the log wrote."""
    name = fresh("external")
    log.create_topic(name, 4)
    producer = Producer(
        {"bootstrap.servers": kafka_broker.bootstrap_servers, "partitioner": "murmur2_random"}
    )
    placed: list[tuple[bytes, int]] = []
    for i in range(40):
        key = f"user-{i}".encode()
        producer.produce(
            name, b"x", key, on_delivery=lambda e, m: placed.append((m.key(), m.partition()))
        )
    assert producer.flush(10) == 0
    assert sorted(placed) == sorted((k, default_partition(k, 4)) for k, _ in placed)
    log.append(name, [ProducerRecord(b"from-log", b"y", 7)])
    consumer = Consumer(
        {"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": fresh("ext")}
    )
    partition = default_partition(b"from-log", 4)
    consumer.assign([TopicPartition(name, partition, 0)])
    seen = []
    for _ in range(50):
        seen.extend(m.key() for m in consumer.consume(100, 0.2) if m.error() is None)
        if b"from-log" in seen:
            break
    consumer.close()
    assert b"from-log" in seen


def test_commits_hold_kafka_partitions_and_other_entries_across_reopening(
    kafka_broker: TansuBroker,
) -> None:
    name, group, service_id = fresh("in"), fresh("group"), fresh("svc")
    config = {"bootstrap.servers": kafka_broker.bootstrap_servers}
    log = KafkaLog(config, service_id)
    log.create_topic(name, 2)
    log.append_batch(name, [b"a"], [b"1"], [1], partition=0)
    assert log.committed(group) == {}
    log.commit(group, {(name, 0): 1, ("$step", 0): 3})
    log.commit(group, {(name, 1): 0, (f"{name}#store", 0): 9})
    expected = {(name, 0): 1, (name, 1): 0, ("$step", 0): 3, (f"{name}#store", 0): 9}
    assert log.committed(group) == expected
    log.close()
    reopened = KafkaLog(config, service_id)
    try:
        assert reopened.committed(group) == expected
        with pytest.raises(ValueError, match="bad committed position"):
            reopened.commit(group, {(name, 0): -1})
    finally:
        reopened.close()
    # Kafka's own view of the group: the entries that are partitions.
    consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": group})
    committed = consumer.committed([TopicPartition(name, 0), TopicPartition(name, 1)], timeout=10)
    consumer.close()
    assert [(tp.partition, tp.offset) for tp in committed] == [(0, 1), (1, 0)]


def test_wait_for_data_wakes_on_a_record_and_times_out_without_one(
    log: KafkaLog, kafka_broker: TansuBroker
) -> None:
    name = fresh("wait")
    log.create_topic(name, 1)
    assert log.wait_for_data({(name, 0): 0}, 0.3) is False
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    producer.produce(name, b"late", partition=0)
    assert producer.flush(10) == 0
    assert log.wait_for_data({(name, 0): 0}, 10) is True
    assert [r.value for r in log.read(name, 0, 0).records()] == [b"late"]


def test_a_new_log_reads_what_another_client_wrote_on_its_first_read(
    kafka_broker: TansuBroker,
) -> None:
    """A read below the end never answers empty (a new server replaying the command topic
    stops at the first empty read), even before the consumer fetched anything."""
    name = fresh("replay")
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    config = {"bootstrap.servers": kafka_broker.bootstrap_servers}
    writer = KafkaLog(config, fresh("svc"))
    writer.create_topic(name, 1)
    for i in range(3):
        producer.produce(name, b"statement %d" % i, partition=0)
        assert producer.flush(10) == 0  # one batch per record
    writer.close()
    reader = KafkaLog(config, fresh("svc"))
    try:
        assert [r.value for r in reader.read(name, 0, 0).records()] == [
            b"statement 0",
            b"statement 1",
            b"statement 2",
        ]
        assert len(reader.read(name, 0, 3)) == 0
    finally:
        reader.close()


def test_end_offset_counts_every_record_another_client_wrote_in_batches(
    kafka_broker: TansuBroker,
) -> None:
    """A new server restores state up to the changelog's end: the end must count the last
    batch's records, though Tansu's high watermark stops at that batch's first one."""
    config = {"bootstrap.servers": kafka_broker.bootstrap_servers}
    name = fresh("changelog")
    writer = KafkaLog(config, fresh("svc"))
    writer.create_topic(name, 1)
    for start in (0, 5):
        writer.append_batch(
            name, [b"k%d" % i for i in range(start, start + 5)], [b"v"] * 5, [1] * 5
        )
    writer.close()
    reader = KafkaLog(config, fresh("svc"))
    try:
        assert reader.end_offset(name, 0) == 10
        assert len(read_all(reader, name, 0)) == 10
    finally:
        reader.close()
