"""The per-row paths of /inserts-stream and /query-stream that the soak (tests/soak.py)
drives hard: a request's rows read by one generated function, and push queries on a shared
reader waiting on the event loop instead of a worker thread each."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from server.inserts import row_reader
from server.queries import LoopWaker
from sqlengine import catalog as C
from sqlengine import serde
from sqlengine import types as T
from sqlengine.engine import Engine
from sqlengine.push import ProjectionPushQuery, PushQuery

COLUMNS = [
    C.SourceColumn("I", T.INTEGER, C.KEY),
    C.SourceColumn("B", T.BIGINT),
    C.SourceColumn("D", T.DOUBLE),
    C.SourceColumn("S", T.STRING),
    C.SourceColumn("F", T.BOOLEAN),
    C.SourceColumn("TS", T.TIMESTAMP),
    C.SourceColumn("DEC", T.Decimal(4, 2)),
    C.SourceColumn("A", T.Array(T.INTEGER)),
]
VALUES: list[Any] = [
    None,
    0,
    -1,
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**63,
    -(2**63) - 1,
    1.5,
    float("nan"),
    Decimal("12.25"),
    "12",
    "x",
    "2024-01-02T03:04:05",
    True,
    False,
    [1, "2"],
    {"a": 1},
]


def _read(read: Any, value: Any) -> tuple[str, Any]:
    """What a reader makes of a value: ("ok", the value) or ("error", its message)."""
    try:
        return "ok", read(value)
    except (ValueError, serde.SerdeError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def test_a_requests_rows_are_read_as_each_columns_reader_reads_them() -> None:
    read_row = row_reader(COLUMNS)
    for column in COLUMNS:
        read_value = serde.api_json_reader(column.type)
        for value in VALUES:
            expected = _read(read_value, value)
            got = _read(lambda v, name=column.name: read_row({name: v}, 7), value)
            if got[0] == "ok":
                row = got[1]
                assert row[0] == 7 and row[-1] == () and len(row) == len(COLUMNS) + 2
                got = ("ok", row[1 + COLUMNS.index(column)])
            # NaN is not equal to itself: compare what it prints as.
            assert repr(got) == repr(expected), (column.name, value)


def test_a_row_without_a_column_reads_it_as_null() -> None:
    assert row_reader(COLUMNS)({"I": 1}, 5) == (5, 1, *[None] * (len(COLUMNS) - 1), ())


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


def _open(engine: Engine, sql: str, offset_reset: str) -> PushQuery:
    (stmt,) = engine.parse(sql)
    return engine.open_push_query(stmt, {"auto.offset.reset": offset_reset})  # type: ignore[arg-type]


def _append(engine: Engine, key: str, seqs: range) -> None:
    values = [orjson.dumps({"SEQ": s}) for s in seqs]
    engine.log.append_batch("events", [key.encode()] * len(values), values, [1] * len(values))


def _taken(query: PushQuery, told: threading.Event, count: int) -> list[int]:
    """The SEQ of `count` rows taken without blocking, each time the query tells it has
    some (bounded: a loaded machine gets 60 s)."""
    seqs: list[int] = []
    deadline = time.monotonic() + 60
    while len(seqs) < count and told.wait(max(0.0, deadline - time.monotonic())):
        told.clear()
        rows = query.take_ready()
        assert rows is not None
        seqs += [r.columns[0] for r in rows]
    return seqs


def test_a_query_on_a_shared_reader_tells_its_waiter_when_rows_are_there(engine: Engine) -> None:
    query = _open(engine, "SELECT seq FROM events WHERE k = 'a' EMIT CHANGES;", "latest")
    assert isinstance(query, ProjectionPushQuery)
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


def test_a_query_behind_the_shared_reader_is_polled_until_it_joins_it(engine: Engine) -> None:
    latest = _open(engine, "SELECT seq FROM events WHERE k = 'a' EMIT CHANGES;", "latest")
    _append(engine, "a", range(0, 10))
    assert _taken_by_polling(latest, 10) == list(range(10))
    earliest = _open(engine, "SELECT seq FROM events WHERE k = 'a' EMIT CHANGES;", "earliest")
    told = threading.Event()
    assert earliest.notify_when_ready(told.set)
    assert earliest.take_ready() is None  # it reads the log itself: poll it on a thread
    assert _taken_by_polling(earliest, 10) == list(range(10))
    assert earliest.take_ready() == []  # caught up: the reader hands it its rows now
    _append(engine, "a", range(10, 12))
    assert _taken(earliest, told, 2) == [10, 11]
    latest.close()
    earliest.close()


def _taken_by_polling(query: PushQuery, count: int) -> list[int]:
    seqs: list[int] = []
    deadline = time.monotonic() + 60
    while len(seqs) < count and time.monotonic() < deadline:
        seqs += [r.columns[0] for r in query.poll(0.05)]
    return seqs


def test_a_query_with_its_own_runtime_is_only_polled(engine: Engine) -> None:
    query = _open(engine, "SELECT k, COUNT(*) FROM events GROUP BY k EMIT CHANGES;", "latest")
    assert not query.notify_when_ready(lambda: None)
    assert query.take_ready() is None
    query.close()


def test_the_loop_waker_sets_every_event_woken_from_other_threads() -> None:
    async def main() -> int:
        waker = LoopWaker.current()
        assert LoopWaker.current() is waker  # one per loop
        events = [anyio.Event() for _ in range(50)]
        threads = [threading.Thread(target=waker.wake, args=(e,)) for e in events]
        for thread in threads:
            thread.start()
        with anyio.fail_after(60):
            for event in events:
                await event.wait()
        for thread in threads:
            thread.join(60)
        return len(waker.pending)

    assert asyncio.run(main()) == 0
