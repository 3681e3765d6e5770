"""Queries over REST: opening pull and push queries, and streaming their rows as /query (a
JSON array of header, rows and a final message) and /query-stream (metadata then rows,
newline-delimited or as one JSON array) write them.

Push queries poll on worker threads (the log's `wait_for_data` blocks), so the event loop
never waits on them; a closed or disconnected query stops within one poll interval.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import threading
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson

from grammar import ast
from server import entities as E
from sqlengine import results as R
from sqlengine.engine import Engine
from sqlengine.materialized import Row
from sqlengine.pull_cache import PullPlan
from sqlengine.push import (
    LIMIT_REACHED,
    PushQuery,
    PushRow,
    QueryColumn,
)
from sqlengine.serde.protobuf_format import ProtobufSchema
from sqlengine.serde.protobuf_schema import derive_proto_text, proto_file

POLL_SECONDS = 0.2
# How long a /query push response stays silent before a newline tells the client (and us, by
# failing) whether the connection still stands; ksqlDB checks every second.
KEEPALIVE_SECONDS = 1.0
QUERY_COMPLETED = "Query Completed"
SCALABLE_PUSH_QUERY = "SCALABLE_PUSH_QUERY"  # the id prefix of ksqlDB's scalable push queries
# Push queries wait in threads; a generous limit so many concurrent queries all keep polling.
_POLLERS = anyio.CapacityLimiter(1024)
_pull_ids = itertools.count(1)


class QueryError(Exception):
    """A query that cannot run: `body` is the error entity, `status` the HTTP status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


@dataclass
class OpenQuery:
    query_id: str
    columns: list[QueryColumn]
    table_pull: bool  # a pull query on a table: its header marks the key columns
    push: PushQuery | None = None
    rows: list[PushRow] = field(default_factory=list)

    limit: int | None = None

    @property
    def final_message(self) -> str | None:
        """What ends a /query response: a table's pull query ends with its last row; a push
        query that the server ends before its LIMIT (shutdown, /close-query) with ksqlDB's
        completion message, which its scalable push queries do without."""
        push = self.push
        if push is not None:
            if push.limit is not None and push.emitted >= push.limit:
                return LIMIT_REACHED
            scalable = push.query_id.startswith(SCALABLE_PUSH_QUERY)
            return None if scalable else QUERY_COMPLETED
        if self.table_pull:
            return None
        limited = self.limit is not None and len(self.rows) >= self.limit
        return LIMIT_REACHED if limited else QUERY_COMPLETED

    async def batches(self) -> AsyncIterator[list[PushRow]]:
        """The rows in batches: a pull query's in one, a push query's as each poll finds them
        until done (an empty batch is a poll that found nothing)."""
        if self.push is None:
            yield self.rows
            return
        push = self.push
        ready = anyio.Event()
        waker = LoopWaker.current()
        try:
            if not push.notify_when_ready(lambda: waker.wake(ready)):
                while not push.done:
                    yield await _polled(push)
                return
            while not push.done:
                rows = push.take_ready()
                if rows is None:  # it reads the log itself for now
                    rows = await _polled(push)
                elif not rows:
                    with anyio.move_on_after(POLL_SECONDS):
                        await ready.wait()
                    if ready.is_set():
                        ready = anyio.Event()
                        continue
                yield rows
        finally:
            push.close()


async def _polled(push: PushQuery) -> list[PushRow]:
    return await anyio.to_thread.run_sync(push.poll, POLL_SECONDS, limiter=_POLLERS)


class LoopWaker:
    """Sets events of one event loop from other threads, as many as are set meanwhile in
    one hop onto the loop: a shared reader that hands rows to 100 push queries wakes the
    loop once, not 100 times."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.pending: list[anyio.Event] = []

    @classmethod
    def current(cls) -> LoopWaker:
        """The running loop's waker."""
        loop = asyncio.get_running_loop()
        waker = _wakers.get(loop)
        if waker is None:
            waker = _wakers[loop] = cls(loop)
        return waker

    def wake(self, event: anyio.Event) -> None:
        with self.lock:
            self.pending.append(event)
            if len(self.pending) > 1:
                return  # a hop onto the loop is on its way and will set this one too
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            self.loop.call_soon_threadsafe(self._set_pending)

    def _set_pending(self) -> None:
        with self.lock:
            events, self.pending = self.pending, []
        for event in events:
            event.set()


_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWaker] = (
    weakref.WeakKeyDictionary()
)


class QueryRegistry:
    """Running push queries by id, for /close-query and shutdown."""

    def __init__(self) -> None:
        self._queries: dict[str, PushQuery] = {}
        self._ending: set[str] = set()  # ended by close_all, their responses still writing
        self._lock = threading.Lock()

    def add(self, query: PushQuery) -> None:
        with self._lock:
            self._queries[query.query_id] = query

    def remove(self, query_id: str) -> None:
        """The query's response is written: it is neither running nor ending."""
        with self._lock:
            self._queries.pop(query_id, None)
            self._ending.discard(query_id)

    def close(self, query_id: str) -> bool:
        with self._lock:
            query = self._queries.pop(query_id, None)
        if query is None:
            return False
        query.close()
        return True

    def close_all(self) -> None:
        with self._lock:
            queries, self._queries = list(self._queries.values()), {}
            self._ending.update(q.query_id for q in queries)
        for q in queries:
            q.close()

    async def responses_ended(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until the responses of the queries close_all
        ended have written their last bytes: a server that stops sooner cuts them (on HTTP/2
        its GOAWAY reaches clients that then drop the streams still open)."""
        deadline = time.monotonic() + timeout
        while self._ending and time.monotonic() < deadline:
            await anyio.sleep(0.02)

    def __len__(self) -> int:
        return len(self._queries)


def open_query(
    engine: Engine, sql: str, properties: dict[str, str], variables: dict[str, str] | None = None
) -> OpenQuery:
    """Plan and start one SELECT (blocking: run it on a worker thread); `variables` are the
    request's session variables."""
    try:
        statements = engine.parse(sql, variables)
        if len(statements) != 1 or not isinstance(statements[0], ast.SelectStatement):
            text = statements[0].text if statements else sql
            raise QueryError(400, E.statement_error("Expected exactly one SELECT statement", text))
        stmt = statements[0]
        if stmt.query.emit is not None:  # EMIT CHANGES or EMIT FINAL: a push query
            push = engine.open_push_query(stmt, properties)
            return OpenQuery(push.query_id, push.columns, False, push=push)
        query, rows = engine.pull_query(engine.substitute(sql, variables), stmt, properties)
    except R.StatementError as exc:
        raise QueryError(400, E.statement_error(exc.message, exc.statement or sql)) from exc
    return _pulled(query.plan, rows)


def cached_pull(engine: Engine, sql: str, properties: dict[str, str]) -> OpenQuery | None:
    """A key-lookup pull query answered at once, without the engine lock, when its plan is
    prepared (cheap enough for the event loop); else None."""
    if "${" in sql:  # variables may have changed what the text means
        return None
    query = engine.pulls.cached(sql, properties)
    if query is None or not query.lock_free:
        return None
    return _pulled(query.plan, query.lookup())


def _pulled(plan: PullPlan, rows: list[Row]) -> OpenQuery:
    """A pull query's rows in SELECT order."""
    positions = plan.positions
    return OpenQuery(
        f"query_{next(_pull_ids)}",
        plan.columns,
        plan.source.kind == "TABLE",
        rows=[PushRow([r[i] for i in positions]) for r in rows],
        limit=plan.limit,
    )


@functools.lru_cache(maxsize=1024)
def _schema(columns: tuple[QueryColumn, ...], mark_keys: bool) -> str:
    """A header's schema, once per prepared query (a client repeats its pull queries)."""
    return E.schema_text(list(columns), mark_keys)


def _header(query: OpenQuery) -> bytes:
    schema = _schema(tuple(query.columns), query.table_pull)
    return orjson.dumps({"header": {"queryId": query.query_id, "schema": schema}})


def _row(query: OpenQuery, row: PushRow) -> bytes:
    body: dict[str, Any] = {"columns": E.row_values(row.columns, query.columns)}
    if row.tombstone:
        body["tombstone"] = True
    return orjson.dumps({"row": body})


def _final(query: OpenQuery) -> bytes:
    final = query.final_message
    return b"" if final is None else orjson.dumps({"finalMessage": final})


def pull_response(query: OpenQuery) -> bytes:
    """/query for a pull query: its rows are all there, so one JSON array."""
    elements = [_header(query), *(_row(query, row) for row in query.rows), _final(query)]
    return b"[" + b",\n".join(e for e in elements if e) + b"]\n"


PROTOBUF_MEDIA_TYPE = "application/vnd.ksql.v1+protobuf"


def pull_response_protobuf(query: OpenQuery) -> bytes:
    """/query for a pull query in ksqlDB's protobuf form (Accept: PROTOBUF_MEDIA_TYPE): the
    header carries the rows' .proto schema, each row its message's bytes in base64."""
    columns = [(c.name, c.type) for c in query.columns]
    proto = derive_proto_text(columns, full_name=None, nullable=None)
    write = ProtobufSchema(proto, proto_file(proto), None, framed=False).writer()
    schema = _schema(tuple(query.columns), query.table_pull)
    header = {"queryId": query.query_id, "schema": schema, "protoSchema": proto}
    elements = [orjson.dumps({"header": header})]
    for row in query.rows:
        message = write(
            {name: value for (name, _), value in zip(columns, row.columns, strict=True)}
        )
        elements.append(
            orjson.dumps({"row": {"protobufBytes": base64.b64encode(message).decode()}})
        )
    elements.append(_final(query))
    return b"[" + b",\n".join(e for e in elements if e) + b"]\n"


async def query_response(query: OpenQuery, registry: QueryRegistry) -> AsyncIterator[bytes]:
    """/query for a push query, written as ksqlDB writes it: `[`, then each element followed
    by `,\n` as soon as it is there (line readers see every row as it arrives), a `\n` while
    idle for KEEPALIVE_SECONDS, and at the end the final message, if any, and `]\n`."""
    yield b"[" + _header(query) + b",\n"
    idle_since = time.monotonic()
    try:
        async for batch in query.batches():
            if batch:
                yield b"".join(_row(query, row) + b",\n" for row in batch)
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= KEEPALIVE_SECONDS:
                yield b"\n"
                idle_since = time.monotonic()
        yield _final(query) + b"]\n"
    finally:
        registry.remove(query.query_id)


async def query_stream_response(
    query: OpenQuery, registry: QueryRegistry, delimited: bool, frame_each_row: bool = False
) -> AsyncIterator[bytes]:
    """/query-stream: metadata, then one JSON array per row. The rows of a batch go in one
    write, or (`frame_each_row`, HTTP/2, where ksqlDB's clients read a DATA frame as one
    row) one write each."""
    metadata = {
        "queryId": query.query_id,
        "columnNames": [c.name for c in query.columns],
        "columnTypes": [E.type_text(c.type) for c in query.columns],
    }
    # Delimited: each line ends as it is written, so line readers see rows as they arrive.
    before, after = (b"", b"\n") if delimited else (b",\n", b"")
    yield (b"" if delimited else b"[") + orjson.dumps(metadata) + after
    write = E.row_writer(query.columns)
    try:
        async for batch in query.batches():
            rows = [before + orjson.dumps(write(r.columns)) + after for r in batch]
            if frame_each_row:
                for row in rows:
                    yield row
            elif rows:
                yield b"".join(rows)
        if not delimited:
            yield b"]\n"
    finally:
        registry.remove(query.query_id)
