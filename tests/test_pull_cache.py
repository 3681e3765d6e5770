"""Prepared pull queries: templates bound to new literals answer as a fresh plan would, only
key-only WHERE clauses are templated, and a changed catalog invalidates cached plans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sqlengine import types as T
from sqlengine.engine import Engine
from sqlengine.pull_cache import template

SETUP = """
CREATE STREAM clicks (user_id VARCHAR KEY, page VARCHAR)
    WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
CREATE TABLE per_user AS SELECT user_id, COUNT(*) AS n FROM clicks GROUP BY user_id;
CREATE STREAM scores (id INT KEY, region VARCHAR KEY, v INT)
    WITH (kafka_topic='scores', key_format='JSON', value_format='JSON', partitions=1);
CREATE TABLE latest AS SELECT id, region, LATEST_BY_OFFSET(v) AS v FROM scores
    GROUP BY id, region;
INSERT INTO clicks (user_id, page) VALUES ('ann', 'a');
INSERT INTO clicks (user_id, page) VALUES ('bob', 'b');
INSERT INTO clicks (user_id, page) VALUES ('bob', 'c');
INSERT INTO clicks (user_id, page) VALUES ('it''s', 'd');
INSERT INTO scores (id, region, v) VALUES (1, 'eu', 10);
INSERT INTO scores (id, region, v) VALUES (2, 'us', 20);
INSERT INTO scores (id, region, v) VALUES (2, 'eu', 30);
"""


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path)
    engine.execute(SETUP)
    engine.run_until_idle()
    return engine


def _answer(engine: Engine, sql: str) -> list[Any]:
    """Rows as the planned path gives them (it also fills the caches)."""
    stmt = engine.parse(sql)[0]
    query, rows = engine.pull_query(sql, stmt, {})  # type: ignore[arg-type]
    return [[r[i] for i in query.plan.positions] for r in rows]


def _cached(engine: Engine, sql: str) -> list[Any] | None:
    query = engine.pulls.cached(sql, {})
    if query is None or not query.lock_free:
        return None
    return [[r[i] for i in query.plan.positions] for r in query.lookup()]


def test_template_takes_out_string_and_integer_literals_only() -> None:
    shape = template("SELECT `a1`, x FROM t WHERE k = 'it''s' AND n IN (1, 5000000000) -- '9'")
    assert shape == (
        "SELECT `a1`, x FROM t WHERE k = \0s AND n IN (\0i, \0l) -- '9'",
        [("it's", T.STRING), (1, T.INTEGER), (5000000000, T.BIGINT)],
    )
    assert template("SELECT * FROM t WHERE d = 1.5 OR e = 2E3 OR u1 = 3;") == (
        "SELECT * FROM t WHERE d = 1.5 OR e = 2E3 OR u1 = \0i;",
        [(3, T.INTEGER)],
    )


@pytest.mark.parametrize(
    ("first", "later", "expected"),
    [
        (
            "SELECT * FROM per_user WHERE user_id = 'ann';",
            "SELECT * FROM per_user WHERE user_id = 'bob';",
            [["bob", 2]],
        ),
        (
            "SELECT n FROM per_user WHERE user_id IN ('ann', 'zed');",
            "SELECT n FROM per_user WHERE user_id IN ('it''s', 'bob');",
            [[1], [2]],
        ),
        (
            "SELECT * FROM per_user WHERE user_id = 'ann' OR user_id = 'bob';",
            "SELECT * FROM per_user WHERE user_id = 'bob' OR user_id = 'bob';",
            [["bob", 2]],
        ),
        (
            "SELECT v FROM latest WHERE id = 1 AND region = 'eu';",
            "SELECT v FROM latest WHERE id = 2 AND region = 'eu';",
            [[30]],
        ),
    ],
)
def test_a_template_binds_new_keys_as_planning_would(
    engine: Engine, first: str, later: str, expected: list[Any]
) -> None:
    assert _cached(engine, first) is None
    _answer(engine, first)
    assert _cached(engine, later) == expected == _answer(engine, later)


@pytest.mark.parametrize(
    ("first", "later"),
    [
        (  # a term beyond the key: the literal also filters
            "SELECT n FROM per_user WHERE user_id = 'bob' AND n > 1;",
            "SELECT n FROM per_user WHERE user_id = 'ann' AND n > 1;",
        ),
        (  # a literal outside the WHERE clause
            "SELECT n FROM per_user WHERE user_id = 'bob' LIMIT 1;",
            "SELECT n FROM per_user WHERE user_id = 'ann' LIMIT 1;",
        ),
        (  # the same literal twice: which one makes the key is not known
            "SELECT n FROM per_user WHERE user_id = 'bob' OR user_id = 'bob';",
            "SELECT n FROM per_user WHERE user_id = 'ann' OR user_id = 'bob';",
        ),
    ],
)
def test_only_key_only_where_clauses_are_templated(engine: Engine, first: str, later: str) -> None:
    _answer(engine, first)
    assert _cached(engine, first) is not None  # cached by its text
    assert _cached(engine, later) is None


def test_a_replaced_table_is_planned_again(engine: Engine) -> None:
    sql = "SELECT * FROM per_user WHERE user_id = 'bob';"
    assert _answer(engine, sql) == [["bob", 2]]
    engine.execute(
        "DROP TABLE per_user DELETE TOPIC; CREATE TABLE per_user AS SELECT user_id, COUNT(*) AS n "
        "FROM clicks WHERE page = 'c' GROUP BY user_id;"
    )
    assert _cached(engine, sql) is None
    engine.run_until_idle()
    assert _answer(engine, sql) == [["bob", 1]]
    assert _cached(engine, "SELECT * FROM per_user WHERE user_id = 'ann';") == []
