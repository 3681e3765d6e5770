"""What every connector is: a task the worker steps until it is stopped, with the offsets it
resumes from after a restart, and the Kafka Connect properties it was created with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlengine.log.base import Log


class ConnectorError(Exception):
    """A connector that cannot be created or run: the message names the property to fix."""


@dataclass
class ConnectorContext:
    """What a task gets: its properties, the log, the catalog's sources by topic (for the
    formats of what a sink reads), and its saved offsets (updated by the task)."""

    name: str
    properties: Mapping[str, str]
    log: Log
    offsets: dict[str, Any] = field(default_factory=dict)
    source_for_topic: Any = None  # (topic) -> DataSource | None
    schema_registry: Any = None

    def require(self, key: str) -> str:
        value = self.properties.get(key)
        if not value:
            raise ConnectorError(f"Connector {self.name}: the property '{key}' is required")
        return value

    def number(self, key: str, default: int) -> int:
        value = self.properties.get(key)
        try:
            return default if value in (None, "") else int(str(value))
        except ValueError as exc:
            raise ConnectorError(f"Connector {self.name}: '{key}' must be a number") from exc

    def topics(self) -> list[str]:
        """A sink's `topics` (comma separated), or a source's `kafka.topic` / `topic`."""
        text = self.properties.get("topics") or self.properties.get("topic") or ""
        return [t.strip() for t in text.split(",") if t.strip()]

    def ensure_topic(self, topic: str) -> None:
        if self.log.topic(topic) is None:
            self.log.create_topic(topic, 1)


class Task(Protocol):
    def step(self) -> int:
        """Move what is ready (records produced or delivered); 0 when there was nothing."""
        ...

    def close(self) -> None: ...

    @property
    def topics(self) -> list[str]: ...
