"""PRINT over /query: a topic's records as text lines, as ksqlDB's server streams them.

One line per record (`rowtime: 2019/07/09 01:00:00.000 Z, key: ..., value: ..., partition: 0`),
after the key and value formats PRINT makes of the records (written again when they change),
following new records until LIMIT lines are written or the client goes away. Reads wait in the log's `wait_for_data` on
a worker thread, so the event loop only moves bytes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio

from grammar import ast
from planner.errors import PlanError
from server import entities as E
from server.queries import QueryError
from sqlengine import results as R
from sqlengine.engine import Engine
from sqlengine.introspection import print_topic_info
from sqlengine.record_formatter import RecordFormatter

POLL_SECONDS = 0.2
KEEP_ALIVE_SECONDS = 1.0


class TopicPrinter:
    """One PRINT statement's read positions over its topic's partitions."""

    def __init__(self, engine: Engine, stmt: ast.Print) -> None:
        self.log = engine.log
        info = print_topic_info(self.log, stmt.topic)
        self.topic = info.name
        first = self.log.start_offset if stmt.from_beginning else self.log.end_offset
        self.positions = {p: first(self.topic, p) for p in range(info.partitions)}
        self.limit = stmt.limit
        self.every = max(stmt.interval or 1, 1)
        self.seen = 0
        self.written = 0
        self.formatter = RecordFormatter(engine.schema_registry)

    @property
    def done(self) -> bool:
        return self.limit is not None and self.written >= self.limit

    def poll(self, timeout: float) -> list[str]:
        """The lines of the records available now, waiting up to `timeout` for some."""
        lines = self._read()
        if not lines and not self.done:
            waiting = {(self.topic, p): o for p, o in self.positions.items()}
            if self.log.wait_for_data(waiting, timeout):
                lines = self._read()
        return lines

    def _read(self) -> list[str]:
        printed = []
        for partition, offset in self.positions.items():
            batch = self.log.read(self.topic, partition, offset)
            if not len(batch):
                continue
            self.positions[partition] = batch.next_offset
            for record in batch.records():
                self.seen += 1
                if (self.seen - 1) % self.every == 0 and not self.done:
                    printed.append(record)
                    self.written += 1
        return self.formatter.format_lines(printed)

    async def stream(self) -> AsyncIterator[bytes]:
        """The lines as records arrive; a blank line each idle second, as ksqlDB writes, so
        the client knows the server is there and a gone client is noticed."""
        idle_since = time.monotonic()
        while not self.done:
            lines = await anyio.to_thread.run_sync(self.poll, POLL_SECONDS)
            if lines:
                idle_since = time.monotonic()
                yield ("\n".join(lines) + "\n").encode()
            elif time.monotonic() - idle_since >= KEEP_ALIVE_SECONDS:
                idle_since = time.monotonic()
                yield b"\n"


def open_printer(engine: Engine, sql: str) -> TopicPrinter | None:
    """A printer when `sql` is one PRINT statement, else None (blocking: run it on a worker
    thread). An unknown topic is a QueryError, as any statement that cannot run."""
    try:
        statements = engine.parse(sql)
        if len(statements) != 1 or not isinstance(statements[0], ast.Print):
            return None
        return TopicPrinter(engine, statements[0])
    except R.StatementError:
        return None  # open_query reports it
    except PlanError as exc:
        raise QueryError(400, E.statement_error(str(exc), statements[0].text)) from exc
