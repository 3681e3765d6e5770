"""Push queries over one source share one reader (sqlengine/push_feed.py): each batch is read
and decoded once and handed to every query on the source, each with its own WHERE, start
offset and queue; a query behind the reader catches up on its own, and one whose consumer
stops taking rows is detached rather than holding rows without bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from sqlengine.engine import Engine
from sqlengine.push import ProjectionPushQuery, PushQuery
from sqlengine.push_feed import MAX_QUEUED_ROWS

EARLIEST = {"auto.offset.reset": "earliest"}
LATEST = {"auto.offset.reset": "latest"}
EVENTS = (
    "CREATE STREAM events (k STRING KEY, seq BIGINT) "
    "WITH (kafka_topic='events', value_format='JSON', partitions=2);"
)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path)
    engine.execute(EVENTS)
    yield engine
    engine.close()


def _append(engine: Engine, key: str, seqs: range) -> None:
    """Records as a producer writes them (one append): KAFKA string keys, JSON values."""
    values = [orjson.dumps({"SEQ": s}) for s in seqs]
    stamps = [1000 + s for s in seqs]
    engine.log.append_batch("events", [key.encode()] * len(values), values, stamps)


def _open(engine: Engine, sql: str, properties: dict[str, str]) -> ProjectionPushQuery:
    (stmt,) = engine.parse(sql)
    query = engine.open_push_query(stmt, properties)  # type: ignore[arg-type]
    assert isinstance(query, ProjectionPushQuery)
    return query


def _seqs(query: PushQuery, count: int, timeout: float = 60.0) -> list[int]:
    """The SEQ of the first `count` rows the query emits, within `timeout` (a bound for a
    loaded machine: the loop ends as soon as `count` rows are in)."""
    seqs: list[int] = []
    deadline = time.monotonic() + timeout
    while len(seqs) < count and time.monotonic() < deadline:
        seqs += [r.columns[0] for r in query.poll(0.05)]
    return seqs


def _until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_queries_on_one_source_share_one_reader_each_with_its_own_where(
    engine: Engine,
) -> None:
    a = _open(engine, "SELECT seq FROM events WHERE k = 'a' EMIT CHANGES;", LATEST)
    b = _open(engine, "SELECT seq FROM events WHERE k = 'b' AND seq > 1 EMIT CHANGES;", LATEST)
    odd = _open(engine, "SELECT seq FROM events WHERE seq % 2 = 1 EMIT CHANGES;", LATEST)
    assert len(engine.push_feeds.feeds) == 1
    assert a.subscription is not None and a.subscription.route is not None
    assert odd.subscription is not None and odd.subscription.route is None
    _append(engine, "a", range(0, 5))
    _append(engine, "b", range(0, 5))
    assert _seqs(a, 5) == [0, 1, 2, 3, 4]
    assert _seqs(b, 3) == [2, 3, 4]
    assert sorted(_seqs(odd, 4)) == [1, 1, 3, 3]
    for query in (a, b, odd):
        query.close()
    assert _until(lambda: not engine.push_feeds.feeds), "the reader outlived its queries"


def test_a_query_opened_behind_the_reader_catches_up_then_joins_it(engine: Engine) -> None:
    latest = _open(engine, "SELECT seq FROM events WHERE k = 'a' EMIT CHANGES;", LATEST)
    _append(engine, "a", range(0, 50))
    assert _seqs(latest, 50) == list(range(50))
    earliest = _open(engine, "SELECT seq FROM events WHERE k = 'a' EMIT CHANGES;", EARLIEST)
    assert _seqs(earliest, 50) == list(range(50))
    _append(engine, "a", range(50, 60))
    assert _seqs(earliest, 10) == list(range(50, 60))
    assert _seqs(latest, 10) == list(range(50, 60))
    subscription = earliest.subscription
    assert subscription is not None and subscription.attached == {0, 1}
    latest.close()
    earliest.close()


def test_a_query_whose_consumer_stops_is_detached_and_resumes_in_order(engine: Engine) -> None:
    reading = _open(engine, "SELECT seq FROM events EMIT CHANGES;", LATEST)
    stopped = _open(engine, "SELECT seq FROM events EMIT CHANGES;", LATEST)
    total = MAX_QUEUED_ROWS + 5_000
    step = 2_500
    got: list[int] = []
    for first in range(0, total, step):
        _append(engine, "a", range(first, first + step))
        got += _seqs(reading, first + step - len(got))
    assert got == list(range(total))
    subscription = stopped.subscription
    assert subscription is not None
    # Held no more than its bound of unread rows, then let go of them.
    assert _until(lambda: not subscription.attached)
    assert len(subscription.queue) <= MAX_QUEUED_ROWS
    assert _seqs(stopped, total) == list(range(total))
    reading.close()
    stopped.close()


def test_a_routed_query_on_a_table_keeps_its_rows_and_tombstones_in_order(
    engine: Engine,
) -> None:
    engine.execute(
        "CREATE TABLE users (id STRING PRIMARY KEY, name STRING) "
        "WITH (kafka_topic='users', value_format='JSON', partitions=1);"
    )
    query = _open(engine, "SELECT id, name FROM users WHERE id = 'a' EMIT CHANGES;", LATEST)
    assert query.subscription is not None and query.subscription.route is not None
    keys = [b"a", b"b", b"b", b"a"]
    values = [orjson.dumps({"NAME": "ann"}), orjson.dumps({"NAME": "bob"}), None, None]
    engine.log.append_batch("users", keys, values, [1, 2, 3, 4])
    rows: list[tuple[list, bool]] = []
    deadline = time.monotonic() + 60
    while len(rows) < 3 and time.monotonic() < deadline:
        rows += [(r.columns, r.tombstone) for r in query.poll(0.05)]
    # A table's tombstone shows whatever its WHERE says, as an unshared query shows it.
    assert rows == [(["a", "ann"], False), (["b", None], True), (["a", None], True)]
    query.close()


def _taken(query: PushQuery, told: threading.Event, count: int) -> list[int]:
    """The SEQ of `count` rows taken without blocking, each time the query tells it has
    some (as a waiter on an event loop takes them; bounded: a loaded machine gets 60 s)."""
    seqs: list[int] = []
    deadline = time.monotonic() + 60
    while len(seqs) < count and told.wait(max(0.0, deadline - time.monotonic())):
        told.clear()
        rows = query.take_ready()
        assert rows is not None
        seqs += [r.columns[0] for r in rows]
    return seqs


def test_a_query_on_the_reader_tells_its_waiter_when_rows_are_there(engine: Engine) -> None:
    query = _open(engine, "SELECT seq FROM events WHERE k = 'a' EMIT CHANGES;", LATEST)
    told = threading.Event()
    assert query.notify_when_ready(told.set)
    assert query.take_ready() == []
    _append(engine, "a", range(0, 3))
    _append(engine, "b", range(0, 3))
    _append(engine, "a", range(3, 5))
    assert _taken(query, told, 5) == [0, 1, 2, 3, 4]
    told.clear()
    query.close()
    assert told.is_set(), "closing the query did not wake its waiter"
    assert query.take_ready() == []


def test_a_query_behind_the_reader_is_polled_until_it_joins_it(engine: Engine) -> None:
    latest = _open(engine, "SELECT seq FROM events WHERE k = 'a' EMIT CHANGES;", LATEST)
    _append(engine, "a", range(0, 10))
    assert _seqs(latest, 10) == list(range(10))
    earliest = _open(engine, "SELECT seq FROM events WHERE k = 'a' EMIT CHANGES;", EARLIEST)
    told = threading.Event()
    assert earliest.notify_when_ready(told.set)
    assert earliest.take_ready() is None  # it reads the log itself: poll it on a thread
    assert _seqs(earliest, 10) == list(range(10))
    assert earliest.take_ready() == []  # caught up: the reader hands it its rows now
    _append(engine, "a", range(10, 12))
    assert _taken(earliest, told, 2) == [10, 11]
    latest.close()
    earliest.close()


def test_a_query_with_its_own_runtime_is_only_polled(engine: Engine) -> None:
    (stmt,) = engine.parse("SELECT k, COUNT(*) FROM events GROUP BY k EMIT CHANGES;")
    query = engine.open_push_query(stmt, LATEST)  # type: ignore[arg-type]
    assert not query.notify_when_ready(lambda: None)
    assert query.take_ready() is None
    query.close()
