"""User-defined functions in Python (sqlengine.udf) from an extension directory: in persistent
queries on a real engine, listed and described like built-ins, over a real server and the
`streamdb run` command; a broken file is named and skipped, a raising function goes to the
processing log."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sqlengine.engine import Engine
from sqlengine.results import FunctionDescription, Rows
from tests.live_server import start_server, streamdb

EXTENSION = textwrap.dedent(
    """
    from decimal import Decimal

    from sqlengine.udf import udaf, udf, udtf


    @udf(description="Multiplies two numbers.", author="Ann Example", version="1.2.0")
    def ext_multiply(a: int, b: int) -> int:
        return a * b


    @udf(name="ext_multiply", description="Multiplies two doubles.")
    def ext_multiply_doubles(a: float, b: float) -> float:
        return a * b


    @udf(params=["STRING", "STRING..."], returns="STRING")
    def ext_join(separator, *parts):
        return separator.join(parts)


    @udf()
    def ext_double(x: Decimal) -> Decimal:
        return x * 2


    @udf()
    def ext_or_zero(x: int | None) -> int:
        return 0 if x is None else x


    @udf()
    def ext_fragile(x: int) -> int:
        if x == 2:
            raise ValueError("two is not allowed")
        return x


    @udaf(description="Sum of squares.", author="Ann Example")
    class Ext_Squares:
        def initialize(self) -> int:
            return 0

        def aggregate(self, total: int, value: int) -> int:
            return total + value * value

        def merge(self, a: int, b: int) -> int:
            return a + b

        def map(self, total: int) -> int:
            return total

        def undo(self, total: int, value: int) -> int:
            return total - value * value


    @udaf()
    class Ext_Longest:
        def __init__(self, limit: int) -> None:
            self.limit = limit

        def initialize(self) -> list[str]:
            return []

        def aggregate(self, longest: list[str], word: str) -> list[str]:
            return sorted([*longest, word], key=len, reverse=True)[: self.limit]

        def map(self, longest: list[str]) -> list[str]:
            return longest


    @udtf(description="One row per word.")
    def ext_words(text: str) -> list[str]:
        return text.split()
    """
)


@pytest.fixture(scope="module")
def extension_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the module: a process loads a file once, as a server does."""
    folder = tmp_path_factory.mktemp("ext")
    (folder / "ext_functions.py").write_text(EXTENSION)
    (folder / "broken.py").write_text("import no_such_module_anywhere\n")
    return folder


@pytest.fixture
def engine(tmp_path: Path, extension_dir: Path) -> Iterator[Engine]:
    engine = Engine(tmp_path / "data", config={"ksql.extension.dir": str(extension_dir)})
    try:
        yield engine
    finally:
        engine.close()


def rows(engine: Engine, sql: str) -> list[list[object]]:
    (result,) = engine.execute(sql)
    assert isinstance(result, Rows)
    return result.rows


def test_udf_udaf_and_udtf_in_persistent_queries(engine: Engine) -> None:
    engine.execute(
        "CREATE STREAM S (ID INT KEY, V INT, T STRING, D DECIMAL(4, 2)) "
        "WITH (kafka_topic='s', value_format='JSON', partitions=1);"
        "INSERT INTO S (ID, V, T, D) VALUES (1, 3, 'to be or', 1.25);"
        "INSERT INTO S (ID, V, T, D) VALUES (1, 2, 'not', 2.50);"
        "INSERT INTO S (ID, V, T, D) VALUES (2, 4, 'to be', 0.50);"
        "CREATE STREAM P AS SELECT ID, EXT_MULTIPLY(V, 10) AS M, EXT_MULTIPLY(V, 0.5) AS H, "
        "EXT_JOIN('-', T, 'x', 'y') AS J, EXT_DOUBLE(D) AS D2, EXT_OR_ZERO(CAST(NULL AS INT)) "
        "AS Z, EXT_FRAGILE(V) AS F FROM S;"
        "CREATE TABLE SQ AS SELECT ID, EXT_SQUARES(V) AS TOTAL, EXT_LONGEST(T, 1) AS LONGEST "
        "FROM S GROUP BY ID;"
        "CREATE STREAM W AS SELECT ID, EXT_WORDS(T) AS WORD FROM S;"
    )
    engine.run_until_idle()
    assert rows(engine, "SELECT * FROM P EMIT CHANGES LIMIT 3;") == [
        [1, 30, 1.5, "to be or-x-y", 2.5, 0, 3],
        [1, 20, 1.0, "not-x-y", 5.0, 0, None],  # EXT_FRAGILE raised: NULL, the row goes on
        [2, 40, 2.0, "to be-x-y", 1.0, 0, 4],
    ]
    assert rows(engine, "SELECT * FROM SQ;") == [[1, 13, ["to be or"]], [2, 16, ["to be"]]]
    words = rows(engine, "SELECT WORD FROM W EMIT CHANGES LIMIT 6;")
    assert words == [["to"], ["be"], ["or"], ["not"], ["to"], ["be"]]
    failures = [e for e in engine.plog.entries if "two is not allowed" in e.message]
    assert len(failures) == 1 and failures[0].kind == "RECORD_PROCESSING_ERROR"


def test_a_push_query_calling_a_udf_is_never_computed_on_the_servers_event_loop(
    engine: Engine,
) -> None:
    """A UDF may take any time: a push query that calls one is polled on a worker thread,
    whereas one of built-ins on a shared reader has its rows taken on the event loop."""
    engine.execute(
        "CREATE STREAM S (ID INT KEY, V INT, T STRING) "
        "WITH (kafka_topic='s', value_format='JSON', partitions=1);"
    )
    queries = {}
    for name, sql in [
        ("built-ins", "SELECT ABS(V) FROM S WHERE V > 0 EMIT CHANGES;"),
        ("udf in select", "SELECT EXT_MULTIPLY(V, 2) FROM S EMIT CHANGES;"),
        ("udf in where", "SELECT V FROM S WHERE EXT_OR_ZERO(V) > 0 EMIT CHANGES;"),
        ("udtf", "SELECT EXT_WORDS(T) FROM S EMIT CHANGES;"),
    ]:
        (stmt,) = engine.parse(sql)
        queries[name] = engine.open_push_query(stmt, {})  # type: ignore[arg-type]
    told = {name: q.notify_when_ready(lambda: None) for name, q in queries.items()}
    assert told == {"built-ins": True, "udf in select": False, "udf in where": False, "udtf": False}
    assert queries["built-ins"].take_ready() == []
    assert all(queries[name].take_ready() is None for name in told if not told[name])
    for query in queries.values():
        query.close()


def test_described_like_built_ins(engine: Engine) -> None:
    (described,) = engine.execute("DESCRIBE FUNCTION ext_multiply;")
    assert isinstance(described, FunctionDescription)
    assert (described.author, described.version) == ("Ann Example", "1.2.0")
    assert described.path.endswith("ext_functions.py")
    assert [s[:2] for s in described.signatures] == [
        ("BIGINT, BIGINT", "BIGINT"),
        ("DOUBLE, DOUBLE", "DOUBLE"),
    ]
    (udaf,) = engine.execute("DESCRIBE FUNCTION EXT_SQUARES;")
    assert isinstance(udaf, FunctionDescription) and udaf.kind == "AGGREGATE"
    (udtf,) = engine.execute("DESCRIBE FUNCTION EXT_WORDS;")
    assert isinstance(udtf, FunctionDescription) and udtf.kind == "TABLE"
    (listed,) = engine.execute("SHOW FUNCTIONS;")
    kinds = {name: kind for name, kind, _ in listed.functions}  # type: ignore[attr-defined]
    assert kinds["EXT_JOIN"] == "SCALAR" and kinds["EXT_LONGEST"] == "AGGREGATE"


def test_server_with_ext_dir(tmp_path: Path, extension_dir: Path) -> None:
    server = start_server(tmp_path / "data", "--ext-dir", str(extension_dir))
    try:
        answer = httpx.post(f"{server.url}/ksql", json={"ksql": "DESCRIBE FUNCTION EXT_WORDS;"})
        assert answer.status_code == 200, answer.text
        (entity,) = answer.json()
        assert entity["type"] == "TABLE" and entity["path"].endswith("ext_functions.py")
        listed = httpx.post(f"{server.url}/ksql", json={"ksql": "SHOW FUNCTIONS;"}).json()
        names = {f["name"] for f in listed[0]["functions"]}
        assert {"EXT_MULTIPLY", "EXT_SQUARES", "EXT_WORDS"} <= names
        assert "BAD_UDF" not in names  # the conformance runner's functions stay out
    finally:
        _, err = server.stop()
    assert "broken.py: ModuleNotFoundError" in err and "skipped" in err


def test_run_command_with_ext_dir(tmp_path: Path, extension_dir: Path) -> None:
    (tmp_path / "q.sql").write_text("DESCRIBE FUNCTION EXT_JOIN;")
    run = streamdb(
        "run",
        "--data-dir",
        str(tmp_path / "data"),
        "--queries",
        str(tmp_path / "q.sql"),
        "--ext-dir",
        str(extension_dir),
    )
    assert run.returncode == 0, run.stderr
    assert "DESCRIBE FUNCTION EXT_JOIN... -> ok" in run.stdout
    assert "broken.py" in run.stderr
