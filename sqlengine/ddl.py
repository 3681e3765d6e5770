"""DDL: sources declared by CREATE STREAM/TABLE and sinks of CREATE ... AS SELECT.

Turns the WITH clause into formats, topics and timestamp settings, applying ksqlDB's
defaults and checks (its messages are what users and the conformance suite expect).
"""

from __future__ import annotations

from grammar import ast
from grammar.transform import UNIT_NAMES
from planner.aggregation import AggregationPlan
from planner.errors import PlanError
from planner.logical import SinkSpec
from sqlengine import catalog as C
from sqlengine import serde
from sqlengine import types as T
from sqlengine.log.base import Log
from sqlengine.schema_registry import SchemaRegistry
from sqlengine.serde.base import java_column_list
from sqlengine.sink import format_info

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
        "KEY_PROTOBUF_NULLABLE_REPRESENTATION",
        "VALUE_PROTOBUF_NULLABLE_REPRESENTATION",
        "RETENTION_MS",
        "CLEANUP_POLICY",
        "SOURCE_CONNECTOR",
    }
)


def props_of(properties: dict[str, ast.Literal]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, lit in properties.items():
        key = name.upper()
        if key not in KNOWN_PROPERTIES:
            raise PlanError(f"Invalid config variable(s) in the WITH clause: {key}")
        out[key] = lit.value
    return out


# WITH clause properties that become key or value format properties.
_FORMAT_PROPERTIES = {
    "KEY_DELIMITER": (True, "delimiter"),
    "VALUE_DELIMITER": (False, "delimiter"),
    "KEY_SCHEMA_FULL_NAME": (True, "fullSchemaName"),
    "VALUE_SCHEMA_FULL_NAME": (False, "fullSchemaName"),
    "VALUE_AVRO_SCHEMA_FULL_NAME": (False, "fullSchemaName"),
    "KEY_SCHEMA_ID": (True, "schemaId"),
    "VALUE_SCHEMA_ID": (False, "schemaId"),
    "KEY_PROTOBUF_NULLABLE_REPRESENTATION": (True, "nullableRepresentation"),
    "VALUE_PROTOBUF_NULLABLE_REPRESENTATION": (False, "nullableRepresentation"),
}


def _with_properties(fmt: C.Format, props: dict[str, object], is_key: bool) -> C.Format:
    """The format with the WITH clause's properties for it, kept as written (`TAB`)."""
    given = dict(fmt.properties)
    for name, (for_key, prop) in _FORMAT_PROPERTIES.items():
        raw = props.get(name)
        if raw is None or for_key != is_key:
            continue
        if prop == "delimiter":
            _check_delimiter(name, str(raw))
        given[prop] = str(raw)
    return C.Format(fmt.name, tuple(given.items()))


def _check_delimiter(name: str, raw: str) -> None:
    try:
        serde.parse_delimiter(raw)
    except serde.SerdeError as exc:
        raise PlanError(
            f"Failed to prepare statement: Configuration {name} is invalid: {exc}\n"
            "Example valid value: ';'"
        ) from exc


def _named_format(name: object, default: C.Format | None) -> C.Format | None:
    """The format a WITH clause names, else the default; naming the default's format keeps
    its properties (a sink inherits its source's delimiter)."""
    if name is None:
        return default
    upper = str(name).upper()
    return default if default is not None and upper == default.name else C.Format(upper)


def formats_of(
    props: dict[str, object],
    config: dict[str, str],
    default_key: C.Format | None,
    default_value: C.Format | None,
) -> tuple[C.Format, C.Format]:
    both = props.get("FORMAT")
    for name in ("KEY_FORMAT", "VALUE_FORMAT"):
        if both is not None and props.get(name) is not None:
            raise PlanError(
                f"Cannot supply both '{name}' and 'FORMAT' properties, as 'FORMAT' sets both "
                f"key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and "
                "'VALUE_FORMAT'."
            )
    key_name = props.get("KEY_FORMAT") or both
    value_name = props.get("VALUE_FORMAT") or both
    configured_key = config.get("ksql.persistence.default.format.key", "KAFKA")
    key = _named_format(key_name, default_key or C.Format(configured_key.upper()))
    configured_value = config.get("ksql.persistence.default.format.value")
    if default_value is None and configured_value:
        default_value = C.Format(configured_value.upper())
    value = _named_format(value_name, default_value)
    if value is None:
        raise PlanError(
            "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either "
            "provide one or set a default via the 'ksql.persistence.default.format.value' "
            "config."
        )
    assert key is not None
    key = _with_properties(key, props, is_key=True)
    value = _with_properties(value, props, is_key=False)
    for side, fmt in (("KEY", key), ("VALUE", value)):
        if fmt.prop("schemaId") is not None and fmt.name not in serde.SR_FORMATS:
            raise PlanError(
                f"{side}_FORMAT should support schema inference when {side}_SCHEMA_ID is "
                f"provided. Current format is {fmt.name}."
            )
    for fmt in (key, value):
        serde.check_properties(format_info(fmt))
    return key, value


def check_formats(
    columns: list[C.SourceColumn],
    key: C.Format,
    value: C.Format,
    wrap_single: bool | None,
) -> None:
    keys = [(c.name, c.type) for c in columns if c.kind == C.KEY]
    values = [(c.name, c.type) for c in columns if c.kind == C.VALUE]
    try:
        # The format's refusal states the format, the schema and the reason already.
        serde.check_format(key.name, keys, is_key=True, wrap_single=None)
        serde.check_format(value.name, values, is_key=False, wrap_single=wrap_single)
    except serde.SerdeError as exc:
        raise PlanError(str(exc)) from exc


def wrap_single_of(
    props: dict[str, object], config: dict[str, str], value_count: int
) -> bool | None:
    """WRAP_SINGLE_VALUE as given in the WITH clause (checked against the schema later), else
    ksql.persistence.wrap.single.values, which only concerns single-column values."""
    if "WRAP_SINGLE_VALUE" in props:
        raw = props["WRAP_SINGLE_VALUE"]
        return raw if isinstance(raw, bool) else str(raw).lower() == "true"
    configured = config.get("ksql.persistence.wrap.single.values")
    if configured is None or value_count != 1:
        return None
    return configured.lower() == "true"


def check_sink_schema_id(
    columns: list[C.SourceColumn], value: C.Format, registry: SchemaRegistry | None
) -> None:
    """A query writing with VALUE_SCHEMA_ID: each of its value columns must be the registered
    schema's field at the same place, with the same name and type (the schema may have more
    fields after them), as ksqlDB checks it."""
    schema_id = dict(value.properties).get("schemaId")
    if schema_id is None or registry is None:
        return
    registered = registry.by_id(int(schema_id))
    if registered is None:
        raise PlanError(f"Schema id {schema_id} does not exist in the Schema Registry")
    full_name = dict(value.properties).get("fullSchemaName")
    physical = serde.parse_registered(registered, registry, full_name).sql_type()
    if not isinstance(physical, T.Struct):
        return  # a single unwrapped value: the format's own checks apply
    fields = [(f.name, f.type) for f in physical.fields]
    values = [(c.name, c.type) for c in columns if c.kind == C.VALUE]
    changed = [column for i, column in enumerate(values) if i >= len(fields) or fields[i] != column]
    if changed:
        raise PlanError(
            "The following value columns are changed, missing or reordered: "
            f"{java_column_list(changed, is_key=False)}. Schema from schema registry is "
            f"{java_column_list(fields, is_key=False)}"
        )


def _without_schema_id(fmt: C.Format) -> C.Format:
    return C.Format(fmt.name, tuple((k, v) for k, v in fmt.properties if k != "schemaId"))


def sink_spec(
    stmt: ast.CreateAsSelect | None,
    name: str,
    kind: str,
    source: C.DataSource,
    value_count: int,
    log: Log,
    config: dict[str, str],
) -> SinkSpec:
    props = props_of(stmt.properties) if stmt is not None else {}
    prefix = config.get("ksql.output.topic.name.prefix", "")
    topic = str(props.get("KAFKA_TOPIC") or prefix + name)
    # A sink writes its own schema: the source's schema id is not inherited.
    key, value = formats_of(
        props,
        config,
        _without_schema_id(source.key_format),
        _without_schema_id(source.value_format),
    )
    existing = log.topic(source.topic)
    partitions = int(props.get("PARTITIONS") or (existing.partitions if existing else 1))  # type: ignore[call-overload]
    return SinkSpec(
        name=name,
        kind=kind,
        topic=topic,
        key_format=key,
        value_format=value,
        partitions=partitions,
        wrap_single_value=wrap_single_of(props, config, value_count),
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


def _inferred_columns(
    columns: list[C.SourceColumn],
    fmt: C.Format,
    topic: str,
    registry: SchemaRegistry | None,
    *,
    is_key: bool,
    wrap_single: bool = True,
) -> list[C.SourceColumn]:
    """The key or value columns of a CREATE: those declared, else (for a Schema Registry
    format) those of the registered schema; KEY/VALUE_SCHEMA_ID requires inference."""
    kind = C.KEY if is_key else C.VALUE
    declared = [c for c in columns if c.kind == kind]
    side = "KEY" if is_key else "VALUE"
    given_id = fmt.prop("schemaId") is not None
    if given_id and declared:
        raise PlanError(
            f"Table elements and {side}_SCHEMA_ID cannot both exist for create statement."
        )
    if declared or fmt.name not in serde.SR_FORMATS:
        return declared
    subject = serde.subject_of(topic, is_key=is_key)
    if is_key and not given_id and (registry is None or registry.latest(subject) is None):
        return []  # no key schema registered: a stream without key columns
    try:
        inferred = serde.inferred_columns(
            format_info(fmt), registry, topic, is_key=is_key, wrap_single=wrap_single
        )
    except serde.SerdeError as exc:
        raise PlanError(str(exc)) from exc
    return [C.SourceColumn(name, t, kind) for name, t in inferred]


def declared_source(
    stmt: ast.CreateSource,
    catalog: C.Catalog,
    log: Log,
    config: dict[str, str],
    registry: SchemaRegistry | None = None,
) -> C.DataSource:
    """The DataSource a CREATE STREAM/TABLE declares; creates its topic if PARTITIONS is given.

    Key or value columns not declared are inferred from the Schema Registry (`registry`).
    """
    props = props_of(stmt.properties)
    columns = [_column(e, catalog) for e in stmt.elements]
    columns.sort(key=lambda c: c.kind != C.KEY)
    for c in columns:
        if c.name in C.SYSTEM_COLUMN_NAMES:
            raise PlanError(
                f"'{c.name}' is a reserved column name. You cannot use it as a name for a column."
            )
    topic = props.get("KAFKA_TOPIC")
    if topic is None:
        raise PlanError('Missing required property "KAFKA_TOPIC" which has no default value.')
    key, value = formats_of(props, config, None, None)
    keys = _inferred_columns(columns, key, str(topic), registry, is_key=True)
    wrapped = wrap_single_of(props, config, 1) is not False
    values = _inferred_columns(
        columns, value, str(topic), registry, is_key=False, wrap_single=wrapped
    )
    # Declared values and headers keep their order; inferred values come before headers.
    body = [c for c in columns if c.kind != C.KEY]
    columns = keys + (body if any(c.kind == C.VALUE for c in body) else values + body)
    if stmt.kind == "TABLE" and not any(c.kind == C.KEY for c in columns) and columns:
        raise PlanError("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
    if not columns:
        raise PlanError("No columns supplied.")
    window = _window_of(props)
    if window is not None and not any(c.kind == C.KEY for c in columns):
        raise PlanError("Windowed sources require a key column.")
    wrap = wrap_single_of(props, config, sum(c.kind == C.VALUE for c in columns))
    check_formats(columns, key, value, wrap)
    info = log.topic(str(topic))
    if info is None:
        if "PARTITIONS" not in props:
            raise PlanError(f"Kafka topic does not exist: {topic}")
        log.create_topic(str(topic), int(props["PARTITIONS"]), int(props.get("REPLICAS") or 1))  # type: ignore[call-overload]
    ts_col = _ts_column(props)
    ts_format = _opt_str(props.get("TIMESTAMP_FORMAT"))
    check_timestamp_column([(c.name, c.type) for c in columns], ts_col, ts_format)
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
        timestamp_format=ts_format,
        is_source=stmt.is_source,
        window=window,
    )


def check_timestamp_column(
    columns: list[tuple[str, T.SqlType]], ts_col: str | None, ts_format: str | None
) -> None:
    """The WITH clause's TIMESTAMP column must exist and hold a time (or formatted text)."""
    if ts_col is None:
        return
    col_type = next((t for n, t in columns if n == ts_col), None)
    if col_type is None:
        raise PlanError(
            f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{ts_col}'"
        )
    if not (col_type in (T.BIGINT, T.TIMESTAMP) or (col_type == T.STRING and ts_format)):
        raise PlanError(
            f"Timestamp column, `{ts_col}`, should be LONG(INT64), TIMESTAMP, or a String "
            "with a timestamp_format specified"
        )


def _window_of(props: dict[str, object]) -> C.WindowInfo | None:
    """WINDOW_TYPE / WINDOW_SIZE of a windowed source (the parser has validated them)."""
    kind = props.get("WINDOW_TYPE")
    if kind is None:
        return None
    size = props.get("WINDOW_SIZE")
    if size is None:
        return C.WindowInfo(str(kind).upper())
    amount, unit = str(size).split()
    unit = unit.upper()
    duration = ast.Duration(int(amount), UNIT_NAMES.get(unit, unit.rstrip("S")))
    return C.WindowInfo(str(kind).upper(), duration.millis)


def resolve_type(ref: ast.TypeRef, catalog: C.Catalog) -> T.SqlType:
    """A type as written, with the catalog's types for the custom types it names."""

    def custom(name: str) -> T.SqlType:
        found = catalog.types.get(name.upper())
        if found is None:
            raise PlanError(f"Unknown type: {name}")
        return found

    if ref.sql_type is None:
        assert ref.custom_name is not None
        return custom(ref.custom_name)
    return T.resolve_custom(ref.sql_type, custom)


def _column(e: ast.TableElement, catalog: C.Catalog) -> C.SourceColumn:
    t = resolve_type(e.type, catalog)
    if e.constraint in ("KEY", "PRIMARY KEY"):
        return C.SourceColumn(e.name, t, C.KEY)
    if e.constraint == "HEADERS":
        if t != C.HEADERS_TYPE:
            raise PlanError(
                f"Invalid type for HEADERS column: expected {C.HEADERS_TYPE}, got {T.long_name(t)}"
            )
        return C.SourceColumn(e.name, t, C.HEADERS)
    if e.constraint == "HEADER":
        if t != T.BYTES:
            raise PlanError(
                f"Invalid type for HEADER('{e.header_key}') column: expected BYTES, "
                f"got {T.long_name(t)}"
            )
        return C.SourceColumn(e.name, t, C.HEADER, e.header_key)
    return C.SourceColumn(e.name, t, C.VALUE)


def check_intermediate_types(agg: AggregationPlan, value_format: C.Format) -> None:
    """Aggregation state travels in the value format: it must be able to carry it."""
    state = [
        (c.column, c.aggregator.intermediate_type or c.aggregator.return_type) for c in agg.calls
    ]
    try:
        serde.check_format(value_format.name, state, is_key=False, wrap_single=None)
    except serde.SerdeError as exc:
        raise PlanError(
            "One of the functions used in the statement has an intermediate type that the "
            "value format can not handle. Please remove the function or change the format."
        ) from exc
