"""The per-row paths of /inserts-stream and /query-stream that the soak (tests/soak.py)
drives hard: a request's rows read by one generated function, and push queries on a shared
reader waiting on the event loop instead of a worker thread each (the queries' side of that
is in tests/test_push_feed.py)."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

import anyio

from server.inserts import row_reader
from server.queries import LoopWaker
from sqlengine import catalog as C
from sqlengine import serde
from sqlengine import types as T

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
