"""Pull queries on windowed GROUP BY tables, read from the aggregation's own store: a key's
every window, in window order, the windows it gains after the first lookup, HAVING, a
restart (the windows of each key found again from the store), and windows past retention
gone as from ksqlDB's window store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlengine.engine import Engine
from sqlengine.materialized import AggregateView

SETUP = """
CREATE STREAM clicks (user_id VARCHAR KEY, page VARCHAR)
    WITH (kafka_topic='clicks', value_format='JSON', partitions=2);
CREATE TABLE per_minute AS SELECT user_id, COUNT(*) AS n, MAX(page) AS last_page FROM clicks
    WINDOW TUMBLING (SIZE 1 MINUTE, RETENTION 3 MINUTES, GRACE PERIOD 0 SECONDS)
    GROUP BY user_id;
CREATE TABLE busy_minutes AS SELECT user_id, COUNT(*) AS n FROM clicks
    WINDOW HOPPING (SIZE 2 MINUTES, ADVANCE BY 1 MINUTE) GROUP BY user_id HAVING COUNT(*) > 1;
"""


def _insert(engine: Engine, clicks: list[tuple[str, str, int]]) -> None:
    engine.execute(
        "".join(
            f"INSERT INTO clicks (user_id, page, ROWTIME) VALUES ('{u}', '{p}', {t});"
            for u, p, t in clicks
        )
    )
    engine.run_until_idle()


def _pull(engine: Engine, sql: str) -> list[list[Any]]:
    stmt = engine.parse(sql)[0]
    query, rows = engine.pull_query(sql, stmt, {})  # type: ignore[arg-type]
    return [[r[i] for i in query.plan.positions] for r in rows]


def test_windowed_tables_are_read_from_the_aggregation_store(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(SETUP)
    _insert(engine, [("ann", "a", 1_000), ("bob", "b", 2_000), ("ann", "c", 61_000)])
    assert isinstance(engine.materialized.get("PER_MINUTE"), AggregateView)
    lookup = "SELECT * FROM per_minute WHERE user_id = 'ann';"
    assert _pull(engine, lookup) == [["ann", 0, 60_000, 1, "a"], ["ann", 60_000, 120_000, 1, "c"]]
    # Windows and counts that change after the first lookup are seen by the next one.
    _insert(engine, [("ann", "d", 62_000), ("ann", "b", 125_000)])
    assert _pull(engine, lookup) == [
        ["ann", 0, 60_000, 1, "a"],
        ["ann", 60_000, 120_000, 2, "d"],
        ["ann", 120_000, 180_000, 1, "b"],
    ]
    bounded = "SELECT n FROM per_minute WHERE user_id = 'ann' AND WINDOWSTART >= 60000;"
    assert _pull(engine, bounded) == [[2], [1]]
    scan = sorted(_pull(engine, "SELECT user_id, WINDOWSTART, n FROM per_minute;"))
    assert scan == [["ann", 0, 1], ["ann", 60_000, 2], ["ann", 120_000, 1], ["bob", 0, 1]]
    # HAVING: only the hopping windows with two clicks or more.
    having = "SELECT WINDOWSTART, n FROM busy_minutes WHERE user_id = 'ann';"
    assert _pull(engine, having) == [[0, 3], [60_000, 3]]
    assert _pull(engine, "SELECT * FROM busy_minutes WHERE user_id = 'bob';") == []
    engine.close()

    restarted = Engine(tmp_path)
    assert _pull(restarted, lookup)[1] == ["ann", 60_000, 120_000, 2, "d"]
    # Stream time at 5m10s: windows that ended before 2m10s (retention 3 minutes) are gone.
    _insert(restarted, [("cid", "e", 310_000)])
    assert _pull(restarted, lookup) == [["ann", 120_000, 180_000, 1, "b"]]
    restarted.close()
