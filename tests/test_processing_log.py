"""The processing log as ksqlDB has it: bad records and failed expressions become records of
ksqlDB's shape on the processing log topic, queryable as the KSQL_PROCESSING_LOG stream that
the server creates at start, while the query that met them keeps running."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import orjson

from server.serve import background_server, create_processing_log_stream
from sqlengine.engine import Engine

ORDERS = (
    "CREATE STREAM orders (id INT KEY, a INT, b INT) "
    "WITH (kafka_topic='orders', value_format='JSON', partitions=1);"
)
RATIOS = "CREATE STREAM ratios AS SELECT id, a / b AS q FROM orders;"
EARLIEST = {"auto.offset.reset": "earliest"}


def logged(engine: Engine, topic: str = "default_ksql_processing_log") -> list[dict]:
    batch = engine.log.read(topic, 0, 0)
    return [orjson.loads(v) for v in batch.values]


def test_a_bad_record_and_a_failed_expression_in_ksqldb_shape(tmp_path: Path) -> None:
    engine = Engine(tmp_path, config={"ksql.logging.processing.rows.include": "true"})
    try:
        engine.execute(ORDERS + RATIOS)
        engine.log.append_batch("orders", [b"\x00\x00\x00\x01"], [b"{not json"], [0])
        engine.execute(
            "INSERT INTO orders (id, a, b) VALUES (2, 6, 0);"
            "INSERT INTO orders (id, a, b) VALUES (3, 6, 3);"
        )
        engine.run_until_idle()
        bad, division = logged(engine)
        query_id = next(iter(engine.executor.running))
        assert bad["level"] == "ERROR" and isinstance(bad["time"], int)
        assert bad["logger"] == f"processing.{query_id}.KsqlTopic.Source.deserializer"
        assert bad["message"]["type"] == 0
        error = bad["message"]["deserializationError"]
        assert error["topic"] == "orders" and error["target"] == "value"
        assert base64.b64decode(error["recordB64"]) == b"{not json"
        assert error["errorMessage"]
        assert bad["message"]["recordProcessingError"] is None
        assert division["message"]["type"] == 1
        processing = division["message"]["recordProcessingError"]
        assert orjson.loads(processing["record"]) == {"A": 6, "B": 0}
        assert division["logger"] == f"processing.{query_id}.Project"
        # the query ran on: the good record came through
        assert engine.log.end_offset("RATIOS", 0) == 2
        assert engine.plog.failures_by_query() == {query_id: 2}
    finally:
        engine.close()


def test_rows_are_left_out_unless_included(tmp_path: Path) -> None:
    engine = Engine(tmp_path, config={"ksql.logging.processing.topic.name": "errors"})
    try:
        engine.execute(ORDERS + RATIOS)
        engine.log.append_batch("orders", [None], [b"]"], [0])
        engine.run_until_idle()
        (bad,) = logged(engine, "errors")
        assert bad["message"]["deserializationError"]["recordB64"] is None
    finally:
        engine.close()


def test_the_processing_log_stream_over_rest(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    try:
        create_processing_log_stream(engine)
        create_processing_log_stream(engine)  # again, as at every start: nothing new
        engine.start()
        with background_server(engine) as url:
            shown = httpx.post(f"{url}/ksql", json={"ksql": "SHOW STREAMS;"}).json()
            names = [s["name"] for s in shown[0]["streams"]]
            assert names.count("KSQL_PROCESSING_LOG") == 1
            created = httpx.post(f"{url}/ksql", json={"ksql": ORDERS + RATIOS})
            assert created.status_code == 200
            engine.log.append_batch("orders", [None], [b"{not json"], [0])
            select = (
                "SELECT logger, level, message->type AS type, "
                "message->deserializationError->`topic` AS source_topic "
                "FROM KSQL_PROCESSING_LOG EMIT CHANGES LIMIT 1;"
            )
            response = httpx.post(
                f"{url}/query-stream",
                json={"sql": select, "properties": EARLIEST},
                timeout=60,
            )
            assert response.status_code == 200, response.text
            header, row = map(orjson.loads, response.text.splitlines()[:2])
            assert header["columnNames"] == ["LOGGER", "LEVEL", "TYPE", "SOURCE_TOPIC"]
            logger, level, kind, source_topic = row
            assert logger.endswith(".KsqlTopic.Source.deserializer")
            assert (level, kind, source_topic) == ("ERROR", 0, "orders")
    finally:
        engine.close()


def test_the_stream_can_be_switched_off_or_renamed(tmp_path: Path) -> None:
    off = Engine(tmp_path / "off", config={"ksql.logging.processing.stream.auto.create": "false"})
    try:
        create_processing_log_stream(off)
        assert off.catalog.source("KSQL_PROCESSING_LOG") is None
    finally:
        off.close()
    renamed = Engine(tmp_path / "renamed", config={"ksql.logging.processing.stream.name": "errs"})
    try:
        create_processing_log_stream(renamed)
        assert renamed.catalog.source("ERRS") is not None
    finally:
        renamed.close()
