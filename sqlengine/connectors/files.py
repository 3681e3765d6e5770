"""Kafka Connect's FileStream connectors: the source appends each new line of `file` to
`topic` (the line as the value: text, or a JSON document when the line is one), resuming at
the byte it stopped at; the sink appends each record of `topics` to `file`, one line per
record (its value as text; JSON values as JSON)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from sqlengine.connectors.base import ConnectorContext
from sqlengine.connectors.records import decoded, unread


class FileSourceTask:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.path = Path(context.require("file"))
        self.topic = context.topics()[0] if context.topics() else context.require("topic")
        context.ensure_topic(self.topic)

    @property
    def topics(self) -> list[str]:
        return [self.topic]

    def step(self) -> int:
        if not self.path.exists():
            return 0
        position = int(self.context.offsets.get("position", 0))
        with self.path.open("rb") as file:
            file.seek(position)
            data = file.read()
        end = data.rfind(b"\n")
        if end < 0:
            return 0  # no whole line yet
        lines = [line.rstrip(b"\r") for line in data[:end].split(b"\n")]
        if lines:
            now = int(time.time() * 1000)
            self.context.log.append_batch(
                self.topic, [None] * len(lines), list(lines), [now] * len(lines)
            )
        self.context.offsets["position"] = position + end + 1
        return len(lines)

    def close(self) -> None:
        """The file is opened per step."""


class FileSinkTask:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.path = Path(context.require("file"))
        self._topics = context.topics()
        if not self._topics:
            context.require("topics")

    @property
    def topics(self) -> list[str]:
        return self._topics

    def step(self) -> int:
        lines = []
        for topic in self._topics:
            typed = self.context.source_for_topic(topic) is not None
            for record in unread(self.context, topic):
                if record.value is None:
                    continue
                if not typed:  # lines or JSON documents, as they were written
                    lines.append(record.value.decode(errors="replace"))
                    continue
                _, value = decoded(self.context, record)
                lines.append(orjson.dumps(value, default=str).decode())
        if lines:
            with self.path.open("a") as file:
                file.write("".join(f"{line}\n" for line in lines))
        return len(lines)

    def close(self) -> None:
        """The file is opened per step."""
