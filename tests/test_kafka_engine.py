"""The engine on the Kafka backend, end to end on a real broker: records from an external
producer, a CSAS and a CTAS, the sink read by an external consumer, and a second engine on
a new data dir that rebuilds the catalog from the command topic and the table from its
changelog."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from sqlengine.engine import Engine
from sqlengine.testing.kafka_broker import TansuBroker

ORDERS = 2000


def produce_orders(servers: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": servers, "partitioner": "murmur2_random"})
    for i in range(ORDERS):
        order = {"item": f"item-{i % 4}", "qty": i % 7}
        producer.produce(topic, json.dumps(order).encode(), str(i % 100).encode())
    assert producer.flush(30) == 0


def sink_records(
    servers: str, topic: str, partitions: int, expected: int
) -> list[tuple[bytes, bytes]]:
    """What an external consumer reads from every partition of `topic`."""
    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"check-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    records: list[tuple[bytes, bytes]] = []
    try:
        for _ in range(60):
            records += [(m.key(), m.value()) for m in consumer.consume(1000, 0.5) if not m.error()]
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


def item_counts(engine: Engine) -> dict[str, list[int]]:
    rows = engine.execute("SELECT * FROM qty_by_item;")[0].rows  # type: ignore[attr-defined]
    return {row[0]: row[1:] for row in rows}


def test_csas_and_ctas_on_kafka_and_a_server_on_a_new_data_dir(
    kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    servers = kafka_broker.bootstrap_servers
    suffix = uuid.uuid4().hex[:8]
    config = {"bootstrap.servers": servers, "ksql.service.id": f"engine_{suffix}_"}
    engine = Engine(tmp_path / "first", config)
    engine.execute(
        f"CREATE STREAM orders (customer STRING KEY, item STRING, qty INT) WITH "
        f"(kafka_topic='orders_{suffix}', value_format='JSON', partitions=4);"
    )
    produce_orders(servers, f"orders_{suffix}")
    engine.execute(
        f"CREATE STREAM big_orders WITH (kafka_topic='big_{suffix}') AS "
        "SELECT customer, item, qty FROM orders WHERE qty >= 5;"
        f"CREATE TABLE qty_by_item WITH (kafka_topic='by_item_{suffix}') AS "
        "SELECT item, COUNT(*) AS orders, SUM(qty) AS total FROM orders GROUP BY item;",
        {"auto.offset.reset": "earliest"},
    )
    engine.run_until_idle()
    expected = {
        f"item-{k}": [
            sum(1 for i in range(ORDERS) if i % 4 == k),
            sum(i % 7 for i in range(ORDERS) if i % 4 == k),
        ]
        for k in range(4)
    }
    assert item_counts(engine) == expected
    big_orders = sum(1 for i in range(ORDERS) if i % 7 >= 5)
    big = sink_records(servers, f"big_{suffix}", 4, big_orders)
    assert len(big) == big_orders
    assert all(json.loads(value)["QTY"] >= 5 for _, value in big)
    topics = {t.name for t in engine.log.topics()}
    assert f"_confluent-ksql-engine_{suffix}__command_topic" in topics
    assert any(
        t.startswith(f"_confluent-ksql-engine_{suffix}_query_CTAS_QTY_BY_ITEM_")
        and t.endswith("-changelog")
        for t in topics
    )
    engine.close()

    again = Engine(tmp_path / "second", config)
    try:
        assert sorted(again.catalog.queries) == ["CSAS_BIG_ORDERS_0", "CTAS_QTY_BY_ITEM_1"]
        assert item_counts(again) == expected
    finally:
        again.close()
