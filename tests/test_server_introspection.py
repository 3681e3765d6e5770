"""What a client sees of values and of the catalog, over a real server on 127.0.0.1: DATE, TIME
and TIMESTAMP as ksqlDB returns them, PRINT as ksqlDB prints a topic (formats guessed, Avro
decoded through the registry), DESCRIBE STREAMS / TABLES, SHOW PROPERTIES / FUNCTIONS /
TOPICS EXTENDED and SET's property check."""

from __future__ import annotations

import re
import time

import httpx
import orjson

from tests import test_server
from tests.test_server import TIMEOUT, Server

EVENTS = (
    "CREATE STREAM events (id INT KEY, happened TIMESTAMP, day DATE, hour TIME, "
    "marks ARRAY<TIMESTAMP>, detail STRUCT<seen DATE>) "
    "WITH (kafka_topic='events', value_format='JSON', partitions=1);"
    "INSERT INTO events (id, happened, day, hour, marks, detail) VALUES (1, "
    "'2019-07-09T01:00:00.000', '2021-01-01', '01:00:00', "
    "ARRAY['2019-07-09T01:00:00.123'], STRUCT(seen := '2020-02-29'));"
)
EXPECTED_ROW = [
    1,
    "2019-07-09T01:00:00.000",
    "2021-01-01",
    "01:00:00",
    ["2019-07-09T01:00:00.123"],
    {"SEEN": "2020-02-29"},
]
ROWTIME = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3} Z"


server = test_server.server  # the fixture: an engine served on a free port


def _ok(server: Server, sql: str) -> list[dict]:
    response = server.ksql(sql)
    assert response.status_code == 200, response.text
    return response.json()


def _query(server: Server, sql: str) -> list[dict]:
    body = {"ksql": sql, "streamsProperties": {"ksql.streams.auto.offset.reset": "earliest"}}
    response = httpx.post(f"{server.url}/query", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return orjson.loads(response.content)


def _printed(server: Server, sql: str) -> list[str]:
    response = httpx.post(f"{server.url}/query", json={"ksql": sql}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return [line for line in response.text.splitlines() if line]


# ---------------------------------------------------------------------------- values


def test_temporal_values_come_back_as_ksqldb_writes_them(server: Server) -> None:
    _ok(server, EVENTS)
    pulled = _query(server, "SELECT * FROM events;")
    assert pulled[1]["row"]["columns"] == EXPECTED_ROW
    pushed = _query(server, "SELECT * FROM events EMIT CHANGES LIMIT 1;")
    assert pushed[1]["row"]["columns"] == EXPECTED_ROW
    body = {"sql": "SELECT * FROM events;", "properties": {}}
    streamed = httpx.post(f"{server.url}/query-stream", json=body, timeout=TIMEOUT)
    metadata, row = (orjson.loads(line) for line in streamed.text.splitlines() if line)
    assert metadata["columnTypes"][:4] == ["INTEGER", "TIMESTAMP", "DATE", "TIME"]
    assert row == EXPECTED_ROW
    # The topic itself keeps ksqlDB's JSON serialization: numbers.
    printed = _printed(server, "PRINT 'events' FROM BEGINNING LIMIT 1;")
    assert '"HAPPENED":1562634000000' in printed[-1] and '"DAY":18628' in printed[-1]


# ---------------------------------------------------------------------------- PRINT


def test_print_guesses_formats_and_decodes_avro(server: Server) -> None:
    _ok(
        server,
        "CREATE STREAM readings (sensor VARCHAR KEY, reading INT, place VARCHAR) "
        "WITH (kafka_topic='readings', value_format='AVRO', partitions=1);"
        "INSERT INTO readings (sensor, reading, place) VALUES ('s-1', 7, 'hall');"
        "CREATE STREAM notes (n INT KEY, text VARCHAR) "
        "WITH (kafka_topic='notes', value_format='JSON', partitions=1);"
        "INSERT INTO notes (n, text) VALUES (1, 'hi');",
    )
    key_format, value_format, record = _printed(server, "PRINT 'readings' FROM BEGINNING LIMIT 1;")
    assert key_format == "Key format: KAFKA_STRING"
    assert value_format.startswith("Value format: AVRO")  # then what else the bytes could be
    assert re.fullmatch(
        rf'rowtime: {ROWTIME}, key: s-1, value: {{"READING": 7, "PLACE": "hall"}}, partition: 0',
        record,
    )
    key_format, value_format, record = _printed(server, "PRINT 'notes' FROM BEGINNING LIMIT 1;")
    assert key_format == "Key format: KAFKA_INT or KAFKA_STRING"  # 4 bytes: an INT key
    assert value_format == "Value format: JSON or KAFKA_STRING"
    assert re.fullmatch(
        rf'rowtime: {ROWTIME}, key: 1, value: {{"TEXT":"hi"}}, partition: 0', record
    )


def test_print_decodes_protobuf_and_json_sr(server: Server) -> None:
    _ok(
        server,
        "CREATE STREAM parts (id VARCHAR KEY, name VARCHAR, tags ARRAY<VARCHAR>, "
        "dims STRUCT<w INT>) WITH (kafka_topic='parts', value_format='PROTOBUF', partitions=1);"
        "INSERT INTO parts (id, name, tags, dims) VALUES ('p', 'bolt', ARRAY['a', 'b'], "
        "STRUCT(w := 3));"
        "CREATE STREAM docs (id BIGINT KEY, title VARCHAR) "
        "WITH (kafka_topic='docs', value_format='JSON_SR', partitions=1);"
        "INSERT INTO docs (id, title) VALUES (12345678, 'guide');",
    )
    _, value_format, record = _printed(server, "PRINT 'parts' FROM BEGINNING LIMIT 1;")
    assert value_format.startswith("Value format: PROTOBUF")
    # As protobuf's shortDebugString writes a message.
    assert 'value: NAME: "bolt" TAGS: "a" TAGS: "b" DIMS { W: 3 }, partition: 0' in record
    key_format, value_format, record = _printed(server, "PRINT 'docs' FROM BEGINNING LIMIT 1;")
    assert key_format == "Key format: KAFKA_BIGINT or KAFKA_DOUBLE"  # 8 bytes, not UTF-8
    assert value_format.startswith("Value format: JSON_SR")
    assert 'key: 12345678, value: {"TITLE":"guide"}, partition: 0' in record


def test_print_suggests_the_topic_in_another_case(server: Server) -> None:
    _ok(
        server,
        "CREATE STREAM lower_topic (v INT) "
        "WITH (kafka_topic='lower_topic', value_format='JSON', partitions=1);",
    )
    response = httpx.post(
        f"{server.url}/query", json={"ksql": "PRINT lower_topic;"}, timeout=TIMEOUT
    )
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("Could not find topic 'LOWER_TOPIC'")
    assert message.endswith("Did you mean:\n\tprint 'lower_topic';")


# ---------------------------------------------------------------------------- introspection


def test_describe_streams_lists_every_stream_with_statistics(server: Server) -> None:
    _ok(server, EVENTS + "CREATE STREAM events_copy AS SELECT * FROM events;")
    (listed,) = _ok(server, "DESCRIBE STREAMS;")
    assert listed["@type"] == "source_descriptions"
    assert [d["name"] for d in listed["sourceDescriptions"]] == ["EVENTS", "EVENTS_COPY"]
    assert all(not d["extended"] and d["statistics"] == "" for d in listed["sourceDescriptions"])
    deadline = time.monotonic() + 60
    while True:  # the persistent query reads the record on the engine's own thread
        (extended,) = _ok(server, "DESCRIBE STREAMS EXTENDED;")
        events = extended["sourceDescriptions"][0]
        if "consumer-total-messages:         1" in events["statistics"]:
            break
        assert time.monotonic() < deadline, events["statistics"]
        time.sleep(0.1)
    assert re.search(r"  total-messages:         1 ", events["statistics"])
    assert re.search(r"last-message: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", events["statistics"])
    assert events["errorStats"] == ""
    (tables,) = _ok(server, "DESCRIBE TABLES EXTENDED;")
    assert tables["@type"] == "source_descriptions" and tables["sourceDescriptions"] == []


def test_failures_show_in_error_stats(server: Server) -> None:
    _ok(
        server,
        "CREATE STREAM raw (v INT) WITH (kafka_topic='raw', value_format='JSON', partitions=1);"
        "CREATE STREAM cooked AS SELECT v * 2 AS w FROM raw;",
    )
    server.engine.log.append_batch("raw", [None], [b"not json"], [int(time.time() * 1000)])
    deadline = time.monotonic() + 60
    while not (raw := _ok(server, "DESCRIBE raw EXTENDED;")[0]["sourceDescription"])["errorStats"]:
        assert time.monotonic() < deadline, "the bad record was never reported"
        time.sleep(0.1)
    assert "consumer-failed-messages:         1" in raw["errorStats"]
    assert re.search(r"last-failed: \d{4}-\d\d-\d\dT", raw["errorStats"])


def _explained(server: Server, query_id: str) -> dict:
    return _ok(server, f"EXPLAIN {query_id};")[0]["queryDescription"]


def test_each_query_counts_its_own_failed_records(server: Server) -> None:
    """Two queries read one stream; only the one dividing by V fails on V = 0. DESCRIBE
    EXTENDED counts the stream's failures per host as ksqlDB does (clusterErrorStats); EXPLAIN
    of each query shows its own count and its failed records (queryErrors)."""
    _ok(
        server,
        "CREATE STREAM nums (v INT) WITH (kafka_topic='nums', value_format='JSON', partitions=1);"
        "CREATE STREAM doubled AS SELECT v * 2 AS w FROM nums;"
        "CREATE STREAM inverted AS SELECT 10 / v AS q FROM nums;"
        "INSERT INTO nums (v) VALUES (5); INSERT INTO nums (v) VALUES (0);"
        "INSERT INTO nums (v) VALUES (2);",
    )
    (doubled_id,) = server.engine.catalog.writers_of("DOUBLED")
    (inverted_id,) = server.engine.catalog.writers_of("INVERTED")
    deadline = time.monotonic() + 60
    while "consumer-total-messages:         3" not in _explained(server, doubled_id)["statistics"]:
        assert time.monotonic() < deadline, _explained(server, doubled_id)
        time.sleep(0.1)
    while "consumer-total-messages:         3" not in _explained(server, inverted_id)["statistics"]:
        assert time.monotonic() < deadline, _explained(server, inverted_id)
        time.sleep(0.1)
    doubled, inverted = _explained(server, doubled_id), _explained(server, inverted_id)
    assert doubled["errorStats"] == "" and doubled["queryErrors"] == []
    assert "consumer-failed-messages:         1" in inverted["errorStats"]
    (error,) = inverted["queryErrors"]
    assert error["type"] == "USER" and "/ by zero" in error["errorMessage"]
    assert inverted["state"] == "RUNNING"
    assert list(inverted["ksqlHostQueryStatus"].values()) == ["RUNNING"]

    (described,) = _ok(server, "DESCRIBE nums EXTENDED;")
    nums = described["sourceDescription"]
    assert {q["id"]: q["state"] for q in nums["readQueries"]} == {
        doubled_id: "RUNNING",
        inverted_id: "RUNNING",
    }
    assert all(q["queryString"].startswith("CREATE STREAM") for q in nums["readQueries"])
    stats = {s["name"]: s for s in nums["clusterStatistics"]}
    assert stats["total-messages"]["value"] == 3
    assert stats["consumer-total-messages"]["value"] == 6  # each query read the 3 records
    (failed,) = [s for s in nums["clusterErrorStats"] if s["name"] == "consumer-failed-messages"]
    assert failed["value"] == 1 and failed["timestamp"] > 0
    assert re.fullmatch(r"[\w.-]+:\d+", failed["host"])


def test_show_properties_before_any_set_and_set_checks_names(server: Server) -> None:
    (shown,) = _ok(server, "SHOW PROPERTIES;")
    values = {p["name"]: p["value"] for p in shown["properties"]}
    assert values["ksql.streams.auto.offset.reset"] == "latest"
    assert values["ksql.service.id"] == "default_"
    assert "ksql.streams.auto.offset.reset" in shown["defaultProperties"]
    assert shown["overwrittenProperties"] == []
    (shown,) = _ok(server, "SET 'auto.offset.reset'='earliest'; SHOW PROPERTIES;")
    values = {p["name"]: p["value"] for p in shown["properties"]}
    assert values["ksql.streams.auto.offset.reset"] == "earliest"
    assert shown["overwrittenProperties"] == ["ksql.streams.auto.offset.reset"]
    refused = server.ksql("SET 'no.such.property'='1';")
    assert refused.status_code == 400
    assert refused.json()["message"].startswith(
        "Not recognizable as ksql, streams, consumer, or producer property: 'no.such.property'"
    )
    assert server.ksql("SET 'ksql.streams.max.poll.records'='10';").status_code == 200


def test_functions_of_every_kind(server: Server) -> None:
    (listed,) = _ok(server, "SHOW FUNCTIONS;")
    kinds = {f["name"]: f["type"] for f in listed["functions"]}
    assert kinds["COUNT"] == "AGGREGATE" and kinds["EXPLODE"] == "TABLE"
    assert kinds["UCASE"] == "SCALAR"
    (count,) = _ok(server, "DESCRIBE FUNCTION COUNT;")
    assert count["@type"] == "describe_function" and count["type"] == "AGGREGATE"
    assert count["functions"]


def test_show_topics_extended_counts_consumers(server: Server) -> None:
    _ok(server, EVENTS + "CREATE STREAM events_copy AS SELECT * FROM events;")
    (plain,) = _ok(server, "SHOW TOPICS;")
    assert plain["@type"] == "kafka_topics"
    (extended,) = _ok(server, "SHOW TOPICS EXTENDED;")
    assert extended["@type"] == "kafka_topics_extended"
    topics = {t["name"]: t for t in extended["topics"]}
    assert topics["events"]["consumerGroupCount"] == 1 and topics["events"]["consumerCount"] == 1
    assert topics["EVENTS_COPY"]["consumerGroupCount"] == 0
