"""`LocalClient`: the REPL's client over an Engine in this process (`streamdb cli --local`).

It answers in the same REST shapes a server would (the server's own entity and query code
builds them), so the REPL renders both alike. Persistent queries run on the engine's
background thread; before a query reads, they catch up, so what was just inserted shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grammar import ast
from repl.client import QueryStream, ServerInfo, StatementFailed
from server import entities as E
from server.app import SERVER_VERSION
from server.queries import POLL_SECONDS, OpenQuery, QueryError, open_query
from sqlengine import results as R
from sqlengine.engine import Engine
from sqlengine.push import PushRow
from sqlengine.runtime import QueryFailure


class LocalClient:
    def __init__(self, data_dir: str | Path) -> None:
        self.engine = Engine(data_dir)
        self.engine.start()
        self.location = f"in-process engine, data in {Path(data_dir).resolve()}"

    def info(self) -> ServerInfo:
        return ServerInfo(SERVER_VERSION, "RUNNING", self.location)

    def execute(self, sql: str, properties: dict[str, str]) -> list[dict[str, Any]]:
        engine = self.engine
        entities: list[dict[str, Any]] = []
        try:
            for stmt in engine.parse(sql):
                result = engine.execute_statement(stmt, properties)
                if isinstance(result, R.Handled):
                    continue
                sequence = engine.log.end_offset(engine.command_topic, 0) - 1
                entities.append(E.entity(result, engine.catalog.source, sequence))
        except R.StatementError as exc:
            raise StatementFailed(
                E.statement_error(exc.message, exc.statement or sql, entities)
            ) from exc
        return entities

    def query(self, sql: str, properties: dict[str, str]) -> QueryStream:
        self._catch_up()
        try:
            statements = self.engine.parse(sql)
            if len(statements) == 1 and isinstance(statements[0], ast.Print):
                return self._print(statements[0], properties)
            opened = open_query(self.engine, sql, properties)
        except R.StatementError as exc:
            raise StatementFailed(E.statement_error(exc.message, exc.statement or sql)) from exc
        except QueryError as exc:
            raise StatementFailed(exc.body) from exc
        stream = QueryStream(opened.query_id, [c.name for c in opened.columns], iter(()), _noop)
        if opened.push is not None:
            stream.close = opened.push.close
        stream.rows = self._rows(opened, stream)
        return stream

    def close(self) -> None:
        self.engine.close()

    def _catch_up(self) -> None:
        try:
            self.engine.run_until_idle()
        except QueryFailure:
            pass  # that query is stopped in the ERROR state; SHOW QUERIES tells

    def _print(self, stmt: ast.Print, properties: dict[str, str]) -> QueryStream:
        result = self.engine.execute_statement(stmt, properties)
        assert isinstance(result, R.PrintedRecords)
        return QueryStream(
            stmt.text, [], iter([[line] for line in result.lines]), _noop, lines=True
        )

    @staticmethod
    def _rows(opened: OpenQuery, stream: QueryStream) -> Iterator[list[Any]]:
        try:
            for row in _changes(opened):
                yield E.row_values(row.columns, opened.columns)
        finally:
            stream.close()
        stream.final_message = opened.final_message


def _changes(opened: OpenQuery) -> Iterator[PushRow]:
    """A pull query's rows, or a push query's as they arrive until it is done or closed."""
    push = opened.push
    if push is None:
        yield from opened.rows
        return
    while not push.done:
        yield from push.poll(POLL_SECONDS)


def _noop() -> None:
    return None
