"""Connectors running inside the engine (ksqlDB's embedded Connect mode): CREATE SOURCE|SINK
CONNECTOR starts one on a thread of its own, which survives a restart (the statement is
replayed from the command log; the offsets it saved say where it resumes); SHOW CONNECTORS
and DESCRIBE CONNECTOR give their status as ksqlDB's entities; DROP CONNECTOR stops one.

Classes (Kafka Connect's names, or their short forms):
- io.confluent.kafka.connect.datagen.DatagenConnector (sqlengine.connectors.datagen)
- org.apache.kafka.connect.file.FileStreamSourceConnector / FileStreamSinkConnector
- io.confluent.connect.jdbc.JdbcSourceConnector / JdbcSinkConnector (SQLite, PostgreSQL)
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from sqlengine.connectors.base import ConnectorContext, ConnectorError, Task
from sqlengine.connectors.datagen import DatagenTask
from sqlengine.connectors.files import FileSinkTask, FileSourceTask
from sqlengine.connectors.jdbc import JdbcSinkTask, JdbcSourceTask
from sqlengine.log.base import Log

__all__ = ["ConnectorError", "Connectors"]

# class -> (SOURCE | SINK, task)
CLASSES: dict[str, tuple[str, Callable[[ConnectorContext], Task]]] = {
    "io.confluent.kafka.connect.datagen.DatagenConnector": ("SOURCE", DatagenTask),
    "org.apache.kafka.connect.file.FileStreamSourceConnector": ("SOURCE", FileSourceTask),
    "org.apache.kafka.connect.file.FileStreamSinkConnector": ("SINK", FileSinkTask),
    "io.confluent.connect.jdbc.JdbcSourceConnector": ("SOURCE", JdbcSourceTask),
    "io.confluent.connect.jdbc.JdbcSinkConnector": ("SINK", JdbcSinkTask),
}
_SHORT = {name.rsplit(".", 1)[1]: name for name in CLASSES}
IDLE_SECONDS = 0.05
WORKER_ID = "streamdb:8083"


class Worker:
    """One connector's thread: steps its task, saving its offsets after each step."""

    def __init__(
        self, name: str, kind: str, class_name: str, context: ConnectorContext, offsets_file: Path
    ) -> None:
        self.name = name
        self.kind = kind
        self.class_name = class_name
        self.context = context
        self.offsets_file = offsets_file
        self.state = "RUNNING"
        self.trace = ""
        self.task: Task | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"connector-{name}", daemon=True)

    def start(self) -> None:
        """Build the task here, so that its topics exist when the statement returns and a
        wrong property fails the statement; then run it on its thread."""
        try:
            self.task = CLASSES[self.class_name][1](self.context)
        except ConnectorError:
            raise
        except Exception as exc:  # noqa: BLE001 - a database down: FAILED, shown by DESCRIBE
            self._fail(exc)
            return
        self._thread.start()

    def _fail(self, exc: Exception) -> None:
        self.state = "FAILED"
        self.trace = "".join(traceback.format_exception(exc))

    def _run(self) -> None:
        assert self.task is not None
        try:
            while not self._stop.is_set():
                moved = self.task.step()
                if moved:
                    self._save()
                else:
                    self._stop.wait(IDLE_SECONDS)
        except Exception as exc:  # noqa: BLE001 - a failing connector is FAILED, not the server
            self._fail(exc)
        finally:
            self.task.close()

    def _save(self) -> None:
        self.offsets_file.write_bytes(orjson.dumps(self.context.offsets))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def topics(self) -> list[str]:
        return self.task.topics if self.task is not None else []


class Connectors:
    """The engine's connectors by name."""

    def __init__(
        self, log: Log, data_dir: Path, source_for_topic: Any, schema_registry: Any
    ) -> None:
        self.log = log
        self.folder = data_dir / "connectors"
        self.source_for_topic = source_for_topic
        self.schema_registry = schema_registry
        self.workers: dict[str, Worker] = {}

    def create(
        self, name: str, kind: str, properties: dict[str, str], if_not_exists: bool
    ) -> dict[str, Any] | None:
        """Start a connector; None if it exists and `if_not_exists`."""
        if name in self.workers:
            if if_not_exists:
                return None
            raise ConnectorError(
                f"Connector {name} already exists: drop it first, or use IF NOT EXISTS"
            )
        class_name = properties.get("connector.class", "")
        class_name = _SHORT.get(class_name, class_name)
        if class_name not in CLASSES:
            raise ConnectorError(
                f"Connector {name}: unknown connector.class {properties.get('connector.class')!r};"
                " one of " + ", ".join(sorted(CLASSES))
            )
        if CLASSES[class_name][0] != kind:
            raise ConnectorError(
                f"Connector {name}: {class_name} is a {CLASSES[class_name][0].lower()} connector: CREATE {CLASSES[class_name][0]} CONNECTOR"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        offsets_file = self.folder / f"{name}.offsets.json"
        offsets = orjson.loads(offsets_file.read_bytes()) if offsets_file.exists() else {}
        context = ConnectorContext(
            name, properties, self.log, offsets, self.source_for_topic, self.schema_registry
        )
        worker = Worker(name, kind, class_name, context, offsets_file)
        worker.start()
        self.workers[name] = worker
        return {
            "@type": "connector_info",
            "info": {
                "name": name,
                "config": {**properties, "name": name},
                "tasks": [],
                "type": kind.lower(),
            },
        }

    def drop(self, name: str, if_exists: bool) -> dict[str, Any]:
        worker = self.workers.pop(name, None)
        if worker is None and not if_exists:
            raise ConnectorError(f"Connector {name} does not exist: SHOW CONNECTORS lists them")
        if worker is not None:
            worker.stop()
            worker.offsets_file.unlink(missing_ok=True)
        return {"@type": "drop_connector", "connectorName": name}

    def listed(self) -> dict[str, Any]:
        return {
            "@type": "connector_list",
            "connectors": [
                {
                    "name": w.name,
                    "type": w.kind,
                    "className": w.class_name,
                    "state": f"{w.state} (1/1 tasks {w.state})",
                }
                for w in self.workers.values()
            ],
        }

    def described(self, name: str) -> dict[str, Any]:
        worker = self.workers.get(name)
        if worker is None:
            raise ConnectorError(f"Connector {name} does not exist: SHOW CONNECTORS lists them")
        task = {"id": 0, "state": worker.state, "worker_id": WORKER_ID}
        if worker.trace:
            task["trace"] = worker.trace
        return {
            "@type": "connector_description",
            "connectorClass": worker.class_name,
            "status": {
                "name": name,
                "connector": {"state": worker.state, "worker_id": WORKER_ID},
                "tasks": [task],
                "type": worker.kind.lower(),
            },
            "sources": [],
            "topics": worker.topics(),
        }

    def close(self) -> None:
        for worker in self.workers.values():
            worker.stop()
