"""A join's internal topics on the embedded log, as ksqlDB's rules give them: which sides are
repartitioned (re-keyed, a key format that differs from the join's, or a Schema Registry key
format), in which key format, under Kafka Streams' names; and windowed joins across window
sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from sqlengine import serde
from sqlengine import types as T
from sqlengine.engine import Engine
from sqlengine.testing.compare import read_topic
from sqlengine.testing.runner import produce

PREFIX = "_confluent-ksql-default_query_"


def _engine(data_dir: Path, statements: list[str], config: dict[str, str] | None = None) -> Engine:
    engine = Engine(data_dir, config=config)
    for sql in statements:
        for stmt in engine.parse(sql):
            engine.execute_statement(stmt, {})
    return engine


def _internal(engine: Engine, query_id: str) -> set[str]:
    prefix = f"{PREFIX}{query_id}-"
    return {t.name.removeprefix(prefix) for t in engine.log.topics() if t.name.startswith(prefix)}


def _stream(name: str, key: str, extra: str = "") -> str:
    keyed = "ID INT KEY, " if key != "NONE" else "ID INT, "
    return (
        f"CREATE STREAM {name} ({keyed}V INT) WITH (kafka_topic='{name.lower()}', "
        f"key_format='{key}', value_format='JSON', partitions=2{extra});"
    )


def _table(name: str, key: str) -> str:
    return (
        f"CREATE TABLE {name} (ID INT PRIMARY KEY, V INT) WITH (kafka_topic='{name.lower()}', "
        f"key_format='{key}', value_format='JSON', partitions=2);"
    )


S_S_JOIN = (
    "CREATE STREAM OUTPUT AS SELECT S1.ID, S2.V FROM S1 JOIN S2 WITHIN 10 SECONDS ON S1.ID = S2.ID;"
)


def test_matching_key_formats_repartition_nothing(tmp_path: Path) -> None:
    engine = _engine(tmp_path, [_stream("S1", "KAFKA"), _stream("S2", "KAFKA"), S_S_JOIN])
    try:
        topics = _internal(engine, "CSAS_OUTPUT_0")
        assert not {t for t in topics if t.endswith("-repartition")}
        assert "KSTREAM-JOINTHIS-0000000008-store-changelog" in topics
        assert "KSTREAM-JOINOTHER-0000000009-store-changelog" in topics
    finally:
        engine.close()


def test_right_side_takes_the_left_key_format(tmp_path: Path) -> None:
    """Key-to-key, but DELIMITED against KAFKA keys: the right side is written again in the
    left's key format, with the left's partition count."""
    engine = _engine(tmp_path, [_stream("S1", "DELIMITED"), _stream("S2", "KAFKA"), S_S_JOIN])
    try:
        topics = _internal(engine, "CSAS_OUTPUT_0")
        assert "Join-right-repartition" in topics
        assert "Join-left-repartition" not in topics
        assert "KSTREAM-JOINTHIS-0000000012-store-changelog" in topics
        info = engine.log.topic(f"{PREFIX}CSAS_OUTPUT_0-Join-right-repartition")
        assert info is not None and info.partitions == 2
    finally:
        engine.close()


def test_keyless_sides_use_the_default_key_format(tmp_path: Path) -> None:
    statements = [
        _stream("S1", "NONE"),
        _stream("S2", "NONE"),
        "CREATE STREAM OUTPUT AS SELECT S1.ID, S2.V FROM S1 LEFT JOIN S2 WITHIN 10 SECONDS "
        "ON S1.ID = S2.ID;",
    ]
    config = {"ksql.persistence.default.format.key": "DELIMITED"}
    engine = _engine(tmp_path, statements, config)
    try:
        topics = _internal(engine, "CSAS_OUTPUT_0")
        assert {"Join-left-repartition", "Join-right-repartition"} <= topics
        assert "KSTREAM-JOINTHIS-0000000016-store-changelog" in topics
        assert "KSTREAM-OUTEROTHER-0000000017-store-changelog" in topics
        assert engine.catalog.source("OUTPUT").key_format.name == "DELIMITED"
    finally:
        engine.close()


def test_schema_registry_key_formats_repartition_both_sides(tmp_path: Path) -> None:
    """Equal JSON_SR keys of two topics differ in their schema ids: both sides are written
    again, and the internal topics' key schemas registered."""
    engine = _engine(tmp_path, [_stream("S1", "JSON_SR"), _stream("S2", "JSON_SR"), S_S_JOIN])
    try:
        topics = _internal(engine, "CSAS_OUTPUT_0")
        assert {"Join-left-repartition", "Join-right-repartition"} <= topics
        subject = f"{PREFIX}CSAS_OUTPUT_0-Join-left-repartition-key"
        registered = engine.schema_registry.latest(subject)
        assert registered is not None and registered.schema_type == "JSON"
        assert "integer" in registered.schema
    finally:
        engine.close()


def test_stream_rekeyed_into_the_tables_key_format(tmp_path: Path) -> None:
    statements = [
        _table("T", "KAFKA"),
        _stream("S", "DELIMITED"),
        "CREATE STREAM OUTPUT AS SELECT S.V, T.V AS TV FROM S LEFT JOIN T ON S.V = T.ID;",
    ]
    engine = _engine(tmp_path, statements)
    try:
        topics = _internal(engine, "CSAS_OUTPUT_0")
        assert {"Join-repartition", "KafkaTopic_Right-Reduce-changelog"} <= topics
        assert not {t for t in topics if "SourceKeyed" in t}
    finally:
        engine.close()


def test_table_rekeyed_for_a_key_format_mismatch(tmp_path: Path) -> None:
    statements = [
        _table("T1", "KAFKA"),
        _table("T2", "DELIMITED"),
        "CREATE TABLE OUTPUT AS SELECT T1.ID, T1.V, T2.V AS V2 FROM T1 JOIN T2 ON T1.ID = T2.ID;",
    ]
    engine = _engine(tmp_path, statements)
    try:
        topics = _internal(engine, "CTAS_OUTPUT_0")
        assert "RightSourceKeyed-SelectKey-repartition" in topics
        assert "RightSourceKeyed-Materialize-changelog" in topics
        assert "LeftSourceKeyed-SelectKey-repartition" not in topics
    finally:
        engine.close()


def test_nested_join_topics_are_prefixed(tmp_path: Path) -> None:
    statements = [
        _stream("S1", "JSON_SR"),
        _stream("S2", "AVRO"),
        _stream("S3", "AVRO"),
        "CREATE STREAM OUTPUT AS SELECT S2.ID, S1.V, S2.V AS V2, S3.V AS V3 FROM S1 "
        "JOIN S2 WITHIN 5 SECONDS ON S1.ID = S2.ID JOIN S3 WITHIN 10 SECONDS ON S1.V = S3.V;",
    ]
    engine = _engine(tmp_path, statements)
    try:
        topics = _internal(engine, "CSAS_OUTPUT_0")
        assert {"L_Join-left-repartition", "L_Join-right-repartition"} <= topics
        assert {"Join-left-repartition", "Join-right-repartition"} <= topics
        assert "KSTREAM-JOINTHIS-0000000016-store-changelog" in topics
        assert "KSTREAM-JOINTHIS-0000000032-store-changelog" in topics
    finally:
        engine.close()


@pytest.mark.parametrize(("right_key", "repartitioned"), [("AVRO", True), ("JSON", False)])
def test_foreign_key_join_repartitions_a_registry_keyed_right_table(
    tmp_path: Path, right_key: str, repartitioned: bool
) -> None:
    statements = [
        "CREATE TABLE L (ID BIGINT PRIMARY KEY, FK BIGINT) WITH (kafka_topic='l', "
        "format='AVRO', partitions=1);",
        "CREATE TABLE R (ID BIGINT PRIMARY KEY, F1 VARCHAR) WITH (kafka_topic='r', "
        f"key_format='{right_key}', value_format='JSON', partitions=1);",
        "CREATE TABLE OUTPUT AS SELECT L.ID, F1 FROM L JOIN R ON L.FK = R.ID;",
    ]
    engine = _engine(tmp_path, statements)
    try:
        topics = _internal(engine, "CTAS_OUTPUT_0")
        assert ("RightSourceKeyed-SelectKey-repartition" in topics) is repartitioned
    finally:
        engine.close()


def test_time_windows_of_different_sizes_join_on_their_start(tmp_path: Path) -> None:
    """Time-windowed keys are framed by their start alone: a 5 s hopping window and a 2 s
    tumbling one starting together match; the result's window is the left source's."""
    statements = [
        "CREATE STREAM S1 (ID INT KEY, V BIGINT) WITH (kafka_topic='s1', value_format='JSON', "
        "WINDOW_TYPE='Hopping', WINDOW_SIZE='5 SECONDS', partitions=1);",
        "CREATE STREAM S2 (ID INT KEY, V BIGINT) WITH (kafka_topic='s2', value_format='JSON', "
        "WINDOW_TYPE='Tumbling', WINDOW_SIZE='2 SECONDS', partitions=1);",
        "CREATE STREAM OUTPUT AS SELECT S1.ID, S1.V, S2.V AS V2 FROM S1 JOIN S2 WITHIN 1 MINUTE "
        "ON S1.ID = S2.ID;",
    ]
    engine = _engine(tmp_path, statements)
    inputs: list[dict[str, Any]] = [
        {
            "topic": "s1",
            "key": 1,
            "value": {"V": 1},
            "timestamp": 0,
            "window": {"start": 0, "end": 5000, "type": "time"},
        },
        {
            "topic": "s1",
            "key": 1,
            "value": {"V": 2},
            "timestamp": 1000,
            "window": {"start": 1000, "end": 6000, "type": "time"},
        },
        {
            "topic": "s2",
            "key": 1,
            "value": {"V": 4},
            "timestamp": 0,
            "window": {"start": 0, "end": 2000, "type": "time"},
        },
    ]
    try:
        for record in inputs:
            produce(engine, record)
            engine.run_until_idle()
        out = read_topic(engine, "OUTPUT")
        assert len(out) == 1
        assert orjson.loads(out[0].value) == {"S1_V": 1, "V2": 4}
        source = engine.catalog.source("OUTPUT")
        assert source is not None and source.window is not None and source.window.size_ms == 5000
    finally:
        engine.close()


def test_avro_test_data_finds_record_fields_ignoring_case(tmp_path: Path) -> None:
    """Test data for a key whose registered Avro record names its field `val` gives it as
    VAL, as upstream's test-data serializer allows."""
    engine = _engine(tmp_path, [])
    schema = {
        "type": "record",
        "name": "EntityId",
        "namespace": "com.example",
        "fields": [{"name": "val", "type": "long"}],
    }
    engine.schema_registry.register("r-key", "AVRO", orjson.dumps(schema).decode())
    statement = (
        "CREATE TABLE R (ID STRUCT<VAL BIGINT> PRIMARY KEY, F1 INT) WITH (kafka_topic='r', "
        "format='AVRO', partitions=1);"
    )
    for stmt in engine.parse(statement):
        engine.execute_statement(stmt, {})
    try:
        produce(engine, {"topic": "r", "key": {"VAL": 7}, "value": {"F1": 1}, "timestamp": 0})
        (record,) = read_topic(engine, "r")
        assert record.key is not None
        decode = serde.schema_decoder(
            serde.FormatInfo("AVRO", {}),
            [("ID", T.Struct((T.Field("VAL", T.BIGINT),)))],
            is_key=True,
            registry=engine.schema_registry,
        )
        assert decode(record.key) == {"val": 7}
    finally:
        engine.close()


def test_terminate_deletes_the_internal_topics(tmp_path: Path) -> None:
    engine = _engine(tmp_path, [_stream("S1", "DELIMITED"), _stream("S2", "KAFKA"), S_S_JOIN])
    try:
        assert "Join-right-repartition" in _internal(engine, "CSAS_OUTPUT_0")
        for stmt in engine.parse("TERMINATE CSAS_OUTPUT_0;"):
            engine.execute_statement(stmt, {})
        assert _internal(engine, "CSAS_OUTPUT_0") == set()
    finally:
        engine.close()
