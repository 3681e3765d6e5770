"""GROUP BY over a join: the join's result rows feed the aggregation, in persistent queries
(stream-table, table-table, windowed stream-stream), push queries, and across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from sqlengine.engine import Engine
from sqlengine.results import StatementError
from sqlengine.testing.compare import read_topic

NO_CACHE = {"ksql.streams.cache.max.bytes.buffering": "0"}
SOURCES = """
CREATE STREAM views (user_id STRING KEY, page STRING)
    WITH (kafka_topic='views', value_format='JSON', partitions=1);
CREATE STREAM clicks (user_id STRING KEY, button STRING)
    WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
CREATE TABLE users (user_id STRING PRIMARY KEY, region STRING)
    WITH (kafka_topic='users', value_format='JSON', partitions=1);
CREATE TABLE regions (region STRING PRIMARY KEY, country STRING)
    WITH (kafka_topic='regions', value_format='JSON', partitions=1);
"""


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path, config=NO_CACHE)
    engine.execute(SOURCES)
    yield engine
    engine.close()


def _insert(engine: Engine, target: str, ts: int, **values: str) -> None:
    columns = ", ".join(values)
    literals = ", ".join(f"'{v}'" for v in values.values())
    engine.execute(f"INSERT INTO {target} (ROWTIME, {columns}) VALUES ({ts}, {literals});")
    engine.run_until_idle()


def _rows(engine: Engine, topic: str) -> list[tuple[str, Any, int]]:
    """(key, value, timestamp) per record; a KAFKA-format string key, JSON values."""
    return [
        (r.key.decode(), None if r.value is None else orjson.loads(r.value), r.timestamp)
        for r in read_topic(engine, topic)
    ]


def test_stream_table_join_counts_per_joined_column(engine: Engine) -> None:
    engine.execute(
        "CREATE TABLE per_region AS SELECT u.region, COUNT(*) AS n FROM views v "
        "JOIN users u ON v.user_id = u.user_id GROUP BY u.region;"
    )
    _insert(engine, "users", 1, user_id="a", region="north")
    _insert(engine, "users", 2, user_id="b", region="south")
    _insert(engine, "views", 10, user_id="a", page="home")
    _insert(engine, "views", 11, user_id="b", page="home")
    _insert(engine, "views", 12, user_id="a", page="docs")
    _insert(engine, "views", 13, user_id="c", page="home")  # no user: the inner join drops it
    assert _rows(engine, "PER_REGION") == [
        ("north", {"N": 1}, 10),
        ("south", {"N": 1}, 11),
        ("north", {"N": 2}, 12),
    ]
    schema = [(c.name, str(c.type), c.kind) for c in engine.catalog.sources["PER_REGION"].columns]
    assert schema == [("REGION", "STRING", "KEY"), ("N", "BIGINT", "VALUE")]


def test_table_table_join_aggregation_moves_a_row_between_groups(engine: Engine) -> None:
    engine.execute(
        "CREATE TABLE per_country AS SELECT r.country, COUNT(*) AS n FROM users u "
        "JOIN regions r ON u.region = r.region GROUP BY r.country;"
    )
    _insert(engine, "regions", 1, region="north", country="NO")
    _insert(engine, "regions", 2, region="south", country="ZA")
    _insert(engine, "users", 3, user_id="a", region="north")
    _insert(engine, "users", 4, user_id="b", region="north")
    _insert(engine, "users", 5, user_id="a", region="south")  # a moves: NO loses it
    engine.execute("INSERT INTO users (ROWTIME, user_id, region) VALUES (6, 'b', 'west');")
    engine.run_until_idle()  # b's region has no match: the join deletes b's row
    assert [(k, v) for k, v, _ in _rows(engine, "PER_COUNTRY")] == [
        ("NO", {"N": 1}),
        ("NO", {"N": 2}),
        ("NO", {"N": 1}),
        ("ZA", {"N": 1}),
        ("NO", {"N": 0}),
    ]


def test_windowed_stream_stream_join_with_having_and_join_rowtime(engine: Engine) -> None:
    engine.execute(
        "CREATE TABLE clicked AS SELECT v.page, COUNT(*) AS n, MAX(ROWTIME) AS last_at "
        "FROM views v JOIN clicks c WITHIN 5 SECONDS ON v.user_id = c.user_id "
        "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY v.page HAVING COUNT(*) > 1;"
    )
    _insert(engine, "views", 1_000, user_id="a", page="home")
    _insert(engine, "clicks", 3_000, user_id="a", button="buy")  # joined at 3000
    _insert(engine, "clicks", 4_000, user_id="a", button="back")  # joined at 4000
    _insert(engine, "views", 61_000, user_id="a", page="home")  # a new window, one match
    records = read_topic(engine, "CLICKED")
    # Unqualified ROWTIME is the join result's time (the later record's), not the view's.
    assert [orjson.loads(r.value) for r in records] == [{"N": 2, "LAST_AT": 4_000}]
    assert records[0].timestamp == 4_000


def test_window_bounds_of_an_aggregated_join_cannot_be_selected(engine: Engine) -> None:
    with pytest.raises(StatementError, match="SELECT column 'WINDOWSTART' cannot be resolved."):
        engine.execute(
            "CREATE TABLE t AS SELECT u.region, COUNT(*) AS n, WINDOWSTART AS ws FROM views v "
            "JOIN users u ON v.user_id = u.user_id WINDOW TUMBLING (SIZE 1 MINUTE) "
            "GROUP BY u.region;"
        )


def test_push_query_aggregates_a_join(engine: Engine) -> None:
    _insert(engine, "users", 1, user_id="a", region="north")
    _insert(engine, "views", 2, user_id="a", page="home")
    _insert(engine, "views", 3, user_id="a", page="docs")
    (stmt,) = engine.parse(
        "SELECT COUNT(*) AS n, u.region FROM views v JOIN users u ON v.user_id = u.user_id "
        "GROUP BY u.region EMIT CHANGES LIMIT 2;"
    )
    query = engine.open_push_query(stmt, {"auto.offset.reset": "earliest"})  # type: ignore[arg-type]
    assert [c.name for c in query.columns] == ["N", "REGION"]
    assert [(r.columns, r.tombstone) for r in query.poll(1.0)] == [
        ([1, "north"], False),
        ([2, "north"], False),
    ]
    query.close()


RESTART_SETUP = (
    SOURCES
    + """
CREATE TABLE per_page AS SELECT v.page, COUNT(*) AS n, COLLECT_LIST(u.region) AS regions
    FROM views v LEFT JOIN users u ON v.user_id = u.user_id
    WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY v.page;
CREATE TABLE per_country AS SELECT r.country, COUNT(*) AS n FROM users u
    JOIN regions r ON u.region = r.region GROUP BY r.country;
"""
)
EVENTS: list[tuple[str, int, dict[str, str]]] = [
    ("regions", 0, {"region": "north", "country": "NO"}),
    ("regions", 0, {"region": "south", "country": "ZA"}),
    *(
        event
        for i in range(12)
        for event in (
            ("users", 1_000 * i, {"user_id": f"u{i % 4}", "region": ("north", "south")[i % 3 % 2]}),
            ("views", 1_000 * i + 500, {"user_id": f"u{i % 5}", "page": f"p{i % 2}"}),
        )
    ),
]


def _feed(engine: Engine, events: list[tuple[str, int, dict[str, str]]]) -> None:
    for target, ts, values in events:
        _insert(engine, target, ts, **values)


def test_restart_mid_stream_matches_uninterrupted_run(tmp_path: Path) -> None:
    straight = Engine(tmp_path / "straight", config=NO_CACHE)
    straight.execute(RESTART_SETUP)
    _feed(straight, EVENTS)
    expected = {t: _rows(straight, t) for t in ("PER_PAGE", "PER_COUNTRY")}
    straight.close()

    engine = Engine(tmp_path / "restarted", config=NO_CACHE)
    engine.execute(RESTART_SETUP)
    _feed(engine, EVENTS[:13])
    engine.close()
    engine = Engine(tmp_path / "restarted", config=NO_CACHE)
    _feed(engine, EVENTS[13:])
    assert {t: _rows(engine, t) for t in expected} == expected
    assert len(expected["PER_PAGE"]) == 12 and len(expected["PER_COUNTRY"]) > 4
    engine.close()
