"""Property-based fuzzing (hypothesis) of statements, expressions and records, valid and
broken: each ends in a result or a clean StatementError, never another exception or a hang,
and a bad record or a failing expression never stops the persistent query that meets it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlengine.engine import Engine
from sqlengine.results import StatementError

STATEMENTS = 400
EXPRESSIONS = 300
RECORDS = 200
HANG_SECONDS = 30  # a bound for a loaded machine; each example takes milliseconds
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
SOURCE = (
    "CREATE STREAM s (id INT KEY, a INT, b DOUBLE, txt STRING, flag BOOLEAN, "
    "arr ARRAY<INT>, m MAP<STRING, INT>, d DECIMAL(6, 2)) "
    "WITH (kafka_topic='s', value_format='JSON', partitions=1);"
)
ROWS = (
    "INSERT INTO s (id, a, b, txt, flag, arr, m, d) "
    "VALUES (1, 7, 2.5, 'seven', true, ARRAY[1, 2], MAP('k' := 1), 12.34);"
    "INSERT INTO s (id, a, b, txt, flag, arr, m, d) "
    "VALUES (2, 0, -0.0, '', false, ARRAY[CAST(NULL AS INT)], MAP('z' := 0), 0.00);"
    "INSERT INTO s (id) VALUES (3);"
)
Result = TypeVar("Result")
# Nested expressions make long reprs; hypothesis warns about building them.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")


def bounded(call: Callable[[], Result]) -> Result:
    """`call()` on a thread: its result or its exception, failing if it hangs."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_SECONDS)
    assert not thread.is_alive(), f"hung for {HANG_SECONDS}s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def cleanly(engine: Engine, sql: str) -> None:
    """Run `sql`: a result, or a StatementError naming what is wrong."""
    try:
        bounded(lambda: engine.execute(sql))
    except StatementError as exc:
        assert exc.message.strip(), f"an empty error message for {sql!r}"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = Engine(tmp_path_factory.mktemp("fuzz") / "data")
    engine.execute(SOURCE + ROWS)
    engine.run_until_idle()
    try:
        yield engine
    finally:
        engine.close()


# ---------------------------------------------------------------------------- statements

KEYWORDS = (
    "SELECT * FROM WHERE GROUP BY HAVING WINDOW TUMBLING HOPPING SESSION SIZE ADVANCE SECONDS "
    "EMIT CHANGES FINAL LIMIT CREATE STREAM TABLE AS WITH INSERT INTO VALUES DROP IF EXISTS "
    "DELETE TOPIC TERMINATE SHOW LIST DESCRIBE EXTENDED EXPLAIN PRINT FROM BEGINNING SET UNSET "
    "DEFINE PARTITION JOIN LEFT OUTER INNER FULL ON WITHIN CAST CASE WHEN THEN ELSE END AND OR "
    "NOT NULL TRUE FALSE IS IN LIKE BETWEEN KEY PRIMARY STRUCT ARRAY MAP INT BIGINT DOUBLE "
    "STRING BOOLEAN DECIMAL TIMESTAMP STREAMS TABLES TOPICS QUERIES PROPERTIES FUNCTIONS TYPE"
).split()
PUNCTUATION = list("(),;*=<>+-/%.[]'`") + ["->", "||", ":=", "<>", "${x}"]
IDENTIFIERS = ["s", "id", "a", "b", "txt", "flag", "arr", "m", "d", "t", "out", "`q w`"]
LITERALS = ["0", "1", "-1", "2147483648", "9223372036854775808", "1.5e308", "'x'", "''''"]
tokens = st.sampled_from(KEYWORDS + PUNCTUATION + IDENTIFIERS + LITERALS)
VALID = [
    "SELECT * FROM s;",
    "SELECT id, a + 1 AS a1 FROM s WHERE flag;",
    "CREATE STREAM f1 AS SELECT id, txt FROM s WHERE a > 1;",
    "CREATE TABLE f2 AS SELECT id, COUNT(*) AS n FROM s GROUP BY id;",
    "INSERT INTO s (id, a) VALUES (9, 9);",
    "DESCRIBE s EXTENDED;",
    "SHOW QUERIES;",
    "EXPLAIN SELECT * FROM s;",
    "DROP STREAM IF EXISTS f1;",
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid statement with a few characters deleted, repeated or replaced."""
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text) - 1))
        kind = draw(st.sampled_from(["delete", "repeat", "replace"]))
        if kind == "delete":
            text = text[:at] + text[at + 1 :]
        elif kind == "repeat":
            text = text[:at] + text[at] * draw(st.integers(2, 50)) + text[at:]
        else:
            text = text[:at] + draw(st.characters()) + text[at + 1 :]
    return text


statements = st.one_of(
    st.lists(tokens, min_size=1, max_size=30).map(" ".join),
    mutated(),
    st.text(max_size=200),
    st.sampled_from(VALID),
)


@settings(FUZZ, max_examples=STATEMENTS)
@given(sql=statements)
def test_statements(engine: Engine, sql: str) -> None:
    cleanly(engine, sql)


# ---------------------------------------------------------------------------- expressions

SCALARS = ["a", "b", "txt", "flag", "d", "id", "arr[1]", "m['k']"]
literals = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=8).map(lambda t: "'" + t.replace("'", "''") + "'"),
    st.sampled_from(["NULL", "TRUE", "FALSE", "ARRAY[1, NULL]", "MAP('a' := 1)", "1.50"]),
)
FUNCTIONS = ["ABS", "ROUND", "LEN", "UCASE", "CONCAT", "COALESCE", "IFNULL", "SUBSTRING"]
TYPES = ["INT", "BIGINT", "DOUBLE", "STRING", "BOOLEAN", "DECIMAL(4, 1)", "ARRAY<INT>"]


def _combine(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(
        parts,
        st.sampled_from(["+", "-", "*", "/", "%", "=", "<>", "<", ">=", "AND", "OR", "||"]),
        parts,
    ).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    call = st.tuples(st.sampled_from(FUNCTIONS), st.lists(parts, min_size=1, max_size=3)).map(
        lambda t: f"{t[0]}({', '.join(t[1])})"
    )
    cast = st.tuples(parts, st.sampled_from(TYPES)).map(lambda t: f"CAST({t[0]} AS {t[1]})")
    case = st.tuples(parts, parts, parts).map(
        lambda t: f"CASE WHEN {t[0]} THEN {t[1]} ELSE {t[2]} END"
    )
    tests = st.tuples(parts, parts, parts).map(
        lambda t: (
            f"({t[0]} BETWEEN {t[1]} AND {t[2]}) OR ({t[0]} IN ({t[1]})) OR "
            f"({t[0]} IS NULL) OR (NOT {t[1]})"
        )
    )
    return st.one_of(binary, call, cast, case, tests)


expressions = st.recursive(st.one_of(st.sampled_from(SCALARS), literals), _combine, max_leaves=8)


@settings(FUZZ, max_examples=EXPRESSIONS)
@given(expression=expressions)
def test_expressions_in_pull_queries(engine: Engine, expression: str) -> None:
    cleanly(engine, f"SELECT {expression} AS x FROM s;")


@settings(FUZZ, max_examples=EXPRESSIONS // 10)
@given(expression=expressions)
def test_expressions_in_persistent_queries(engine: Engine, expression: str) -> None:
    """A failing expression is logged and yields NULL: the query keeps running."""
    name = f"x{abs(hash(expression))}"
    try:
        bounded(lambda: engine.execute(f"CREATE STREAM {name} AS SELECT {expression} AS x FROM s;"))
    except StatementError:
        return
    running = set(engine.executor.running)
    bounded(engine.run_until_idle)
    assert running <= set(engine.executor.running), "a query stopped"
    cleanly(engine, f"DROP STREAM {name} DELETE TOPIC;")


# ---------------------------------------------------------------------------- records

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False),
        st.text(max_size=10),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)
field_values = st.dictionaries(
    st.sampled_from(["A", "B", "TXT", "FLAG", "ARR", "M", "D", "a", "other"]),
    json_values,
    max_size=6,
)


def _json(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_SUBCLASS)
    except TypeError:  # integers past 64 bits
        return repr(value).encode()


records = st.one_of(
    field_values.map(_json),
    json_values.map(_json),
    st.binary(max_size=64),
)
keys = st.one_of(
    st.none(),
    st.binary(max_size=9),
    st.integers(-(2**31), 2**31 - 1).map(lambda k: k.to_bytes(4, "big", signed=True)),
)


@pytest.fixture(scope="module")
def reading(engine: Engine) -> str:
    """A stream and a table over the fuzzed topic, each read by a persistent query."""
    engine.execute(
        "CREATE STREAM r (id INT KEY, a INT, b DOUBLE, txt STRING, flag BOOLEAN, "
        "arr ARRAY<INT>, m MAP<STRING, INT>, d DECIMAL(6, 2)) "
        "WITH (kafka_topic='r', value_format='JSON', partitions=1);"
        "CREATE STREAM r_copy AS SELECT id, a * 2 AS a2, UCASE(txt) AS t, arr[1] AS first FROM r;"
        "CREATE TABLE r_counts AS SELECT id, COUNT(*) AS n, SUM(a) AS total FROM r GROUP BY id;"
    )
    return "r"


@settings(FUZZ, max_examples=RECORDS)
@given(batch=st.lists(st.tuples(keys, records), min_size=1, max_size=5))
def test_records(engine: Engine, reading: str, batch: list[tuple[bytes | None, bytes]]) -> None:
    """Whatever bytes arrive, the queries reading them keep running."""
    running = set(engine.executor.running)
    keys_, values = zip(*batch, strict=True)
    engine.log.append_batch(reading, list(keys_), list(values), [0] * len(batch))
    bounded(engine.run_until_idle)
    assert running <= set(engine.executor.running), "a query stopped"
    cleanly(engine, "SELECT * FROM r_counts;")


def test_the_record_queries_ran_through_every_fuzzed_record(engine: Engine, reading: str) -> None:
    """After the fuzzing, both queries over the topic still run and have read all of it."""
    readers = [q for q in engine.executor.running if "R_COPY" in q or "R_COUNTS" in q]
    assert len(readers) == 2
    end = engine.log.end_offset(reading, 0)
    assert end > 0
    for query_id in readers:
        assert engine.executor.running[query_id].read_positions()[(reading, 0)] == end
