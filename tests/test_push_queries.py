"""Push queries (EMIT CHANGES) through the engine: GROUP BY with windows, HAVING and EMIT
FINAL, joins, and the rows they hand their consumer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sqlengine.engine import Engine
from sqlengine.push import PushQuery

EARLIEST = {"auto.offset.reset": "earliest"}
PAGEVIEWS = (
    "CREATE STREAM pageviews (user_id STRING KEY, page STRING, ms INT) "
    "WITH (kafka_topic='pageviews', value_format='JSON', partitions=1);"
)
USERS = (
    "CREATE TABLE users (user_id STRING PRIMARY KEY, name STRING) "
    "WITH (kafka_topic='users', value_format='JSON', partitions=1);"
)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path, config={"ksql.streams.cache.max.bytes.buffering": "0"})
    engine.execute(PAGEVIEWS + USERS)
    yield engine
    engine.close()


def _view(engine: Engine, user: str, page: str, rowtime: int, ms: int = 1) -> None:
    engine.execute(
        "INSERT INTO pageviews (ROWTIME, user_id, page, ms) "
        f"VALUES ({rowtime}, '{user}', '{page}', {ms});"
    )


def _open(engine: Engine, sql: str, properties: dict[str, str] | None = None) -> PushQuery:
    (stmt,) = engine.parse(sql)
    return engine.open_push_query(stmt, EARLIEST if properties is None else properties)  # type: ignore[arg-type]


def _rows(
    query: PushQuery, count: int, timeout: float = 60.0, close: bool = True
) -> list[tuple[list, bool]]:
    """The first `count` rows (columns, tombstone) the query emits, within `timeout` (a bound
    for a loaded machine: the loop ends as soon as `count` rows are in)."""
    rows: list[tuple[list, bool]] = []
    deadline = time.monotonic() + timeout
    while len(rows) < count and not query.done and time.monotonic() < deadline:
        rows += [(r.columns, r.tombstone) for r in query.poll(0.05)]
    if close:
        query.close()
    return rows


def test_group_by_emits_every_change_in_select_order(engine: Engine) -> None:
    for user, ts in [("a", 1), ("b", 2), ("a", 3)]:
        _view(engine, user, "home", ts)
    query = _open(
        engine, "SELECT COUNT(*) AS n, user_id FROM pageviews GROUP BY user_id EMIT CHANGES;"
    )
    assert [c.name for c in query.columns] == ["N", "USER_ID"]
    assert _rows(query, 3) == [([1, "a"], False), ([1, "b"], False), ([2, "a"], False)]


def test_aggregate_without_group_by_counts_all_rows(engine: Engine) -> None:
    for user, ts in [("a", 1), ("b", 2)]:
        _view(engine, user, "home", ts)
    query = _open(engine, "SELECT COUNT(*) AS n FROM pageviews EMIT CHANGES LIMIT 2;")
    assert _rows(query, 3) == [([1], False), ([2], False)]
    assert query.done


def test_windowed_group_by_selects_window_bounds(engine: Engine) -> None:
    for ts in (100, 900, 1500):
        _view(engine, "a", "home", ts)
    query = _open(
        engine,
        "SELECT user_id, WINDOWSTART, WINDOWEND, COUNT(*) AS n FROM pageviews "
        "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY user_id EMIT CHANGES;",
    )
    assert _rows(query, 3) == [
        (["a", 0, 1000, 1], False),
        (["a", 0, 1000, 2], False),
        (["a", 1000, 2000, 1], False),
    ]


def test_having_that_stops_passing_sends_a_tombstone_with_key_and_window(engine: Engine) -> None:
    for ms, ts in [(10, 1), (-20, 2), (21, 3)]:
        _view(engine, "a", "home", ts, ms)
    query = _open(
        engine,
        "SELECT user_id, WINDOWSTART, SUM(ms) AS total FROM pageviews "
        "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY user_id HAVING SUM(ms) > 0 EMIT CHANGES;",
    )
    assert _rows(query, 3) == [
        (["a", 0, 10], False),
        (["a", 0, None], True),
        (["a", 0, 11], False),
    ]


def test_emit_final_waits_for_the_window_to_close(engine: Engine) -> None:
    for ts in (100, 200, 1100):
        _view(engine, "a", "home", ts)
    query = _open(
        engine,
        "SELECT user_id, WINDOWSTART, COUNT(*) AS n FROM pageviews "
        "WINDOW TUMBLING (SIZE 1 SECOND, RETENTION 1 HOUR, GRACE PERIOD 0 SECONDS) "
        "GROUP BY user_id EMIT FINAL;",
    )
    # The record at 1100 closes [0, 1000); [1000, 2000) is still open. The first row needs the
    # record at 1100, so once it is in the query has read all its input: nothing else follows.
    assert _rows(query, 1, close=False) == [(["a", 0, 2], False)]
    assert query.poll(0.2) == [] and query.poll(0) == []
    query.close()


def test_push_query_from_latest_sees_only_new_rows(engine: Engine) -> None:
    _view(engine, "a", "home", 1)
    query = _open(
        engine, "SELECT user_id, COUNT(*) AS n FROM pageviews GROUP BY user_id EMIT CHANGES;", {}
    )
    assert query.poll(0) == []
    _view(engine, "a", "home", 2)
    assert _rows(query, 1) == [(["a", 1], False)]


def test_stream_table_join(engine: Engine) -> None:
    engine.execute("INSERT INTO users (ROWTIME, user_id, name) VALUES (1, 'a', 'Ann');")
    _view(engine, "a", "home", 5)
    _view(engine, "b", "docs", 6)
    query = _open(
        engine,
        "SELECT p.user_id, u.name, p.page FROM pageviews p "
        "LEFT JOIN users u ON p.user_id = u.user_id EMIT CHANGES LIMIT 2;",
    )
    assert [c.name for c in query.columns] == ["P_USER_ID", "NAME", "PAGE"]
    assert _rows(query, 2) == [(["a", "Ann", "home"], False), (["b", None, "docs"], False)]


def test_stateful_push_queries_leave_no_topics_behind(engine: Engine) -> None:
    _view(engine, "a", "home", 1)
    before = {t.name for t in engine.log.topics()}
    query = _open(
        engine,
        "SELECT user_id, COUNT(*) AS n FROM pageviews WINDOW TUMBLING (SIZE 1 SECOND) "
        "GROUP BY user_id EMIT CHANGES;",
    )
    assert _rows(query, 1) == [(["a", 1], False)]
    assert {t.name for t in engine.log.topics()} == before
