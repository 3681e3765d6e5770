"""Behaviour ksqlDB's suite checks strictly: refusals' wording, what an aggregation carries,
exact numbers on the wire. Each runs on a real engine over the embedded log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlengine.engine import Engine
from sqlengine.results import StatementError
from sqlengine.serde.avro_format import AvroSchema
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
