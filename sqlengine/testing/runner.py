"""Runs QTT cases in-process and deterministically, as ksqlDB's test driver does.

Statements run first; then inputs are produced one at a time, each processed fully (all
persistent queries run until idle) before the next; stream time comes only from record
timestamps. Outputs are compared per topic, in order.
"""

from __future__ import annotations

import base64
import tempfile
import traceback
from dataclasses import dataclass
from typing import Any

import orjson

from sqlengine import serde
from sqlengine.catalog import DataSource
from sqlengine.engine import Engine
from sqlengine.results import StatementError
from sqlengine.runtime import format_info
from sqlengine.testing.cases import Case
from sqlengine.testing.compare import CaseFailure, check_post, compare_outputs

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass
class CaseResult:
    case: Case
    status: str
    reason: str = ""


def run_case(case: Case) -> CaseResult:
    if not case.enabled:
        return CaseResult(case, SKIPPED)
    try:
        with tempfile.TemporaryDirectory(prefix="streamdb-qtt-") as tmp:
            _run(case, tmp)
    except CaseFailure as exc:
        return CaseResult(case, FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash in one case must not stop the run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return CaseResult(
            case, FAILED, f"{type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"
        )
    return CaseResult(case, PASSED)


def _run(case: Case, data_dir: str) -> None:
    spec = case.spec
    config = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in spec.get("properties", {}).items()
    }
    engine = Engine(data_dir, config=config)
    try:
        for topic in spec.get("topics", []):
            if engine.log.topic(topic["name"]) is None:
                engine.log.create_topic(topic["name"], int(topic.get("partitions") or 1))
        for record in spec.get("inputs", []):
            if engine.log.topic(record["topic"]) is None:
                engine.log.create_topic(record["topic"], 1)
        expected_error = spec.get("expectedException")
        try:
            # One script, so error positions count lines as ksqlDB's runner does.
            engine.execute("\n".join(spec.get("statements", [])))
            for record in spec.get("inputs", []):
                _produce(engine, record)
                engine.run_until_idle()
        except StatementError as exc:
            if expected_error is None:
                raise CaseFailure(f"statement failed: {exc}") from exc
            message = expected_error.get("message", "")
            if message not in str(exc):
                raise CaseFailure(
                    f"expected error containing {message!r}, got {str(exc)!r}"
                ) from exc
            return
        if expected_error is not None:
            raise CaseFailure(f"expected error {expected_error.get('message', '')!r}, none raised")
        compare_outputs(engine, spec.get("outputs", []))
        check_post(engine, spec.get("post"))
    finally:
        engine.close()


def source_for_topic(engine: Engine, topic: str) -> DataSource | None:
    for source in engine.catalog.sources.values():
        if source.topic == topic:
            return source
    return None


def _produce(engine: Engine, record: dict[str, Any]) -> None:
    topic = record["topic"]
    if engine.log.topic(topic) is None:
        engine.log.create_topic(topic, 1)
    source = source_for_topic(engine, topic)
    key = encode_key(source, record.get("key"))
    value = encode_value(source, record.get("value"))
    headers = tuple(
        (h["KEY"], None if h.get("VALUE") is None else base64.b64decode(h["VALUE"]))
        for h in record.get("headers", [])
    )
    engine.log.append_batch(topic, [key], [value], [int(record.get("timestamp") or 0)], [headers])


def _raw(obj: Any) -> bytes:
    return obj.encode() if isinstance(obj, str) else orjson.dumps(obj)


def encode_key(source: DataSource | None, key: Any) -> bytes | None:
    if key is None:
        return None
    if source is None or source.key_format.name in ("JSON", "JSON_SR"):
        return orjson.dumps(key)
    if source.key_format.name == "DELIMITED":
        return _raw(key)
    cols = [(c.name, c.type) for c in source.key_columns]
    if not cols:
        return _raw(key)
    values = (
        [serde.json_to_value(key, cols[0][1])]
        if len(cols) == 1
        else [serde.json_to_value(key.get(n), t) for n, t in cols]
    )
    return serde.make_serializer(format_info(source.key_format), cols, is_key=True)(values)


def encode_value(source: DataSource | None, value: Any) -> bytes | None:
    if value is None:
        return None
    if source is None or source.value_format.name in ("JSON", "JSON_SR"):
        return orjson.dumps(value)
    if source.value_format.name == "DELIMITED" or isinstance(value, str):
        return _raw(value)
    cols = [(c.name, c.type) for c in source.value_columns]
    if len(cols) == 1 and not isinstance(value, dict):
        return serde.make_serializer(
            format_info(source.value_format), cols, is_key=False, wrap_single=False
        )([serde.json_to_value(value, cols[0][1])])
    return orjson.dumps(value)
