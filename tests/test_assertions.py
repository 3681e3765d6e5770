"""ASSERT TOPIC and ASSERT SCHEMA over REST, as ksqlDB answers them: an assert_topic or
assert_schema entity when the assertion holds, 417 with ksqlDB's message when it still fails
at its timeout, and a wait that lets another request make it hold."""

from __future__ import annotations

import threading
import time

from tests.test_server import Server
from tests.test_server import server as server  # noqa: F401  (the fixture)

TWO_PARTITIONS = (
    "CREATE STREAM s (id INT KEY, v STRING) "
    "WITH (kafka_topic='two', value_format='AVRO', partitions=2);"
)


def _failure(server: Server, sql: str) -> str:
    resp = server.ksql(sql)
    assert resp.status_code == 417, resp.text
    body = resp.json()
    assert body["@type"] == "generic_error" and body["error_code"] == 41700
    return body["message"]


def test_assert_topic_checks_partitions_and_replicas(server: Server) -> None:
    assert server.ksql(TWO_PARTITIONS).status_code == 200
    held = server.ksql("ASSERT TOPIC 'two' WITH (PARTITIONS=2, REPLICAS=1) TIMEOUT 0 SECONDS;")
    assert held.status_code == 200, held.text
    [entity] = held.json()
    assert entity["@type"] == "assert_topic"
    assert (entity["topicName"], entity["exists"]) == ("two", True)
    assert _failure(server, "ASSERT TOPIC 'two' WITH (PARTITIONS=3) TIMEOUT 0 SECONDS;") == (
        "Mismatched configuration for topic two: For config partitions, expected 3 got 2"
    )
    assert _failure(
        server, "ASSERT TOPIC 'two' WITH (REPLICAS=3, VALUE_FORMAT='JSON') TIMEOUT 0 SECONDS;"
    ) == (
        "Mismatched configuration for topic two: For config replicas, expected 3 got 1\n"
        "Cannot assert unknown topic property: VALUE_FORMAT"
    )
    assert _failure(server, "ASSERT NOT EXISTS TOPIC 'two';") == "Topic two exists"
    started = time.monotonic()
    assert _failure(server, "ASSERT TOPIC 'nowhere' TIMEOUT 300 MILLISECONDS;") == (
        "Topic nowhere does not exist"
    )
    assert time.monotonic() - started >= 0.3  # it retried until its timeout
    gone = server.ksql("ASSERT NOT EXISTS TOPIC 'nowhere' WITH (PARTITIONS=9);")
    assert gone.status_code == 200 and gone.json()[0]["exists"] is False


def test_an_assertion_waits_for_another_request(server: Server) -> None:
    def create_later() -> None:
        time.sleep(0.5)
        server.ksql(TWO_PARTITIONS)

    creator = threading.Thread(target=create_later)
    creator.start()
    waited = server.ksql("ASSERT TOPIC 'two' TIMEOUT 30 SECONDS;")
    creator.join(timeout=60)
    assert waited.status_code == 200, waited.text
    assert server.engine.catalog.source("S") is not None


def test_assert_schema_by_subject_and_id(server: Server) -> None:
    inserted = server.ksql(TWO_PARTITIONS + "INSERT INTO s (id, v) VALUES (1, 'a');")
    assert inserted.status_code == 200  # the insert registers the value schema
    [(subject, version)] = server.engine.schema_registry.subjects_of(1)
    assert (subject, version) == ("two-value", 1)
    held = server.ksql("ASSERT SCHEMA SUBJECT 'two-value' ID 1 TIMEOUT 0 SECONDS;")
    assert held.status_code == 200, held.text
    [entity] = held.json()
    assert entity == {
        "@type": "assert_schema",
        "subject": "two-value",
        "id": 1,
        "exists": True,
        "statementText": "ASSERT SCHEMA SUBJECT 'two-value' ID 1 TIMEOUT 0 SECONDS;",
        "warnings": [],
    }
    assert server.ksql("ASSERT SCHEMA ID 1;").status_code == 200
    assert server.ksql("ASSERT NOT EXISTS SCHEMA SUBJECT 'other';").status_code == 200
    assert _failure(server, "ASSERT SCHEMA SUBJECT 'other' ID 1 TIMEOUT 0 SECONDS;") == (
        "Schema with subject name other id 1 does not exist"
    )
    assert _failure(server, "ASSERT SCHEMA ID 7 TIMEOUT 0 SECONDS;") == (
        "Schema with id 7 does not exist"
    )
    assert _failure(server, "ASSERT NOT EXISTS SCHEMA SUBJECT 'two-value';") == (
        "Schema with subject name two-value exists"
    )
