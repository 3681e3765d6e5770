"""DDL: sources declared by CREATE STREAM/TABLE and sinks of CREATE ... AS SELECT.

Turns the WITH clause into formats, topics and timestamp settings, applying ksqlDB's
defaults and checks (its messages are what users and the conformance suite expect).
"""

from __future__ import annotations

from grammar import ast
from planner.errors import PlanError
from planner.logical import SinkSpec
from sqlengine import catalog as C
from sqlengine import serde
from sqlengine import types as T
from sqlengine.log.base import Log

KNOWN_PROPERTIES = frozenset(
    {
        "KAFKA_TOPIC",
        "VALUE_FORMAT",
        "KEY_FORMAT",
        "FORMAT",
        "PARTITIONS",
        "REPLICAS",
        "TIMESTAMP",
        "TIMESTAMP_FORMAT",
        "WRAP_SINGLE_VALUE",
        "VALUE_DELIMITER",
        "KEY_DELIMITER",
        "WINDOW_TYPE",
        "WINDOW_SIZE",
        "KEY_SCHEMA_ID",
        "VALUE_SCHEMA_ID",
        "KEY_SCHEMA_FULL_NAME",
        "VALUE_SCHEMA_FULL_NAME",
        "VALUE_AVRO_SCHEMA_FULL_NAME",
        "RETENTION_MS",
        "CLEANUP_POLICY",
        "SOURCE_CONNECTOR",
    }
)

_DELIMITER_NAMES = {"TAB": "\t", "SPACE": " "}


def props_of(properties: dict[str, ast.Literal]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, lit in properties.items():
        key = name.upper()
        if key not in KNOWN_PROPERTIES:
            raise PlanError(f"Invalid config variable(s) in the WITH clause: {key}")
        out[key] = lit.value
    return out


def _delimiter(props: dict[str, object], name: str) -> tuple[tuple[str, str], ...]:
    raw = props.get(name)
    if raw is None:
        return ()
    text = str(raw)
    if text == "":
        raise PlanError(
            f"Failed to prepare statement: Configuration {name} is invalid: Delimiter cannot be "
            "empty, if you meant to have a tab or space for delimiter, please use the special "
            "values 'TAB' or 'SPACE'\nExample valid value: ';'"
        )
    text = _DELIMITER_NAMES.get(text.upper(), text)
    if len(text) != 1:
        raise PlanError(
            f"Failed to prepare statement: Configuration {name} is invalid: Invalid delimiter "
            f"value: '{raw}'. Delimiter must be a single character or TAB or SPACE"
        )
    return (("delimiter", text),)


def formats_of(
    props: dict[str, object],
    config: dict[str, str],
    default_key: C.Format | None,
    default_value: C.Format | None,
) -> tuple[C.Format, C.Format]:
    both = props.get("FORMAT")
    key_name = props.get("KEY_FORMAT") or both
    value_name = props.get("VALUE_FORMAT") or both
    if both is not None and (props.get("KEY_FORMAT") or props.get("VALUE_FORMAT")):
        raise PlanError(
            "Cannot supply both 'KEY_FORMAT' and 'FORMAT' properties, as 'FORMAT' sets both "
            "key and value formats.\nEither use just 'FORMAT', or use 'KEY_FORMAT' and "
            "'VALUE_FORMAT'."
        )
    if key_name is None:
        key = default_key or C.Format(config.get("ksql.persistence.default.format.key", "KAFKA"))
    else:
        key = C.Format(str(key_name).upper())
    if value_name is None:
        configured = config.get("ksql.persistence.default.format.value")
        if default_value is not None:
            value = default_value
        elif configured:
            value = C.Format(configured.upper())
        else:
            raise PlanError(
                "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either "
                "provide one or set a default via the 'ksql.persistence.default.format.value' "
                "config."
            )
    else:
        value = C.Format(str(value_name).upper())
    key = C.Format(key.name, _delimiter(props, "KEY_DELIMITER") or key.properties)
    value = C.Format(value.name, _delimiter(props, "VALUE_DELIMITER") or value.properties)
    for fmt in (key, value):
        serde.format_name(fmt.name)
    return key, value


def check_formats(
    kind: str,
    columns: list[C.SourceColumn],
    key: C.Format,
    value: C.Format,
    wrap_single: bool | None,
    key_format_given: bool,
) -> None:
    keys = [(c.name, c.type) for c in columns if c.kind == C.KEY]
    values = [(c.name, c.type) for c in columns if c.kind == C.VALUE]
    if kind == "STREAM" and not keys and key_format_given and key.name != "NONE":
        raise PlanError("Key format specified for stream without key columns.")
    try:
        serde.check_format(key.name, keys, is_key=True, wrap_single=None)
    except serde.SerdeError as exc:
        schema = ", ".join(f"`{n}` {_persist_type(t)} KEY" for n, t in keys)
        raise PlanError(
            f"Key format does not support schema.\nformat: {key.name}\n"
            f"schema: Persistence{{columns=[{schema}], features=[]}}\nreason: {exc}"
        ) from exc
    try:
        serde.check_format(value.name, values, is_key=False, wrap_single=wrap_single)
    except serde.SerdeError as exc:
        raise PlanError(str(exc)) from exc


def _persist_type(t: T.SqlType) -> str:
    return "INTEGER" if t == T.INTEGER else str(t)


def wrap_single_of(props: dict[str, object], config: dict[str, str]) -> bool | None:
    if "WRAP_SINGLE_VALUE" in props:
        raw = props["WRAP_SINGLE_VALUE"]
        return raw if isinstance(raw, bool) else str(raw).lower() == "true"
    configured = config.get("ksql.persistence.wrap.single.values")
    if configured is None:
        return None
    return configured.lower() == "true"


def sink_spec(
    stmt: ast.CreateAsSelect | None,
    name: str,
    kind: str,
    source: C.DataSource,
    log: Log,
    config: dict[str, str],
) -> SinkSpec:
    props = props_of(stmt.properties) if stmt is not None else {}
    prefix = config.get("ksql.output.topic.name.prefix", "")
    topic = str(props.get("KAFKA_TOPIC") or prefix + name)
    key, value = formats_of(props, config, source.key_format, source.value_format)
    existing = log.topic(source.topic)
    partitions = int(props.get("PARTITIONS") or (existing.partitions if existing else 1))  # type: ignore[call-overload]
    return SinkSpec(
        name=name,
        kind=kind,
        topic=topic,
        key_format=key,
        value_format=value,
        partitions=partitions,
        wrap_single_value=wrap_single_of(props, config),
        timestamp_column=_ts_column(props),
        timestamp_format=_opt_str(props.get("TIMESTAMP_FORMAT")),
    )


def _ts_column(props: dict[str, object]) -> str | None:
    raw = props.get("TIMESTAMP")
    if raw is None:
        return None
    text = str(raw)
    if text.startswith("`") and text.endswith("`"):
        return text[1:-1]
    return text.upper()


def _opt_str(v: object) -> str | None:
    return None if v is None else str(v)


def declared_source(
    stmt: ast.CreateSource, catalog: C.Catalog, log: Log, config: dict[str, str]
) -> C.DataSource:
    """The DataSource a CREATE STREAM/TABLE declares; creates its topic if PARTITIONS is given."""
    props = props_of(stmt.properties)
    columns = [_column(e, catalog) for e in stmt.elements]
    columns.sort(key=lambda c: c.kind != C.KEY)
    for c in columns:
        if c.name in C.SYSTEM_COLUMN_NAMES:
            raise PlanError(
                f"'{c.name}' is a reserved column name. You cannot use it as a name for a column."
            )
    if stmt.kind == "TABLE" and not any(c.kind == C.KEY for c in columns) and columns:
        raise PlanError("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
    topic = props.get("KAFKA_TOPIC")
    if topic is None:
        raise PlanError('Missing required property "KAFKA_TOPIC" which has no default value.')
    key, value = formats_of(props, config, None, None)
    wrap = wrap_single_of(props, config)
    key_given = "KEY_FORMAT" in props or "FORMAT" in props
    check_formats(stmt.kind, columns, key, value, wrap, key_given)
    info = log.topic(str(topic))
    if info is None:
        if "PARTITIONS" not in props:
            raise PlanError(f"Kafka topic does not exist: {topic}")
        log.create_topic(str(topic), int(props["PARTITIONS"]), int(props.get("REPLICAS") or 1))  # type: ignore[call-overload]
    ts_col = _ts_column(props)
    if ts_col is not None:
        col = next((c for c in columns if c.name == ts_col), None)
        if col is None:
            raise PlanError(
                f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{ts_col}'"
            )
        ok = col.type in (T.BIGINT, T.TIMESTAMP) or (
            col.type == T.STRING and props.get("TIMESTAMP_FORMAT") is not None
        )
        if not ok:
            raise PlanError(
                f"Timestamp column, `{ts_col}`, should be LONG(INT64), TIMESTAMP, or a String "
                "with a timestamp_format specified"
            )
    return C.DataSource(
        name=stmt.name,
        kind=stmt.kind,
        columns=columns,
        topic=str(topic),
        key_format=key,
        value_format=value,
        sql=stmt.text,
        wrap_single_value=wrap,
        timestamp_column=ts_col,
        timestamp_format=_opt_str(props.get("TIMESTAMP_FORMAT")),
        is_source=stmt.is_source,
    )


def resolve_type(ref: ast.TypeRef, catalog: C.Catalog) -> T.SqlType:
    if ref.sql_type is not None:
        return ref.sql_type
    assert ref.custom_name is not None
    found = catalog.types.get(ref.custom_name.upper())
    if found is None:
        raise PlanError(f"Unknown type: {ref.custom_name}")
    return found


def _column(e: ast.TableElement, catalog: C.Catalog) -> C.SourceColumn:
    t = resolve_type(e.type, catalog)
    if e.constraint in ("KEY", "PRIMARY KEY"):
        return C.SourceColumn(e.name, t, C.KEY)
    if e.constraint == "HEADERS":
        if t != C.HEADERS_TYPE:
            raise PlanError(f"Invalid type for HEADERS column: expected {C.HEADERS_TYPE}, got {t}")
        return C.SourceColumn(e.name, t, C.HEADERS)
    if e.constraint == "HEADER":
        if t != T.BYTES:
            raise PlanError(
                f"Invalid type for HEADER('{e.header_key}') column: expected BYTES, got {t}"
            )
        return C.SourceColumn(e.name, t, C.HEADER, e.header_key)
    return C.SourceColumn(e.name, t, C.VALUE)
