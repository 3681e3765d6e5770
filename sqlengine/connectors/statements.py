"""The connector statements' handlers: CREATE SOURCE|SINK CONNECTOR, DROP CONNECTOR,
DESCRIBE CONNECTOR and SHOW|LIST CONNECTORS, answering with ksqlDB's entities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grammar import ast
from planner.errors import PlanError
from sqlengine import catalog as C
from sqlengine import results as R
from sqlengine.connectors import ConnectorError, Connectors
from sqlengine.engine_context import EngineContext


def _text(literal: ast.Literal) -> str:
    value = literal.value
    return str(value).lower() if isinstance(value, bool) else str(value)


class ConnectorStatements:
    def __init__(self, engine: EngineContext) -> None:
        self.engine = engine
        self.connectors = Connectors(
            engine.log, engine.state_dir.parent, self._source_for_topic, engine.schema_registry
        )
        self.handlers: dict[type, Callable[[Any, dict[str, str]], R.Result]] = {
            ast.CreateConnector: self.create,
            ast.DropConnector: self.drop,
            ast.DescribeConnector: self.describe,
        }

    def _source_for_topic(self, topic: str) -> C.DataSource | None:
        """The stream or table whose formats read a topic: a query's sink first."""
        found = [s for s in self.engine.catalog.sources.values() if s.topic == topic]
        found.sort(key=lambda s: s.created_by_query is None)
        return found[0] if found else None

    def create(self, stmt: ast.CreateConnector, config: dict[str, str]) -> R.Result:
        properties = {k: _text(v) for k, v in stmt.properties.items()}
        try:
            body = self.connectors.create(stmt.name, stmt.kind, properties, stmt.if_not_exists)
        except ConnectorError as exc:
            raise PlanError(str(exc)) from exc
        if body is None:
            return R.CommandStatus(stmt.text, f"Connector {stmt.name} already exists.")
        return R.Entity(stmt.text, body)

    def drop(self, stmt: ast.DropConnector, config: dict[str, str]) -> R.Result:
        try:
            return R.Entity(stmt.text, self.connectors.drop(stmt.name, stmt.if_exists))
        except ConnectorError as exc:
            raise PlanError(str(exc)) from exc

    def describe(self, stmt: ast.DescribeConnector, config: dict[str, str]) -> R.Result:
        try:
            return R.Entity(stmt.text, self.connectors.described(stmt.name))
        except ConnectorError as exc:
            raise PlanError(str(exc)) from exc

    def show(self, stmt: ast.Show) -> R.Result:
        return R.Entity(stmt.text, self.connectors.listed())

    def close(self) -> None:
        self.connectors.close()
