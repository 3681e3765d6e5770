"""processing.guarantee=exactly_once_v2 on the Kafka log: a query's step is a Kafka
transaction (sqlengine/log/kafka_transactions.py), on the test broker (Tansu).

What the broker does with transactions is measured first, by a plain confluent-kafka client:
Tansu 0.6.0 commits and aborts, applies offsets sent with send_offsets_to_transaction only
when the transaction commits, fences an older producer of a transactional.id, and stops a
read_committed fetch at an open transaction; but it hands read_committed consumers the
records of aborted transactions as well. So on Tansu a step killed mid-transaction leaves
its records readable, and the step's replay writes them again: there, exactly_once_v2 holds
at least once (every input in the sink, the table's counts exact), not exactly once."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from sqlengine.engine import STEP_RETRIES, Engine
from sqlengine.log.kafka import KafkaLog
from sqlengine.log.kafka_transactions import ProducerFencedError, TransactionalStep
from sqlengine.runtime import QueryFailure, query_group
from sqlengine.testing.kafka_broker import TansuBroker
from tests.test_exactly_once import kill_9_outcome, setup_on_topics_of

_SECONDS = 10.0


def _topic(broker: TansuBroker, partitions: int = 1) -> str:
    name = f"tx_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(_SECONDS)
    deadline = time.monotonic() + _SECONDS
    while name not in admin.list_topics(timeout=_SECONDS).topics:
        assert time.monotonic() < deadline, f"topic {name} never showed"
        time.sleep(0.05)
    return name


def _read_committed(broker: TansuBroker, topic: str) -> list[bytes]:
    """Every value a read_committed consumer gets from partition 0, up to where its fetch
    reaches the end (the high watermark, or an open transaction)."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": "tx-reader",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.monotonic() + _SECONDS
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is None:
                continue
            if message.error() is not None:
                return values  # the fetch reached the end
            values.append(message.value())
        raise AssertionError(f"no end of {topic} within {_SECONDS}s")
    finally:
        consumer.close()


def test_what_the_test_broker_does_with_transactions(kafka_broker: TansuBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    out, source = _topic(kafka_broker), _topic(kafka_broker)
    transactional_id = f"tx-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id})
    producer.init_transactions(_SECONDS)
    group = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{transactional_id}"})

    def committed() -> int:
        return group.committed([TopicPartition(source, 0)], timeout=_SECONDS)[0].offset

    producer.begin_transaction()
    producer.produce(out, b"committed")
    producer.send_offsets_to_transaction(
        [TopicPartition(source, 0, 5)], group.consumer_group_metadata(), _SECONDS
    )
    producer.commit_transaction(_SECONDS)
    assert committed() == 5  # offsets sent in a transaction apply when it commits

    producer.begin_transaction()
    producer.produce(out, b"aborted")
    producer.send_offsets_to_transaction(
        [TopicPartition(source, 0, 9)], group.consumer_group_metadata(), _SECONDS
    )
    producer.flush(_SECONDS)
    producer.abort_transaction(_SECONDS)
    assert committed() == 5  # ...and not when it aborts
    # Not filtered: a read_committed consumer gets the aborted transaction's record too.
    assert _read_committed(kafka_broker, out) == [b"committed", b"aborted"]

    producer.begin_transaction()
    producer.produce(out, b"open")
    producer.flush(_SECONDS)
    # A read_committed fetch stops at the open transaction.
    assert _read_committed(kafka_broker, out) == [b"committed", b"aborted"]

    newer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id})
    newer.init_transactions(_SECONDS)  # fences the older producer
    producer.produce(out, b"zombie")
    with pytest.raises(KafkaException, match="PRODUCER_FENCED|fenced"):
        producer.flush(_SECONDS)
        producer.commit_transaction(_SECONDS)
    assert b"zombie" not in _read_committed(kafka_broker, out)
    group.close()


def test_a_step_commits_its_appends_and_offsets_in_one_transaction(
    kafka_broker: TansuBroker,
) -> None:
    """Appends and the group's commit of a step, one transaction: afterwards reads and
    end offsets pass the transaction markers at once (no wait for a record that never
    comes), and a step that raises commits no offset."""
    log = KafkaLog(
        {"bootstrap.servers": kafka_broker.bootstrap_servers}, f"tx_{uuid.uuid4().hex[:6]}_"
    )
    sink, source = _topic(kafka_broker, 2), _topic(kafka_broker)
    group = f"q-{uuid.uuid4().hex[:8]}"
    assert log.topic(source) is not None  # a query's source: known to the log
    try:
        for step in range(3):
            with log.step(group, "0"):
                log.append_batch(sink, [b"a", b"b", b"c"], [b"1", b"2", b"3"], [step] * 3)
                log.commit(group, {(source, 0): step + 1})
        started = time.monotonic()
        values = []
        for partition in range(2):
            offset = 0
            while len(batch := log.read(sink, partition, offset)):
                values += batch.values
                offset = batch.next_offset
            assert not len(log.read(sink, partition, offset))  # at the last marker
            if offset:  # each of the 3 transactions ended with a marker in the partition
                assert log.end_offset(sink, partition) == offset + 1
        assert time.monotonic() - started < 5, "reads waited on transaction markers"
        assert sorted(values) == sorted([b"1", b"2", b"3"] * 3)
        assert log.committed(group)[(source, 0)] == 3
        reader = Consumer({"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": group})
        assert reader.committed([TopicPartition(source, 0)], timeout=_SECONDS)[0].offset == 3
        reader.close()

        with pytest.raises(RuntimeError, match="mid-step"), log.step(group, "0"):
            log.append_batch(sink, [b"a"], [b"lost"], [9])
            raise RuntimeError("mid-step")
        assert log.committed(group)[(source, 0)] == 3
        log.commit(group, {(source, 0): 8})  # as a failed query's close commits where it read
        assert log.committed(group)[(source, 0)] == 3
        with log.step(group, "0"):  # the producer goes on after the abort
            log.commit(group, {(source, 0): 4})
        assert log.committed(group)[(source, 0)] == 4
        log.commit(group, {(source, 0): 5})  # outside a step: not atomic with any output
        assert log.committed(group)[(source, 0)] == 4
    finally:
        log.close()


def test_a_restarted_server_fences_the_old_one(kafka_broker: TansuBroker) -> None:
    """Two logs run steps of one query task: the second's first step fences the first
    log's producer, whose next step fails (and stays failed) instead of writing."""
    config = {"bootstrap.servers": kafka_broker.bootstrap_servers}
    service = f"tx_{uuid.uuid4().hex[:6]}_"
    old, new = KafkaLog(config, service), KafkaLog(config, service)
    sink, group = _topic(kafka_broker), f"q-{uuid.uuid4().hex[:8]}"
    try:
        with old.step(group, "0"):
            old.append_batch(sink, [b"k"], [b"old"], [0])
            old.commit(group, {(sink, 0): 0})
        with new.step(group, "0"):
            new.append_batch(sink, [b"k"], [b"new"], [0])
            new.commit(group, {(sink, 0): 1})
        for _ in range(2):
            with pytest.raises(ProducerFencedError, match="fenced"), old.step(group, "0"):
                old.append_batch(sink, [b"k"], [b"zombie"], [0])
                old.commit(group, {(sink, 0): 9})
        assert _read_committed(kafka_broker, sink) == [b"old", b"new"]
    finally:
        old.close()
        new.close()


def _v2_config(broker: TansuBroker, service_id: str, **settings: str) -> dict[str, str]:
    """An engine's config on the broker under exactly_once_v2. Its queries run on its own
    thread, where a query's first step takes well under a second (with worker processes,
    seconds): they commit steps before a kill comes."""
    return {
        "bootstrap.servers": broker.bootstrap_servers,
        "ksql.service.id": service_id,
        "processing.guarantee": "exactly_once_v2",
        "ksql.streams.num.stream.threads": "1",
        **settings,
    }


def test_kill_9_with_exactly_once_v2_on_the_test_broker(
    tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    """kill -9 mid-stream, five times, under exactly_once_v2 (no output guard: steps are
    transactions): no acknowledged input lost, the table's counts exact, the sinks hold
    every output (on Tansu, which hands aborted records to read_committed readers, those of
    a transaction a kill cut short may be there twice: at least once)."""
    suffix = uuid.uuid4().hex[:8]
    config = _v2_config(kafka_broker, f"eosv2_{suffix}_")
    outcome = kill_9_outcome(tmp_path, config, setup_on_topics_of(suffix), batches=(4, 8))
    assert len(outcome.source) == len(set(outcome.source)), "the source holds a record twice"
    assert not outcome.lost, f"{len(outcome.lost)} acknowledged inputs lost"
    assert outcome.counts == outcome.expected_counts
    for sink, outputs in outcome.sinks.items():
        assert set(outputs) == set(outcome.source), f"{sink}: outputs missing"


def _failing_steps(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[int]:
    """In the next `failures` steps, an append after the step's first fails as a broker's
    abortable error would (the step has written, its group's record is not written yet);
    returns the list that counts them."""
    failed: list[int] = []
    begin = TransactionalStep.begin

    def begin_or_fail(self: TransactionalStep) -> Producer:
        if self.open and len(failed) < failures:
            failed.append(1)
            raise KafkaException(
                KafkaError(KafkaError._TRANSPORT, "broker connection lost", txn_requires_abort=True)
            )
        return begin(self)

    monkeypatch.setattr(TransactionalStep, "begin", begin_or_fail)
    return failed


def _engine_on(tmp_path: Path, broker: TansuBroker) -> tuple[Engine, str]:
    suffix = uuid.uuid4().hex[:8]
    engine = Engine(tmp_path, _v2_config(broker, f"retry_{suffix}_"))
    engine.execute(
        f"CREATE STREAM src (id STRING KEY, n BIGINT) "
        f"WITH (kafka_topic='src_{suffix}', value_format='JSON', partitions=2);"
        f"CREATE TABLE counts WITH (kafka_topic='c_{suffix}') AS "
        "SELECT id, COUNT(*) AS c FROM src GROUP BY id;"
    )
    ids = range(1000)
    engine.log.append_batch(
        f"src_{suffix}",
        [f"k{i % 7}".encode() for i in ids],
        [orjson.dumps({"n": i}) for i in ids],
        list(ids),
    )
    return engine, suffix


def test_an_aborted_step_runs_again_from_the_committed_state(
    tmp_path: Path, kafka_broker: TansuBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that fails halfway is aborted, and the query, built anew from its committed
    offsets and state, runs it again: the counts are exact (on Tansu the aborted step's
    changelog records stay readable; the step run again writes its keys anew after them)."""
    engine, _ = _engine_on(tmp_path, kafka_broker)
    failed = _failing_steps(monkeypatch, 2)
    try:
        for _ in range(STEP_RETRIES):  # an aborted step counts as an idle round
            engine.run_until_idle()
        assert len(failed) == 2
        [query] = engine.catalog.queries.values()
        assert query.state == "RUNNING"
        rows = engine.execute("SELECT id, c FROM counts;")[0].rows
        assert {r[0]: r[1] for r in rows} == {f"k{i}": len(range(i, 1000, 7)) for i in range(7)}
    finally:
        engine.close()


def test_a_query_whose_steps_keep_aborting_fails(
    tmp_path: Path, kafka_broker: TansuBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, suffix = _engine_on(tmp_path, kafka_broker)
    failed = _failing_steps(monkeypatch, 1000)
    try:
        with pytest.raises(QueryFailure, match="transaction aborted"):  # bounded
            for _ in range(STEP_RETRIES + 1):
                engine.run_until_idle()
        assert len(failed) == STEP_RETRIES + 1
        [query] = engine.catalog.queries.values()
        assert query.state == "ERROR"
        group = query_group(query.query_id, f"retry_{suffix}_")
        assert not any(engine.log.committed(group).get((f"src_{suffix}", p)) for p in range(2))
    finally:
        engine.close()


def test_two_servers_split_a_query_without_fencing_each_other(
    tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    """Scale-out under exactly_once_v2: two engines of one service id split a CSAS's
    partitions, each member with a transactional.id of its own (one would fence the other
    if they shared one); the sink holds each input's output once."""
    suffix = uuid.uuid4().hex[:8]
    config = _v2_config(kafka_broker, f"split_{suffix}_", **{"streamdb.scale.out": "true"})
    first = Engine(tmp_path / "a", config)
    first.execute(
        f"CREATE STREAM src (id STRING KEY, n BIGINT) "
        f"WITH (kafka_topic='src_{suffix}', value_format='JSON', partitions=4);"
        f"CREATE STREAM out WITH (kafka_topic='out_{suffix}') AS SELECT id, n FROM src;"
    )
    second = Engine(tmp_path / "b", config)
    deadline = time.monotonic() + 30
    while not all(_owns_partitions(engine) for engine in (first, second)):
        assert time.monotonic() < deadline, "the group never split the partitions"
        for engine in (first, second):
            engine.run_until_idle(max_rounds=1)
        time.sleep(0.1)
    ids = range(8000)
    first.log.append_batch(
        f"src_{suffix}",
        [f"k{i % 53}".encode() for i in ids],
        [orjson.dumps({"n": i}) for i in ids],
        list(ids),
    )
    processed = {"a": 0, "b": 0}
    try:
        deadline = time.monotonic() + 60
        while sum(processed.values()) < len(ids) and time.monotonic() < deadline:
            processed["a"] += first.run_until_idle(max_rounds=5)
            processed["b"] += second.run_until_idle(max_rounds=5)
            time.sleep(0.05)
        assert processed["a"] and processed["b"], f"the partitions were not split: {processed}"
        for engine in (first, second):
            assert {q.state for q in engine.catalog.queries.values()} == {"RUNNING"}
        outputs: Counter[int] = Counter()
        for partition in range(4):
            offset = 0
            while len(batch := first.log.read(f"out_{suffix}", partition, offset)):
                outputs.update(orjson.loads(v)["N"] for v in batch.values)
                offset = batch.next_offset
        assert outputs == Counter(ids)
    finally:
        first.close()
        second.close()


def _owns_partitions(engine: Engine) -> bool:
    return all(m.member.assignment() for m in engine.scaleout.queries.values())


def test_a_log_reads_the_committed_groups_past_an_open_transaction(
    kafka_broker: TansuBroker,
) -> None:
    """A server killed while its step's transaction is open leaves it open in the metadata
    topic (until its query's producer starts again): a log opened then still reads every
    group committed before it (a read_committed watermark would stop at the transaction,
    and Tansu answers 0 there), and reads past it once the transaction is aborted."""
    config = {"bootstrap.servers": kafka_broker.bootstrap_servers}
    service = f"open_{uuid.uuid4().hex[:6]}_"
    killed = KafkaLog(config, service)
    source, group = _topic(kafka_broker), f"q-{uuid.uuid4().hex[:8]}"
    assert killed.topic(source) is not None
    with killed.step(group, "0"):
        killed.commit(group, {(source, 0): 5})
    zombie = Producer({**config, "transactional.id": f"{group}-0"})
    zombie.init_transactions(_SECONDS)
    zombie.begin_transaction()
    zombie.produce(f"_confluent-ksql-{service}_streamdb_metadata", b"{}", b"group:other")
    for value in (b"open", b"open too"):  # the tail is past the transaction's first record
        zombie.produce(source, value)
        zombie.flush(_SECONDS)  # the transaction stays open: as if its server was killed
    restarted = KafkaLog(config, service)
    try:
        assert restarted.committed(group) == {(source, 0): 5}
        started = time.monotonic()
        assert restarted.end_offset(source, 0) == 2  # the open transaction's records
        assert time.monotonic() - started < 5, "end_offset waited on the open transaction"
        with restarted.step(group, "0"):  # fences the zombie, aborting its transaction
            restarted.commit(group, {(source, 0): 6})
        assert restarted.committed(group) == {(source, 0): 6}
        assert restarted.end_offset(source, 0) == 3  # and the marker that aborted it
    finally:
        killed.close()
        restarted.close()
