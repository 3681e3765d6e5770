"""ASSERT TOPIC and ASSERT SCHEMA as ksqlDB runs them: the check is retried every 100 ms until
it holds or its TIMEOUT (else `ksql.assert.topic|schema.default.timeout.ms`, 1000 ms) runs
out; a failed assertion is an AssertionFailed with ksqlDB's message."""

from __future__ import annotations

import time
from collections.abc import Callable

from grammar import ast
from sqlengine import results as R
from sqlengine.log.base import Log
from sqlengine.schema_registry import RegistryError, SchemaRegistry

TOPIC_TIMEOUT_CONFIG = "ksql.assert.topic.default.timeout.ms"
SCHEMA_TIMEOUT_CONFIG = "ksql.assert.schema.default.timeout.ms"
DEFAULT_TIMEOUT_MS = 1000
RETRY_SECONDS = 0.1


def run_assertion(
    stmt: ast.AssertTopic | ast.AssertSchema,
    log: Log,
    registry: SchemaRegistry,
    config: dict[str, str],
) -> R.Result:
    """The assertion's entity once it holds; AssertionFailed when it still fails at the
    deadline. Runs without the engine lock: what it waits for may be another's doing."""
    if isinstance(stmt, ast.AssertTopic):
        failure: Callable[[], str | None] = lambda: _topic_failure(stmt, log)  # noqa: E731
        result: R.Result = R.AssertTopicResult(stmt.text, stmt.topic, stmt.exists)
        timeout_config = TOPIC_TIMEOUT_CONFIG
    else:
        failure = lambda: _schema_failure(stmt, registry)  # noqa: E731
        result = R.AssertSchemaResult(stmt.text, stmt.subject, stmt.schema_id, stmt.exists)
        timeout_config = SCHEMA_TIMEOUT_CONFIG
    timeout_ms = (
        stmt.timeout.millis
        if stmt.timeout is not None
        else int(config.get(timeout_config, DEFAULT_TIMEOUT_MS))
    )
    deadline = time.monotonic() + timeout_ms / 1000
    while (message := failure()) is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise R.AssertionFailed(message, stmt.text, stmt.line, stmt.column)
        time.sleep(min(RETRY_SECONDS, left))
    return result


def _topic_failure(stmt: ast.AssertTopic, log: Log) -> str | None:
    """What is wrong with the topic, as ksqlDB words it; properties are checked only when the
    topic must exist (PARTITIONS and REPLICAS, any other is an error)."""
    info = log.topic(stmt.topic)
    if not stmt.exists:
        return None if info is None else f"Topic {stmt.topic} exists"
    if info is None:
        return f"Topic {stmt.topic} does not exist"
    errors = []
    for name, literal in stmt.properties.items():
        actual = {"partitions": info.partitions, "replicas": info.replicas}.get(name.lower())
        if actual is None:
            errors.append(f"Cannot assert unknown topic property: {name}")
            continue
        expected = literal.value
        if not (isinstance(expected, int) and not isinstance(expected, bool)) or (
            expected != actual
        ):
            errors.append(
                f"Mismatched configuration for topic {stmt.topic}: For config {name.lower()}, "
                f"expected {_java_text(expected)} got {actual}"
            )
    return "\n".join(errors) or None


def _schema_failure(stmt: ast.AssertSchema, registry: SchemaRegistry) -> str | None:
    subject = f" subject name {stmt.subject}" if stmt.subject is not None else ""
    schema_id = f" id {stmt.schema_id}" if stmt.schema_id is not None else ""
    exists = _schema_exists(registry, stmt.subject, stmt.schema_id)
    if exists == stmt.exists:
        return None
    return f"Schema with{subject}{schema_id} {'exists' if exists else 'does not exist'}"


def _schema_exists(registry: SchemaRegistry, subject: str | None, schema_id: int | None) -> bool:
    """Whether the registry has the subject, the id, or the id under the subject."""
    try:
        if schema_id is not None and subject is not None:
            return subject in [name for name, _ in registry.subjects_of(schema_id)]
        if schema_id is not None:
            return registry.by_id(schema_id) is not None
        return subject is not None and registry.latest(subject) is not None
    except RegistryError as exc:
        if exc.status == 404:
            return False
        raise R.AssertionFailed(f"Cannot check schema existence: {exc}") from exc


def _java_text(value: object) -> str:
    """A WITH value as Java's toString prints it (`true`, `3`, `abc`)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
