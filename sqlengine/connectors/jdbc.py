"""Confluent's JDBC connectors, for SQLite (`jdbc:sqlite:PATH`) and PostgreSQL
(`jdbc:postgresql://HOST:PORT/DB`, with `connection.user` / `connection.password`, through
psycopg).

The sink (io.confluent.connect.jdbc.JdbcSinkConnector) writes each record of `topics` to the
table `table.name.format` names (`${topic}` by default): with `insert.mode` upsert and
`pk.mode` record_key a row per key, replaced as the key's record changes and deleted by a
tombstone (unless `delete.enabled` is false); `auto.create` creates the table from the
stream's or table's columns. The source (JdbcSourceConnector) polls each table of
`table.whitelist` every `poll.interval.ms` for rows past the last one it saw, by `mode`
incrementing (`incrementing.column.name`) or timestamp (`timestamp.column.name`), and writes
them as JSON to the topic `topic.prefix` + table.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import orjson

from sqlengine.connectors.base import ConnectorContext, ConnectorError
from sqlengine.connectors.records import column_types, decoded, unread

_URL = re.compile(r"^jdbc:(sqlite|postgresql):(?://([^/:]+)(?::(\d+))?/)?(.+)$")
_SQL_TYPES = {
    "INT": "INTEGER",
    "BIGINT": "BIGINT",
    "DOUBLE": "DOUBLE PRECISION",
    "BOOLEAN": "BOOLEAN",
    "STRING": "TEXT",
    "DATE": "DATE",
    "TIMESTAMP": "BIGINT",
}


class Database:
    """One connection, with the dialect's parameter marker."""

    def __init__(self, context: ConnectorContext) -> None:
        url = context.require("connection.url")
        match = _URL.match(url)
        if match is None:
            raise ConnectorError(
                f"Connector {context.name}: connection.url {url!r}: expected "
                "jdbc:sqlite:PATH or jdbc:postgresql://HOST:PORT/DATABASE"
            )
        kind, host, port, name = match.groups()
        self.kind = kind
        if kind == "sqlite":
            self.connection: Any = sqlite3.connect(name, check_same_thread=False)
            self.marker = "?"
        else:
            import psycopg  # noqa: PLC0415 - only a PostgreSQL connector needs it

            self.connection = psycopg.connect(
                host=host,
                port=int(port or 5432),
                dbname=name,
                user=context.properties.get("connection.user") or None,
                password=context.properties.get("connection.password") or None,
                autocommit=False,
            )
            self.marker = "%s"

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        cursor.execute(sql, tuple(params))
        rows = cursor.fetchall() if cursor.description else []
        cursor.close()
        return list(rows)

    def columns(self, sql: str) -> list[str]:
        cursor = self.connection.cursor()
        cursor.execute(sql)
        names = [d[0] for d in cursor.description or []]
        cursor.fetchall()
        cursor.close()
        return names

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cell(value: Any) -> Any:
    """A column value as the database takes it: nested values as JSON text."""
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    return value


class JdbcSinkTask:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self._topics = context.topics()
        if not self._topics:
            context.require("topics")
        self.insert_mode = context.properties.get("insert.mode", "insert").lower()
        self.pk_mode = context.properties.get("pk.mode", "none").lower()
        self.auto_create = context.properties.get("auto.create", "false").lower() == "true"
        self.deletes = context.properties.get("delete.enabled", "true").lower() != "false"
        self.pk_fields = [
            f.strip() for f in context.properties.get("pk.fields", "").split(",") if f.strip()
        ]
        self.db = Database(context)
        self.created: set[str] = set()

    @property
    def topics(self) -> list[str]:
        return self._topics

    def _table(self, topic: str) -> str:
        return self.context.properties.get("table.name.format", "${topic}").replace(
            "${topic}", topic
        )

    def _create(self, table: str, topic: str, keys: list[str], row: dict[str, Any]) -> None:
        if table in self.created or not self.auto_create:
            return
        types = column_types(self.context, topic)
        columns = [
            f"{_quoted(n)} {_SQL_TYPES.get(types.get(n, ''), 'TEXT')}" for n in [*keys, *row]
        ]
        primary = f", PRIMARY KEY ({', '.join(map(_quoted, keys))})" if keys else ""
        self.db.run(f"CREATE TABLE IF NOT EXISTS {_quoted(table)} ({', '.join(columns)}{primary})")
        self.created.add(table)

    def step(self) -> int:
        written = 0
        for topic in self._topics:
            table = self._table(topic)
            for record in unread(self.context, topic):
                key, value = decoded(self.context, record)
                keys = self.pk_fields or list(key)
                key_values = list(key.values()) if self.pk_mode == "record_key" else []
                if value is None:
                    if self.deletes and key_values:
                        where = " AND ".join(f"{_quoted(k)} = {self.db.marker}" for k in keys)
                        self._maybe(f"DELETE FROM {_quoted(table)} WHERE {where}", key_values)
                        written += 1
                    continue
                row = {k: v for k, v in value.items() if k not in keys}
                key_columns = keys if self.pk_mode == "record_key" else []
                self._create(table, topic, key_columns, row)
                self._write(table, key_columns, key_values, row)
                written += 1
        if written:
            self.db.commit()
        return written

    def _maybe(self, sql: str, params: list[Any]) -> None:
        """A delete of a table that may not exist yet (a tombstone before any row)."""
        try:
            self.db.run(sql, params)
        except Exception as exc:  # noqa: BLE001 - either driver's error for a missing table
            if "no such table" not in str(exc) and "does not exist" not in str(exc):
                raise
            self.db.connection.rollback()

    def _write(
        self, table: str, keys: list[str], key_values: list[Any], row: dict[str, Any]
    ) -> None:
        names = [*keys, *row]
        values = [*key_values, *(_cell(v) for v in row.values())]
        markers = ", ".join([self.db.marker] * len(names))
        sql = f"INSERT INTO {_quoted(table)} ({', '.join(map(_quoted, names))}) VALUES ({markers})"
        if self.insert_mode == "upsert" and keys:
            updates = ", ".join(f"{_quoted(n)} = excluded.{_quoted(n)}" for n in row)
            action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
            sql += f" ON CONFLICT ({', '.join(map(_quoted, keys))}) {action}"
        self.db.run(sql, values)

    def close(self) -> None:
        self.db.close()


class JdbcSourceTask:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.mode = context.properties.get("mode", "incrementing").lower()
        column_key = (
            "timestamp.column.name" if self.mode == "timestamp" else "incrementing.column.name"
        )
        if self.mode not in ("incrementing", "timestamp"):
            raise ConnectorError(
                f"Connector {context.name}: mode {self.mode!r}: use incrementing or timestamp"
            )
        self.column = context.require(column_key)
        self.tables = [
            t.strip()
            for t in (
                context.properties.get("table.whitelist")
                or context.properties.get("table.include.list")
                or context.require("table.whitelist")
            ).split(",")
            if t.strip()
        ]
        self.prefix = context.properties.get("topic.prefix", "")
        self.poll_seconds = context.number("poll.interval.ms", 5000) / 1000
        self.next_poll = 0.0
        self.db = Database(context)
        for table in self.tables:
            context.ensure_topic(self.prefix + table)

    @property
    def topics(self) -> list[str]:
        return [self.prefix + t for t in self.tables]

    def step(self) -> int:
        if time.monotonic() < self.next_poll:
            return 0
        self.next_poll = time.monotonic() + self.poll_seconds
        produced = 0
        for table in self.tables:
            last = self.context.offsets.get(table)
            where = "" if last is None else f" WHERE {_quoted(self.column)} > {self.db.marker}"
            sql = f"SELECT * FROM {_quoted(table)}{where} ORDER BY {_quoted(self.column)}"
            cursor = self.db.connection.cursor()
            cursor.execute(sql, () if last is None else (last,))
            names = [d[0] for d in cursor.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
            cursor.close()
            self.db.commit()
            if not rows:
                continue
            now = int(time.time() * 1000)
            values = [orjson.dumps(r, default=str) for r in rows]
            self.context.log.append_batch(
                self.prefix + table, [None] * len(rows), values, [now] * len(rows)
            )
            last_value = rows[-1][self.column]
            self.context.offsets[table] = (
                last_value if isinstance(last_value, int | float | str) else str(last_value)
            )
            produced += len(rows)
        return produced

    def close(self) -> None:
        self.db.close()
