"""Table functions: the registry, EXPLODE and CUBE_EXPLODE, zipping, errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sqlengine import results as R
from sqlengine import types as T
from sqlengine.engine import Engine
from sqlengine.table_functions import table_function
from sqlengine.testing.compare import read_topic

ARRAYS = (
    "CREATE STREAM s (k STRING KEY, a ARRAY<INT>, b ARRAY<INT>, n INT) "
    "WITH (kafka_topic='s', value_format='JSON', partitions=1);"
)


def _values(engine: Engine, topic: str) -> list[object]:
    return [orjson.loads(r.value) for r in read_topic(engine, topic)]


def test_cube_explode_gives_every_combination_once() -> None:
    fn = table_function("cube_explode")
    assert fn is not None
    impl = fn.resolve([T.Array(T.INTEGER)]).impl
    assert impl([1, 2]) == [[None, None], [None, 2], [1, None], [1, 2]]
    assert impl([1, None]) == [[None, None], [1, None]]


def test_explode_rejects_a_map_listing_its_signatures() -> None:
    fn = table_function("EXPLODE")
    assert fn is not None
    with pytest.raises(
        Exception, match=r"explode\(ARRAY<DECIMAL> input\)\nexplode\(ARRAY<T> list\)"
    ):
        fn.resolve([T.Map(T.STRING, T.INTEGER)])


def test_several_table_functions_zip_padding_the_shorter(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        ARRAYS
        + "CREATE STREAM o AS SELECT k, EXPLODE(a) AS x, EXPLODE(b) AS y, n FROM s WHERE n > 0;"
    )
    engine.execute("INSERT INTO s (k, a, b, n) VALUES ('k', ARRAY[1, 2], ARRAY[10], 1);")
    engine.execute("INSERT INTO s (k, a, b, n) VALUES ('k', ARRAY[3], ARRAY[30], 0);")
    engine.execute("INSERT INTO s (k, a, b, n) VALUES ('k', NULL, ARRAY[40], 2);")
    engine.run_until_idle()
    assert _values(engine, "O") == [
        {"X": 1, "Y": 10, "N": 1},
        {"X": 2, "Y": None, "N": 1},
        {"X": None, "Y": 40, "N": 2},
    ]
    engine.close()


def test_listed_as_table_functions(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    listed = engine.execute("SHOW FUNCTIONS;")[0]
    assert isinstance(listed, R.FunctionList)
    kinds = {name: kind for name, kind, _ in listed.functions}
    assert kinds["EXPLODE"] == kinds["CUBE_EXPLODE"] == "TABLE"
    described = engine.execute("DESCRIBE FUNCTION cube_explode;")[0]
    assert isinstance(described, R.FunctionDescription) and described.kind == "TABLE"
    engine.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT k, EXPLODE(EXPLODE(a)) FROM s", "Table functions cannot be nested"),
        (
            "SELECT k, CASE WHEN n > 0 THEN EXPLODE(a) END FROM s",
            "Table functions cannot be used in CASE",
        ),
        (
            "SELECT n, EXPLODE(a), COUNT(*) FROM s GROUP BY n",
            "Table functions cannot be used with aggregations.",
        ),
    ],
)
def test_errors(tmp_path: Path, query: str, message: str) -> None:
    engine = Engine(tmp_path)
    engine.execute(ARRAYS)
    kind = "TABLE" if "GROUP BY" in query else "STREAM"
    with pytest.raises(R.StatementError) as err:
        engine.execute(f"CREATE {kind} o AS {query};")
    assert message in err.value.message
    engine.close()


def test_table_sources_refuse_table_functions(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE TABLE t (k STRING PRIMARY KEY, a ARRAY<INT>) "
        "WITH (kafka_topic='t', value_format='JSON', partitions=1);"
    )
    with pytest.raises(R.StatementError, match="Table source is not supported"):
        engine.execute("CREATE TABLE o AS SELECT k, EXPLODE(a) FROM t;")
    engine.close()
