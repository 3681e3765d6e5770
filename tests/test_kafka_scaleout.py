"""Scale-out on a real broker: two `streamdb server` processes with one service id share a
CSAS and a CTAS over a 4-partition topic (one catalog through the command topic, the
partitions split by the queries' consumer groups), and a CTAS grouping by a non-key column
through its repartition topic. One is killed with SIGKILL while orders stream in: the other
takes its partitions over, restores their state from the changelogs and goes on. Every order
is in the sink (at least once), and the table's counts are exact when read by a pull query
from either server (each gathers the partitions the other holds); the repartitioned table's
are exact before the kill and at least the orders' after it (a row the dead server had
repartitioned but not committed is repartitioned again)."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition

from sqlengine.testing.kafka_broker import TansuBroker
from tests.live_server import LiveServer, start_server

ORDERS = 6000
CUSTOMERS = 20
REGIONS = 6
WAIT_SECONDS = 120.0


def ksql(server: LiveServer, statements: str, properties: dict[str, str] | None = None) -> Any:
    response = httpx.post(
        f"{server.url}/ksql",
        json={"ksql": statements, "streamsProperties": properties or {}},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def pull(server: LiveServer, sql: str) -> dict[str, int] | None:
    """The rows of a pull query; None while the servers hand partitions over (503)."""
    response = httpx.post(f"{server.url}/query", json={"ksql": sql}, timeout=60)
    if response.status_code == 503:
        return None
    assert response.status_code == 200, response.text
    rows = [e["row"]["columns"] for e in response.json() if "row" in e]
    return {customer: count for customer, count in rows}


def produce(servers: str, topic: str, first: int, last: int, pause: float = 0.0) -> None:
    """Orders first..last-1, keyed by customer, as a Java client would partition them."""
    producer = Producer({"bootstrap.servers": servers, "partitioner": "murmur2_random"})
    for i in range(first, last):
        order = {"id": i, "qty": 1, "region": f"r{i % REGIONS}"}
        producer.produce(topic, json.dumps(order).encode(), f"c{i % CUSTOMERS}".encode())
        if pause and i % 100 == 99:
            producer.flush(30)
            time.sleep(pause)
    assert producer.flush(30) == 0


def sink_ids(servers: str, topic: str, consumer: Consumer, seen: Counter[int]) -> None:
    for message in consumer.consume(5000, 0.5):
        if message.error() is None:
            seen[json.loads(message.value())["ID"]] += 1


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_SECONDS:.0f}s: {what}"
        time.sleep(0.5)


def expected_counts(orders: int) -> dict[str, int]:
    return dict(Counter(f"c{i % CUSTOMERS}" for i in range(orders)))


def region_counts(orders: int) -> dict[str, int]:
    return dict(Counter(f"r{i % REGIONS}" for i in range(orders)))


def at_least(counts: dict[str, int] | None, expected: dict[str, int]) -> bool:
    return (
        counts is not None
        and set(counts) == set(expected)
        and all(counts[k] >= n for k, n in expected.items())
    )


def test_two_servers_split_the_queries_and_one_carries_on_after_a_kill(
    kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    servers = kafka_broker.bootstrap_servers
    suffix = uuid.uuid4().hex[:8]
    args = ("--bootstrap-servers", servers, "--service-id", f"scale_{suffix}_")
    first = start_server(tmp_path / "a", *args)
    second = start_server(tmp_path / "b", *args)
    orders, sink = f"orders_{suffix}", f"orders_out_{suffix}"
    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"check-{suffix}"})
    try:
        ksql(
            first,
            f"CREATE STREAM orders (customer STRING KEY, id INT, qty INT, region STRING) WITH "
            f"(kafka_topic='{orders}', value_format='JSON', partitions=4);",
        )
        # Executed on the first server, the second runs them too (the command topic).
        ksql(
            first,
            f"CREATE STREAM orders_out WITH (kafka_topic='{sink}') AS SELECT * FROM orders;"
            "CREATE TABLE per_customer AS SELECT customer, COUNT(*) AS n FROM orders "
            "GROUP BY customer;"
            "CREATE TABLE per_region AS SELECT region, COUNT(*) AS n FROM orders GROUP BY region;",
            {"auto.offset.reset": "earliest"},
        )
        wait_until(
            lambda: "PER_CUSTOMER" in json.dumps(ksql(second, "SHOW TABLES;")),
            "the second server has the first's table",
        )
        half = ORDERS // 2
        produce(servers, orders, 0, half)
        # Split: each server holds part of the table; either answers with all of it.
        wait_until(
            lambda: pull(second, "SELECT * FROM per_customer;") == expected_counts(half),
            "the counts of the first half, from the second server",
        )
        assert pull(first, "SELECT * FROM per_customer;") == expected_counts(half)
        assert pull(first, "SELECT * FROM per_customer WHERE customer = 'c7';") == {
            "c7": half // CUSTOMERS
        }
        for server in (first, second):
            wait_until(
                lambda s=server: pull(s, "SELECT * FROM per_region;") == region_counts(half),
                "the repartitioned counts of the first half",
            )
            # A key lookup goes to the server that owns the key's partition.
            for key in ("r1", "r4"):
                found = pull(server, f"SELECT * FROM per_region WHERE region = '{key}';")
                assert found == {key: half // REGIONS}

        # Kill the first server while the second half streams in.
        streaming = threading.Thread(
            target=produce, args=(servers, orders, half, ORDERS, 0.05), daemon=True
        )
        streaming.start()
        time.sleep(1.0)
        first.stop(signal.SIGKILL)
        streaming.join(timeout=WAIT_SECONDS)
        assert not streaming.is_alive()

        # The survivor takes the dead server's partitions over and finishes the job.
        consumer.assign([TopicPartition(sink, p, 0) for p in range(4)])
        seen: Counter[int] = Counter()
        wait_until(
            lambda: sink_ids(servers, sink, consumer, seen) or len(seen) == ORDERS,
            "every order in the sink",
        )
        assert set(seen) == set(range(ORDERS))
        wait_until(
            lambda: pull(second, "SELECT * FROM per_customer;") == expected_counts(ORDERS),
            "every count, from the surviving server",
        )
        wait_until(
            lambda: at_least(pull(second, "SELECT * FROM per_region;"), region_counts(ORDERS)),
            "every repartitioned order counted, from the surviving server",
        )

        # The killed server comes back on its data dir, takes partitions back, and answers
        # with the same counts, as the other one does.
        first = start_server(tmp_path / "a", *args)
        wait_until(
            lambda: pull(first, "SELECT * FROM per_customer;") == expected_counts(ORDERS),
            "every count, from the restarted server",
        )
        wait_until(
            lambda: pull(second, "SELECT * FROM per_customer;") == expected_counts(ORDERS),
            "every count, from the surviving server, with the restarted one back",
        )
    finally:
        consumer.close()
        for server in (first, second):
            if server.process.poll() is None:
                server.stop(signal.SIGKILL)
