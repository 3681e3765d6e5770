"""ksqlDB's REST entities: statement results, query headers and errors as JSON-ready dicts.

Shapes follow ksqlDB's REST API reference (`@type` names, camelCase fields, error codes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlengine import catalog as C
from sqlengine import results as R
from sqlengine import serde
from sqlengine import types as T
from sqlengine.processing_log import LogEntry
from sqlengine.push import QueryColumn
from sqlengine.topic_statistics import Stat

# ksqlDB's error codes: the HTTP status times 100, plus a detail digit.
BAD_REQUEST = 40000
BAD_STATEMENT = 40001
QUERY_ENDPOINT = 40002
NOT_FOUND = 40400
SERVER_ERROR = 50000

SourceLookup = Callable[[str], C.DataSource | None]


def error_code(status: int) -> int:
    return status * 100


def generic_error(code: int, message: str) -> dict[str, Any]:
    return {"@type": "generic_error", "error_code": code, "message": message, "stackTrace": []}


def statement_text(text: str) -> str:
    """A statement's text as ksqlDB reports it: ending in its semicolon."""
    text = text.strip()
    return text if not text or text.endswith(";") else text + ";"


def statement_error(
    message: str, statement: str, entities: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "@type": "statement_error",
        "error_code": BAD_STATEMENT,
        "message": message,
        "statementText": statement_text(statement),
        "entities": entities or [],
        "stackTrace": [],
    }


def query_endpoint_error(statement: str) -> dict[str, Any]:
    return {
        **statement_error(
            "The following statement types should be issued to the websocket endpoint "
            "'/query':\n\t* PRINT\n\t* SELECT",
            statement,
        ),
        "error_code": QUERY_ENDPOINT,
    }


# ---------------------------------------------------------------------------- types and values


def type_text(t: T.SqlType) -> str:
    """A type as ksqlDB's REST API prints it: long names, every field name quoted."""
    if isinstance(t, T.Array):
        return f"ARRAY<{type_text(t.element)}>"
    if isinstance(t, T.Map):
        return f"MAP<{type_text(t.key)}, {type_text(t.value)}>"
    if isinstance(t, T.Struct):
        return "STRUCT<" + ", ".join(f"`{f.name}` {type_text(f.type)}" for f in t.fields) + ">"
    return T.long_name(t)


def schema_text(columns: list[QueryColumn], mark_keys: bool) -> str:
    """The `schema` of a /query header, e.g. "`ID` STRING KEY, `COUNT` BIGINT"."""
    return ", ".join(
        f"`{c.name}` {type_text(c.type)}{' KEY' if mark_keys and c.is_key else ''}" for c in columns
    )


def schema_info(t: T.SqlType) -> dict[str, Any]:
    """ksqlDB's SchemaInfo: type, fields (STRUCT), memberSchema (ARRAY, MAP)."""
    info: dict[str, Any] = {"type": t.base.value, "fields": None, "memberSchema": None}
    if isinstance(t, T.Array):
        info["memberSchema"] = schema_info(t.element)
    elif isinstance(t, T.Map):
        info["memberSchema"] = schema_info(t.value)
    elif isinstance(t, T.Struct):
        info["fields"] = [{"name": f.name, "schema": schema_info(f.type)} for f in t.fields]
    elif isinstance(t, T.Decimal):
        info["parameters"] = {"precision": t.precision, "scale": t.scale}
    return info


def row_values(values: list[Any], columns: list[QueryColumn]) -> list[Any]:
    """A row's values as ksqlDB's REST API returns them (DATE, TIME, TIMESTAMP as text)."""
    return row_writer(columns)(values)


def row_writer(columns: list[QueryColumn]) -> Callable[[list[Any]], list[Any]]:
    """`row_values` for each row of one query, the columns' converters looked up once (a
    row of columns that need none is returned as it is)."""
    writers = [serde.api_json_writer(c.type) for c in columns]
    if all(w is None for w in writers):
        return lambda values: values

    def write(values: list[Any]) -> list[Any]:
        return [v if w is None or v is None else w(v) for v, w in zip(values, writers, strict=True)]

    return write


# ---------------------------------------------------------------------------- statement results


def _source_fields(result: R.SourceDescriptionResult, lookup: SourceLookup) -> list[Any]:
    source = lookup(result.name)
    types = {c.name: c.type for c in source.columns} if source is not None else {}
    fields = []
    for name, type_name, kind in result.columns:
        sql_type = types.get(name)
        field: dict[str, Any] = {
            "name": name,
            "schema": schema_info(sql_type)
            if sql_type is not None
            else {"type": type_name, "fields": None, "memberSchema": None},
        }
        if kind is not None:
            field["type"] = kind
        fields.append(field)
    return fields


def _host_stats(stats: list[Stat], host: str) -> list[dict[str, Any]]:
    """Metrics as ksqlDB's QueryHostStat serializes them."""
    return [
        {"name": s.name, "host": host, "value": s.value, "timestamp": s.timestamp_ms} for s in stats
    ]


def _running_query(q: R.QuerySummary, lookup: SourceLookup) -> dict[str, Any]:
    return {
        "queryString": q.sql,
        "sinks": q.sinks,
        "sinkKafkaTopics": [s.topic for s in map(lookup, q.sinks) if s is not None],
        "id": q.query_id,
        "statusCount": {q.state: 1},
        "queryType": "PERSISTENT",
        "state": q.state,
    }


def _source_description(r: R.SourceDescriptionResult, lookup: SourceLookup) -> dict[str, Any]:
    runtime = r.runtime
    return {
        "name": r.name,
        "windowType": None,
        "readQueries": [_running_query(q, lookup) for q in r.read_queries],
        "writeQueries": [_running_query(q, lookup) for q in r.write_queries],
        "fields": _source_fields(r, lookup),
        "type": r.kind,
        "timestamp": r.timestamp or "",
        "statistics": runtime.statistics if runtime else "",
        "errorStats": runtime.error_stats if runtime else "",
        "extended": r.extended,
        "keyFormat": r.key_format,
        "valueFormat": r.value_format,
        "topic": r.topic,
        "partitions": r.partitions,
        "replication": 1,
        "statement": r.statement_text,
        "queryOffsetSummaries": [],
        "sourceConstraints": [],
        "clusterStatistics": _host_stats(runtime.stats, r.host) if runtime else [],
        "clusterErrorStats": _host_stats(runtime.errors, r.host) if runtime else [],
    }


def _query_errors(errors: list[LogEntry]) -> list[dict[str, Any]]:
    """A query's failed records as ksqlDB's QueryError: a bad record is the user's error."""
    return [
        {"timestamp": e.time_ms, "errorMessage": f"{e.kind}: {e.message}", "type": "USER"}
        for e in errors
    ]


def _property_scope(name: str) -> str:
    """Where ksqlDB says a property applies: KSQL, or STREAMS for Kafka Streams' settings."""
    return "STREAMS" if name.startswith("ksql.streams.") else "KSQL"


def entity(result: R.Result, lookup: SourceLookup, sequence: int) -> dict[str, Any]:
    """One statement's result as the entity /ksql returns for it."""
    body = _entity_body(result, lookup, sequence)
    return {**body, "statementText": statement_text(result.statement), "warnings": []}


def _entity_body(result: R.Result, lookup: SourceLookup, sequence: int) -> dict[str, Any]:
    if isinstance(result, R.Entity):
        return dict(result.body)
    if isinstance(result, R.CommandStatus):
        return {
            "@type": "currentStatus",
            "commandId": result.command_id or f"command/{sequence}",
            "commandStatus": {
                "status": "SUCCESS",
                "message": result.message,
                "queryId": result.query_id,
            },
            "commandSequenceNumber": sequence,
        }
    if isinstance(result, R.SourceList):
        key = "streams" if result.kind == "STREAM" else "tables"
        return {
            "@type": key,
            key: [
                {
                    "type": s.kind,
                    "name": s.name,
                    "topic": s.topic,
                    "keyFormat": s.key_format,
                    "valueFormat": s.value_format,
                    "isWindowed": s.windowed,
                }
                for s in result.sources
            ],
        }
    if isinstance(result, R.QueryList):
        return {
            "@type": "queries",
            "queries": [_running_query(q, lookup) for q in result.queries],
        }
    if isinstance(result, R.SourceDescriptionResult):
        return {
            "@type": "sourceDescription",
            "sourceDescription": _source_description(result, lookup),
        }
    if isinstance(result, R.SourceDescriptionList):
        return {
            "@type": "source_descriptions",
            "sourceDescriptions": [_source_description(d, lookup) for d in result.descriptions],
        }
    if isinstance(result, R.TopicList):
        if result.consumer_groups is not None:
            groups = result.consumer_groups
            return {
                "@type": "kafka_topics_extended",
                "topics": [
                    {
                        "name": n,
                        "replicaInfo": [1] * p,
                        "consumerCount": groups.get(n, 0),
                        "consumerGroupCount": groups.get(n, 0),
                    }
                    for n, p in result.topics
                ],
            }
        return {
            "@type": "kafka_topics",
            "topics": [{"name": n, "replicaInfo": [1] * p} for n, p in result.topics],
        }
    if isinstance(result, R.PropertyList):
        return {
            "@type": "properties",
            "properties": [
                {"name": k, "scope": _property_scope(k), "value": v}
                for k, v in result.properties.items()
            ],
            "overwrittenProperties": result.overwritten,
            "defaultProperties": result.defaults,
        }
    if isinstance(result, R.FunctionList):
        return {
            "@type": "function_names",
            "functions": [
                {"name": n, "type": kind, "category": cat} for n, kind, cat in result.functions
            ],
        }
    if isinstance(result, R.FunctionDescription):
        return {
            "@type": "describe_function",
            "name": result.name,
            "description": result.description,
            "author": result.author,
            "version": result.version,
            "path": result.path,
            "type": result.kind,
            "functions": [
                {
                    "arguments": [
                        {"name": "", "type": params, "description": "", "isVariadic": False}
                    ]
                    if params
                    else [],
                    "returnType": returns,
                    "description": description,
                }
                for params, returns, description in result.signatures
            ],
        }
    if isinstance(result, R.TypeList):
        return {
            "@type": "type_list",
            "types": {
                name: {"type": text, "fields": None, "memberSchema": None}
                for name, text in result.types.items()
            },
        }
    if isinstance(result, R.VariableList):
        return {
            "@type": "variables",
            "variables": [{"name": k, "value": v} for k, v in result.variables.items()],
        }
    if isinstance(result, R.ExplainResult):
        runtime = result.runtime
        return {
            "@type": "queryDescription",
            "queryDescription": {
                "id": result.query_id or "",
                "statementText": result.sql,
                "windowType": None,
                "fields": [],
                "sources": result.sources,
                "sinks": result.sinks,
                "topology": result.topology,
                "executionPlan": result.plan,
                "overriddenProperties": {},
                "ksqlHostQueryStatus": {result.host: result.state} if result.state else {},
                "queryType": result.query_type,
                "queryErrors": _query_errors(result.errors),
                "tasksMetadata": [],
                "state": result.state,
                "statistics": runtime.statistics if runtime else "",
                "errorStats": runtime.error_stats if runtime else "",
            },
        }
    if isinstance(result, R.Warning):
        return {"@type": "warning_entity", "message": result.message}
    if isinstance(result, R.AssertTopicResult):
        return {"@type": "assert_topic", "topicName": result.topic, "exists": result.exists}
    if isinstance(result, R.AssertSchemaResult):
        return {
            "@type": "assert_schema",
            "subject": result.subject,
            "id": result.schema_id,
            "exists": result.exists,
        }
    raise TypeError(f"no REST entity for {type(result).__name__}")
