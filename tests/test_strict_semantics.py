"""Behaviour ksqlDB's suite checks strictly: refusals' wording, what an aggregation carries,
exact numbers on the wire. Each runs on a real engine over the embedded log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from sqlengine import catalog as C
from sqlengine import serde
from sqlengine.engine import Engine
from sqlengine.javatext import java_hash_map_order
from sqlengine.results import StatementError
from sqlengine.serde.avro_format import AvroSchema
from sqlengine.serde.json_sr_format import JsonSrSchema
from sqlengine.sink import format_info
from sqlengine.testing.compare import read_topic

TEST = (
    "CREATE STREAM TEST (ID INT KEY, ID2 INT, D1 STRING, D DOUBLE) "
    "WITH (kafka_topic='test_topic', value_format='JSON', partitions=1);"
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = Engine(tmp_path)
    engine.execute(TEST)
    yield engine
    engine.close()


def _refusal(engine: Engine, sql: str) -> str:
    with pytest.raises(StatementError) as refused:
        engine.execute(sql)
    return str(refused.value)


def test_a_persistent_aggregation_needs_group_by(engine: Engine) -> None:
    message = _refusal(engine, "CREATE TABLE OUTPUT AS SELECT COUNT(*), SUM(ID2) FROM TEST;")
    assert message.startswith(
        "CREATE TABLE AS SELECT statement does not support aggregate function "
        "[COUNT(ROWTIME), SUM(ID2)] without a GROUP BY clause."
    )
    # A column outside any aggregate is named first, as ksqlDB checks the select first.
    message = _refusal(engine, "CREATE TABLE OUTPUT AS SELECT D1, COUNT() FROM TEST;")
    assert message.startswith("Non-aggregate SELECT expression(s) not part of GROUP BY: D1")
    assert engine.catalog.source("OUTPUT") is None


def test_a_key_format_refusal_is_stated_once(engine: Engine) -> None:
    message = _refusal(
        engine, "CREATE TABLE OUTPUT AS SELECT ID2, D1, COUNT(*) FROM TEST GROUP BY ID2, D1;"
    )
    assert message.count("Key format does not support schema.") == 1
    assert "reason: The 'KAFKA' format only supports a single field." in message
    # The statement as ksqlDB rewrites it: items aliased, columns qualified, one clause a line.
    assert message.endswith(
        "Statement: CREATE TABLE OUTPUT AS SELECT\n  TEST.ID2 ID2,\n  TEST.D1 D1,\n"
        "  COUNT(*) KSQL_COL_0\nFROM TEST TEST\nGROUP BY TEST.ID2, TEST.D1\nEMIT CHANGES"
    )


def test_json_doubles_are_written_as_java_prints_them(engine: Engine) -> None:
    engine.execute("CREATE STREAM OUTPUT AS SELECT ID, D FROM TEST;")
    for value in ("1E12", "0.5", "0.0001", "-2.5E-7", "12345678.0"):
        engine.execute(f"INSERT INTO TEST (ID, D) VALUES (1, {value});")
    engine.run_until_idle()
    written = [r.value for r in read_topic(engine, "OUTPUT")]
    assert written == [
        b'{"D":1.0E12}',
        b'{"D":0.5}',
        b'{"D":1.0E-4}',
        b'{"D":-2.5E-7}',
        b'{"D":1.2345678E7}',
    ]


def test_a_registered_avro_schemas_defaults_fill_null_fields() -> None:
    """Writing with a given schema id: a NULL (or absent) field the schema declares required
    with a default is written as the default, nested records too."""
    inner = {
        "type": "record",
        "name": "inner",
        "fields": [
            {"name": "n", "type": "int", "default": 7},
            {"name": "s", "type": "string", "default": "none"},
        ],
    }
    schema = AvroSchema(
        {
            "type": "record",
            "name": "outer",
            "fields": [{"name": "id", "type": "string"}, {"name": "inner", "type": inner}],
        }
    )
    written = schema.writer()({"ID": "a", "INNER": {"N": None}})
    assert schema.reader()(written) == {"id": "a", "inner": {"n": 7, "s": "none"}}


def test_a_query_writing_with_a_schema_id_must_match_its_fields(engine: Engine) -> None:
    registry = engine.schema_registry
    reordered = {
        "type": "record",
        "name": "r",
        "fields": [{"name": "D1", "type": "string"}, {"name": "ID2", "type": "int"}],
    }
    wider = {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "ID2", "type": ["null", "int"]},
            {"name": "EXTRA", "type": ["null", "string"], "default": None},
        ],
    }
    reordered_id = registry.register("a-value", "AVRO", json.dumps(reordered))
    wider_id = registry.register("b-value", "AVRO", json.dumps(wider))
    message = _refusal(
        engine,
        f"CREATE STREAM A WITH (value_format='AVRO', value_schema_id={reordered_id}) "
        "AS SELECT ID, ID2 FROM TEST;",
    )
    assert message.startswith(
        "The following value columns are changed, missing or reordered: [`ID2` INTEGER]. "
        "Schema from schema registry is [`D1` STRING, `ID2` INTEGER]"
    )
    # Fields after the query's columns are fine: written NULL (their default).
    engine.execute(
        f"CREATE STREAM B WITH (value_format='AVRO', value_schema_id={wider_id}) "
        "AS SELECT ID, ID2 FROM TEST;"
    )
    engine.execute("INSERT INTO TEST (ID, ID2) VALUES (1, 5);")
    engine.run_until_idle()
    [record] = read_topic(engine, "B")
    decoded = serde.schema_decoder(
        format_info(C.Format("AVRO")), [], is_key=False, registry=registry
    )
    assert decoded(record.value) == {"ID2": 5, "EXTRA": None}


def test_json_sr_writes_every_property_of_its_schema() -> None:
    schema = JsonSrSchema(
        {
            "type": "object",
            "properties": {
                "c1": {"type": "integer"},
                "s": {
                    "type": "object",
                    "properties": {"x": {"type": "string"}, "y": {"type": "integer"}},
                },
            },
        }
    )
    assert schema.writer()({"C1": 4, "S": {"Y": 1}}) == b'{"c1":4,"s":{"x":null,"y":1}}'


def test_topics_register_in_java_hash_map_order() -> None:
    # "input" hashes to bucket 1 and "OUTPUT" to 5 of a 16-bucket HashMap.
    assert java_hash_map_order(["OUTPUT", "input"]) == ["input", "OUTPUT"]
    many = [f"t{i}" for i in range(20)]  # past 12 entries the map has 32 buckets
    assert sorted(java_hash_map_order(many)) == sorted(many)


def test_avro_dates_outside_pythons_range_are_read_as_days() -> None:
    schema = AvroSchema(
        {
            "type": "record",
            "name": "r",
            "fields": [{"name": "V", "type": ["null", {"type": "int", "logicalType": "date"}]}],
        }
    )
    assert schema.reader()(schema.writer()({"V": -2147483647})) == {"V": -2147483647}


def test_parse_date_ignores_text_after_the_pattern_as_ksqldb_does(engine: Engine) -> None:
    """PARSE_DATE reads as Java's SimpleDateFormat (a prefix); STRINGTODATE as
    DateTimeFormatter (the whole text)."""
    engine.execute(
        "CREATE STREAM OUTPUT AS SELECT ID, PARSE_DATE(D1, 'yyyy-MM-dd') AS P, "
        "STRINGTODATE(D1, 'yyyy-MM-dd') AS S FROM TEST;"
    )
    engine.execute("INSERT INTO TEST (ID, D1) VALUES (1, '2003-12-24-01-01');")
    engine.execute("INSERT INTO TEST (ID, D1) VALUES (2, '2004');")
    engine.run_until_idle()
    written = [orjson.loads(r.value) for r in read_topic(engine, "OUTPUT")]
    assert written == [{"P": 12410, "S": None}, {"P": None, "S": None}]


def test_a_map_is_folded_in_the_order_ksqldb_reads_it(tmp_path: Path) -> None:
    """ksqlDB reads a map into a java.util.HashMap: REDUCE sees its entries in that map's
    order ('a', 'b', 'c' hash to buckets 1, 2, 3), not as the record wrote them."""
    engine = Engine(tmp_path)
    try:
        engine.execute(
            "CREATE STREAM M (V MAP<STRING, INT>) "
            "WITH (kafka_topic='m', value_format='JSON', partitions=1);"
            "CREATE STREAM OUTPUT AS SELECT REDUCE(V, '', (s, k, v) => CONCAT(s, k)) AS R "
            "FROM M;"
        )
        engine.log.append_batch("m", [None], [b'{"V": {"b": 1, "c": 3, "a": 2}}'], [0], [()])
        engine.run_until_idle()
        assert [orjson.loads(r.value) for r in read_topic(engine, "OUTPUT")] == [{"R": "abc"}]
    finally:
        engine.close()


def test_an_aggregation_forwards_each_records_headers(tmp_path: Path) -> None:
    """With the record cache off, each update carries the headers of the record that made
    it, as Kafka Streams forwards them; a record without headers makes an update without."""
    engine = Engine(tmp_path, config={"ksql.streams.cache.max.bytes.buffering": "0"})
    try:
        engine.execute(
            "CREATE STREAM S (V STRING) WITH (kafka_topic='s', value_format='JSON', partitions=1);"
            "CREATE TABLE COUNTS AS SELECT V, COUNT(*) AS N FROM S GROUP BY V;"
        )
        values = [b'{"V": "a"}', b'{"V": "b"}', b'{"V": "a"}']
        headers = [(("h", b"1"),), (), (("h", b"3"), ("g", None))]
        engine.log.append_batch("s", [None] * 3, values, [0, 1, 2], headers)
        engine.run_until_idle()
        written = read_topic(engine, "COUNTS")
        assert [(orjson.loads(r.value), r.headers) for r in written] == [
            ({"N": 1}, (("h", b"1"),)),
            ({"N": 1}, ()),
            ({"N": 2}, (("h", b"3"), ("g", None))),
        ]
    finally:
        engine.close()
