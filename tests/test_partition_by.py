"""PARTITION BY on the real embedded log: re-keying, naming, null keys, errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sqlengine import results as R
from sqlengine.engine import Engine
from sqlengine.log.base import default_partition
from sqlengine.testing.compare import read_topic

PEOPLE = (
    "CREATE STREAM people (id INT KEY, name STRING, age INT) "
    "WITH (kafka_topic='people', format='JSON', partitions=1);"
)


def _run(tmp_path: Path, query: str, inserts: list[str]) -> Engine:
    engine = Engine(tmp_path)
    engine.execute(PEOPLE + query)
    for values in inserts:
        engine.execute(f"INSERT INTO people (id, name, age) VALUES ({values});")
    engine.run_until_idle()
    return engine


def _keys_values(engine: Engine, topic: str) -> list[tuple[object, object]]:
    return [
        (
            None if r.key is None else orjson.loads(r.key),
            None if r.value is None else orjson.loads(r.value),
        )
        for r in read_topic(engine, topic)
    ]


def _schema(engine: Engine, name: str) -> list[tuple[str, str, str]]:
    source = engine.catalog.sources[name]
    return [(c.name, str(c.type), c.kind) for c in source.columns]


def test_select_star_moves_the_old_key_into_the_value(tmp_path: Path) -> None:
    engine = _run(
        tmp_path, "CREATE STREAM o AS SELECT * FROM people PARTITION BY name;", ["1, 'a', 7"]
    )
    assert _keys_values(engine, "O") == [("a", {"AGE": 7, "ID": 1})]
    assert [(n, k) for n, _, k in _schema(engine, "O")] == [
        ("NAME", "KEY"),
        ("AGE", "VALUE"),
        ("ID", "VALUE"),
    ]
    engine.close()


def test_expression_key_takes_the_select_alias(tmp_path: Path) -> None:
    sql = "CREATE STREAM o AS SELECT UCASE(name) AS k, age FROM people PARTITION BY UCASE(name);"
    engine = _run(tmp_path, sql, ["1, 'a', 7", "2, NULL, 8"])
    assert _keys_values(engine, "O") == [("A", {"AGE": 7}), (None, {"AGE": 8})]
    assert _schema(engine, "O")[0][0] == "K"
    engine.close()


def test_unaliased_expressions_are_named_like_ksqldb(tmp_path: Path) -> None:
    sql = "CREATE STREAM o AS SELECT * FROM people PARTITION BY ABS(age);"
    engine = _run(tmp_path, sql, ["1, 'a', -7"])
    assert _schema(engine, "O")[0] == ("KSQL_COL_0", "INT", "KEY")
    assert _keys_values(engine, "O") == [(7, {"NAME": "a", "AGE": -7, "ID": 1})]
    engine.close()


def test_several_expressions_make_a_struct_key_even_when_all_null(tmp_path: Path) -> None:
    sql = "CREATE STREAM o AS SELECT age, name, id FROM people PARTITION BY name, age;"
    engine = _run(tmp_path, sql, ["1, 'a', 7", "2, NULL, NULL"])
    assert _keys_values(engine, "O") == [
        ({"NAME": "a", "AGE": 7}, {"ID": 1}),
        ({"NAME": None, "AGE": None}, {"ID": 2}),
    ]
    assert [n for n, _, k in _schema(engine, "O") if k == "KEY"] == ["NAME", "AGE"]
    engine.close()


def test_partition_by_null_gives_a_keyless_stream(tmp_path: Path) -> None:
    engine = _run(
        tmp_path, "CREATE STREAM o AS SELECT * FROM people PARTITION BY NULL;", ["1, 'a', 7"]
    )
    assert _keys_values(engine, "O") == [(None, {"ID": 1, "NAME": "a", "AGE": 7})]
    assert engine.catalog.sources["O"].key_format.name == "NONE"
    engine.close()


def test_records_go_to_the_partition_their_new_key_hashes_to(tmp_path: Path) -> None:
    engine = _run(
        tmp_path,
        "CREATE STREAM o WITH (partitions=4) AS SELECT * FROM people PARTITION BY name;",
        [f"{i}, 'n{i}', {i}" for i in range(12)],
    )
    for p in range(4):
        for record in engine.log.read("O", p, 0).records():
            assert default_partition(record.key, 4, 0) == p
    assert len(read_topic(engine, "O")) == 12
    engine.close()


def test_null_value_records_keep_a_key_computed_from_key_columns(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        PEOPLE
        + "CREATE STREAM by_id AS SELECT id + 1 AS k, name FROM people PARTITION BY id + 1;"
        + "CREATE STREAM by_name AS SELECT * FROM people PARTITION BY name;"
    )
    engine.log.append_batch("people", [b"5"], [None], [0])
    engine.run_until_idle()
    assert _keys_values(engine, "BY_ID") == [(6, None)]
    assert _keys_values(engine, "BY_NAME") == [(None, None)]
    engine.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT name AS n, age FROM people PARTITION BY n",
            "PARTITION BY column 'N' cannot be resolved. 'N' must be a column in the source "
            "schema since PARTITION BY is applied on the input.",
        ),
        (
            "SELECT id, name FROM people PARTITION BY id, age",
            "must include the partitioning expressions PEOPLE.ID and PEOPLE.AGE in its "
            "projection (eg, SELECT PEOPLE.ID, PEOPLE.AGE...).",
        ),
        ("SELECT * FROM people PARTITION BY NULL, id", "Cannot PARTITION BY multiple columns"),
        ("SELECT * FROM people PARTITION BY ()", "PARTITION BY requires at least one expression"),
        ("SELECT name AS a, name AS b, id FROM people PARTITION BY name", "more than once"),
    ],
)
def test_errors(tmp_path: Path, query: str, message: str) -> None:
    engine = Engine(tmp_path)
    engine.execute(PEOPLE)
    with pytest.raises(R.StatementError) as err:
        engine.execute(f"CREATE STREAM o AS {query};")
    assert message in err.value.message
    engine.close()


def test_a_table_can_only_restate_its_key(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, name STRING) "
        "WITH (kafka_topic='t', format='JSON', partitions=1);"
        "CREATE TABLE same AS SELECT * FROM t PARTITION BY id;"
    )
    with pytest.raises(R.StatementError, match="Cannot repartition a TABLE source"):
        engine.execute("CREATE TABLE other AS SELECT * FROM t PARTITION BY name;")
    engine.close()
