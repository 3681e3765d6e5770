"""Runs QTT cases in-process and deterministically, as ksqlDB's test driver does.

Statements run first; then inputs are produced one at a time, each processed fully (all
persistent queries run until idle) before the next; stream time comes only from record
timestamps. Outputs are compared per topic, in order.
"""

from __future__ import annotations

import base64
import itertools
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grammar import ast
from grammar.parser import ParseError, parse, unknown_statement_error
from planner.errors import PlanError
from planner.physical import SERVICE_ID_CONFIG
from sqlengine import ddl, pull, serde
from sqlengine.catalog import DataSource
from sqlengine.engine import Engine
from sqlengine.javatext import java_hash_map_order
from sqlengine.results import StatementError
from sqlengine.runtime import QueryFailure
from sqlengine.schema_registry import SchemaReference, SchemaRegistry
from sqlengine.sink import format_info
from sqlengine.testing.cases import Case, corpus_json_bytes
from sqlengine.testing.compare import CaseFailure, check_post, compare_outputs
from sqlengine.testing.kafka_broker import case_topics_removed
from sqlengine.udf import EXTENSION_DIR_CONFIG
from sqlengine.windowed_keys import windowed_key

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass
class CaseResult:
    case: Case
    status: str
    reason: str = ""


def run_case(case: Case, body: Callable[[Case, str], None] | None = None) -> CaseResult:
    """Run one case in a fresh data dir; `body` runs it (default: on the engine directly)."""
    if not case.enabled:
        return CaseResult(case, SKIPPED)
    try:
        with tempfile.TemporaryDirectory(prefix="streamdb-qtt-") as tmp, case_backend():
            (body or _run)(case, tmp)
    except CaseFailure as exc:
        return CaseResult(case, FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 - a crash in one case must not stop the run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return CaseResult(
            case, FAILED, f"{type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"
        )
    return CaseResult(case, PASSED)


# As upstream's test driver: the record cache off, so every change of a table is emitted.
# ksqlDB's test-only functions (TEST_UDF, BAD_UDF, TEST_UDTF, VAR_ARG...): an extension
# directory every case's engine loads, as a user's functions load; no other command has them.
TEST_FUNCTIONS_DIR = Path(__file__).parent / "extensions"
RUNNER_DEFAULTS = {
    "ksql.streams.cache.max.bytes.buffering": "0",
    # A case's few records never reach a worker process (tasks.MIN_PARALLEL_RECORDS): its
    # engine starts none.
    "ksql.streams.num.stream.threads": "1",
    EXTENSION_DIR_CONFIG: str(TEST_FUNCTIONS_DIR),
}
# The log every case runs on: the embedded one (empty), or the Kafka cluster that
# `bootstrap.servers` names (`streamdb test --bootstrap-servers`), set once per process.
BACKEND_CONFIG: dict[str, str] = {}


@contextmanager
def on_backend(config: dict[str, str]) -> Iterator[None]:
    """Runs the cases of the block on the log `config` names (its bootstrap.servers: Kafka)."""
    previous = dict(BACKEND_CONFIG)
    BACKEND_CONFIG.update(config)
    try:
        yield
    finally:
        BACKEND_CONFIG.clear()
        BACKEND_CONFIG.update(previous)


@contextmanager
def case_backend() -> Iterator[None]:
    """A case's own place on the backend: on Kafka, a service id of its own (its command
    topic and groups) and, afterwards, the topics it created deleted."""
    servers = BACKEND_CONFIG.get("bootstrap.servers")
    if not servers:
        yield
        return
    BACKEND_CONFIG[SERVICE_ID_CONFIG] = f"qtt_{uuid.uuid4().hex[:12]}_"
    with case_topics_removed(servers):
        yield


def refusal_config(spec: dict[str, Any]) -> dict[str, str]:
    """A case that expects an error expects ksqlDB's refusals: for it, pull queries beyond
    ksqlDB's (GROUP BY, JOIN, ORDER BY... answered by DuckDB) are switched off."""
    if spec.get("expectedError") or spec.get("expectedException"):
        return {pull.ANALYTICS: "false"}
    return {}


# Upstream's test executor's service id, which names the internal topics `post` lists.
CASE_SERVICE_ID = {SERVICE_ID_CONFIG: "some.ksql.service.id"}


def case_config(spec: dict[str, Any]) -> dict[str, str]:
    """The engine config of a case: the runner's defaults, then the case's properties."""
    props = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in spec.get("properties", {}).items()
    }
    defaults = {**RUNNER_DEFAULTS, **CASE_SERVICE_ID}
    return {**defaults, **BACKEND_CONFIG, **refusal_config(spec), **props}


def _run(case: Case, data_dir: str) -> None:
    spec = case.spec
    engine = Engine(data_dir, config=case_config(spec))
    try:
        create_case_topics(engine, spec)
        expected_error = spec.get("expectedException")
        try:
            # One script, so error positions count lines as ksqlDB's runner does.
            for stmt in engine.parse("\n".join(spec.get("statements", []))):
                if isinstance(stmt, ast.RunScript):  # a CLI command, unknown to the server
                    error = unknown_statement_error(stmt)
                    raise StatementError(
                        error.message, stmt.text, stmt.line, stmt.column
                    ) from error
                engine.execute_statement(stmt, {})
            for record in spec.get("inputs", []):
                produce(engine, record)
                engine.run_until_idle()
        except (StatementError, QueryFailure) as exc:
            if expected_error is None:
                raise CaseFailure(f"statement failed: {exc}") from exc
            message = expected_error.get("message", "")
            if message not in str(exc):
                raise CaseFailure(
                    f"expected error containing {message!r}, got {str(exc)!r}"
                ) from exc
            check_error_type(expected_error.get("type"), exc)
            return
        if expected_error is not None:
            raise CaseFailure(f"expected error {expected_error.get('message', '')!r}, none raised")
        compare_outputs(engine, spec.get("outputs", []))
        check_post(engine, spec.get("post"), harness_partitions(engine, spec))
    finally:
        engine.close()


# ksqlDB's exception classes a case may expect, with the classes each is an instance of.
_ERROR_CLASSES = {
    "KsqlStatementException": {"KsqlStatementException", "KsqlException"},
    "ParseFailedException": {"ParseFailedException", "KsqlException"},
    "StreamsException": {"StreamsException"},
}


def error_class(exc: Exception) -> str:
    """The ksqlDB exception class of a failure: a statement that does not parse fails with
    ParseFailedException, one that cannot run with KsqlStatementException, a query that
    fails while processing with Kafka Streams' StreamsException."""
    if isinstance(exc, QueryFailure):
        return "StreamsException"
    if isinstance(exc.__cause__, ParseError):
        return "ParseFailedException"
    return "KsqlStatementException"


def check_error_type(expected: str | None, exc: Exception) -> None:
    """As upstream: the failure must be an instance of the expected exception class."""
    if expected is None:
        return
    wanted = expected.rsplit(".", 1)[-1]
    actual = error_class(exc)
    if wanted not in _ERROR_CLASSES[actual]:
        raise CaseFailure(f"expected a {wanted}, got a {actual}: {exc}") from exc


def create_case_topics(engine: Engine, spec: dict[str, Any], default_partitions: int = 1) -> None:
    """Creates the topics that exist before a case's statements run, and registers the
    schemas `topics` gives them."""
    for name, partitions in _case_topics(spec, default_partitions).items():
        if engine.log.topic(name) is None:
            engine.log.create_topic(name, partitions)
    # Upstream's runner uses a mock Schema Registry, which checks no compatibility.
    engine.schema_registry.set_compatibility("NONE")
    # As upstream's runner: the topics `topics` lists, then those CREATE statements declare
    # (their schemas derived from the declared columns), registered in its topic map's
    # order (a java.util.HashMap's), so schema ids come out as the cases expect them.
    listed: dict[str, dict[str, Any] | ast.CreateSource] = {
        t["name"]: t for t in spec.get("topics", [])
    }
    for stmt in _parsed(spec.get("statements", [])):
        if isinstance(stmt, ast.CreateSource) and "KAFKA_TOPIC" in stmt.properties:
            listed.setdefault(str(stmt.properties["KAFKA_TOPIC"].value), stmt)
    for name in java_hash_map_order(list(listed)):
        entry = listed[name]
        if isinstance(entry, ast.CreateSource):
            _register_declared_schemas(engine, entry, case_config(spec))
            continue
        for side in ("key", "value"):
            if entry.get(f"{side}Schema") is not None:
                register_case_schema(engine.schema_registry, entry, side)


def _parsed(statements: list[str]) -> list[ast.Statement]:
    """The case's statements that parse (one that does not declares nothing)."""
    parsed: list[ast.Statement] = []
    for sql in statements:
        try:
            parsed += parse(sql)
        except ParseError:
            continue
    return parsed


def _register_declared_schemas(
    engine: Engine, stmt: ast.CreateSource, config: dict[str, str]
) -> None:
    """Registers the key and value schemas a CREATE statement's declared columns derive
    (for a schema format, without a schema id), as upstream's runner infers its topics."""
    try:
        source = ddl.declared_source(stmt, engine.catalog, engine.log, config)
    except (PlanError, serde.SerdeError):
        return  # the statement itself fails when it runs
    declared = {
        e.constraint in ("KEY", "PRIMARY KEY")
        for e in stmt.elements
        if e.constraint in (None, "KEY", "PRIMARY KEY")
    }
    for is_key in (True, False):
        fmt = source.key_format if is_key else source.value_format
        if (
            is_key in declared
            and fmt.name in serde.SCHEMA_FORMATS
            and "schemaId" not in fmt.properties
        ):
            _schema_encoder(source, engine.schema_registry, is_key=is_key)


def _schema_text(schema: Any, schema_type: str) -> str:
    if isinstance(schema, str) and schema_type == "PROTOBUF":
        return schema
    return corpus_json_bytes(schema).decode()


def _schema_type(fmt: str | None, schema: Any) -> str:
    """The registry's type of a `topics` schema: from its format, else from its shape."""
    name = (fmt or "").upper()
    if name.startswith("PROTOBUF") or (isinstance(schema, str) and "syntax" in schema):
        return "PROTOBUF"
    return "JSON" if name.startswith("JSON") else "AVRO"


def register_case_schema(registry: SchemaRegistry, topic: dict[str, Any], side: str) -> None:
    """Registers a `topics` entry's key or value schema (with its id and references) under
    the topic's subject, as upstream's runner does before the statements run."""
    schema = topic[f"{side}Schema"]
    schema_type = _schema_type(topic.get(f"{side}Format"), schema)
    schema_id = topic.get(f"{side}SchemaId")
    listed = topic.get(f"{side}SchemaReferences", [])
    # Upstream registers the schema before what it references: without an id of its own,
    # it takes the next free id, its references the ones after it.
    first_free = None
    if listed and schema_id is None:
        first_free = schema_id = next(i for i in itertools.count(1) if registry.by_id(i) is None)
    references = []
    for n, ref in enumerate(listed, start=1):
        ref_type = _schema_type(ref.get("format"), ref["schema"])
        ref_id = None
        if first_free is not None and registry.by_id(first_free + n) is None:
            ref_id = first_free + n
        registry.register(ref["name"], ref_type, _schema_text(ref["schema"], ref_type), (), ref_id)
        version = registry.versions(ref["name"])[-1]
        references.append(SchemaReference(ref["name"], ref["name"], version))
    registry.register(
        serde.subject_of(topic["name"], is_key=side == "key"),
        schema_type,
        _schema_text(schema, schema_type),
        tuple(references),
        schema_id,
    )


# The partition count upstream's test harness gives a topic it creates for a statement or a
# record (ksqlDB's legacy default), and records for every query's sink, whatever the query
# created: `post` conditions see these counts.
HARNESS_PARTITIONS = 4


def harness_partitions(engine: Engine, spec: dict[str, Any]) -> dict[str, int]:
    """Each topic's partition count as upstream's test harness reports it: a query's sink
    has the harness's count; a topic the case names has that of `topics` or of the CREATE
    statement's PARTITIONS, else the harness's."""
    counts = _case_topics(spec, HARNESS_PARTITIONS, HARNESS_PARTITIONS)
    for source in engine.catalog.sources.values():
        if source.created_by_query is not None:
            counts[source.topic] = HARNESS_PARTITIONS
    return counts


def _case_topics(
    spec: dict[str, Any], default_partitions: int, record_partitions: int = 1
) -> dict[str, int]:
    """Topics as upstream's runner infers them: those listed in `topics`, those named by
    CREATE STREAM/TABLE statements (a statement that does not parse names none), then those
    of `inputs` and `outputs`."""
    topics = {t["name"]: int(t.get("partitions") or 1) for t in spec.get("topics", [])}
    for stmt in _parsed(spec.get("statements", [])):
        if isinstance(stmt, ast.CreateSource) and "KAFKA_TOPIC" in stmt.properties:
            partitions = stmt.properties.get("PARTITIONS")
            topics.setdefault(
                str(stmt.properties["KAFKA_TOPIC"].value),
                int(partitions.value) if partitions is not None else default_partitions,  # type: ignore[arg-type]
            )
    for record in [*spec.get("inputs", []), *spec.get("outputs", [])]:
        topics.setdefault(record["topic"], record_partitions)
    return topics


def source_for_topic(engine: Engine, topic: str) -> DataSource | None:
    for source in engine.catalog.sources.values():
        if source.topic == topic:
            return source
    return None


def produce(engine: Engine, record: dict[str, Any]) -> None:
    """Appends one `inputs` record, serialized with its topic's source formats."""
    topic = record["topic"]
    if engine.log.topic(topic) is None:
        engine.log.create_topic(topic, 1)
    source = source_for_topic(engine, topic)
    key = encode_key(source, record.get("key"), engine.schema_registry)
    window = record.get("window")
    if window is not None and key is not None:
        key = windowed_key(key, window["start"], window["end"], window.get("type") == "session")
    value = encode_value(source, record.get("value"), engine.schema_registry)
    headers = tuple(
        (h["KEY"], None if h.get("VALUE") is None else base64.b64decode(h["VALUE"]))
        for h in record.get("headers", [])
    )
    engine.log.append_batch(topic, [key], [value], [int(record.get("timestamp") or 0)], [headers])


def _raw(obj: Any) -> bytes:
    return obj.encode() if isinstance(obj, str) else corpus_json_bytes(obj)


def _schema_encoder(
    source: DataSource, registry: SchemaRegistry | None, *, is_key: bool
) -> Callable[[Any], bytes]:
    """A schema format's encoder of JSON-like data for the source (registering its schema)."""
    fmt = source.key_format if is_key else source.value_format
    cols = [(c.name, c.type) for c in (source.key_columns if is_key else source.value_columns)]
    return serde.make_json_encoder(
        format_info(fmt),
        cols,
        is_key=is_key,
        wrap_single=source.wrap_single_value is not False,
        registry=registry,
        topic=source.topic,
    )


def _encode_schema_format(
    source: DataSource, obj: Any, registry: SchemaRegistry | None, *, is_key: bool
) -> bytes:
    return _schema_encoder(source, registry, is_key=is_key)(obj)


def encode_key(
    source: DataSource | None, key: Any, registry: SchemaRegistry | None = None
) -> bytes | None:
    if key is None:
        return None
    if source is not None and source.key_format.name in serde.SCHEMA_FORMATS:
        return _encode_schema_format(source, key, registry, is_key=True)
    if source is None or source.key_format.name == "JSON":
        return corpus_json_bytes(key)
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


def encode_value(
    source: DataSource | None, value: Any, registry: SchemaRegistry | None = None
) -> bytes | None:
    if value is None:
        return None
    if source is not None and source.value_format.name in serde.SCHEMA_FORMATS:
        return _encode_schema_format(source, value, registry, is_key=False)
    if source is None or source.value_format.name == "JSON":
        return corpus_json_bytes(value)
    cols = [(c.name, c.type) for c in source.value_columns]
    if source.value_format.name == "KAFKA" and len(cols) == 1:
        return serde.make_serializer(
            format_info(source.value_format), cols, is_key=False, wrap_single=False
        )([serde.json_to_value(value, cols[0][1])])
    return _raw(value)
