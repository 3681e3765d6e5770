"""Whether CREATE OR REPLACE may upgrade a stream or table, and its query, in place, as
ksqlDB decides it: the source keeps its kind, topic, formats and timestamp column, its key
columns, and every value column where it was (new ones only at the end); the query keeps the
shape whose state and offsets the new one goes on from (no joins, no windowed or table
aggregation; a stream aggregation keeps its grouping and aggregate calls)."""

from __future__ import annotations

from planner.builder import QueryPlan
from sqlengine import catalog as C
from sqlengine import types as T

_JOIN_STEPS = {
    "STREAM_STREAM": "StreamStreamJoin",
    "STREAM_TABLE": "StreamTableJoin",
    "TABLE_TABLE": "TableTableJoin",
    "FOREIGN_KEY": "ForeignKeyTableTableJoin",
}
_KINDS = {"STREAM": "KSTREAM", "TABLE": "KTABLE"}


def source_upgrade_problem(old: C.DataSource, new: C.DataSource) -> str | None:
    """ksqlDB's reasons `old` cannot become `new` (joined by "AND"), or None."""
    properties = [
        ("type", _KINDS[old.kind], _KINDS[new.kind]),
        ("topic", _topic_text(old), _topic_text(new)),
        ("serdeOptions", _serde_text(old), _serde_text(new)),
        ("timestampColumn", _timestamp_text(old), _timestamp_text(new)),
    ]
    issues = [
        _not_upgradeable(old, name, before, after)
        for name, before, after in properties
        if before != after
    ]
    schema = _schema_problem(old, new)
    if schema is not None:
        before, after = _schema_text(old.columns), _schema_text(new.columns)
        issues.append(f"{_not_upgradeable(old, 'schema', before, after)}. ({schema})")
    return "\n\tAND ".join(issues) or None


def query_upgrade_problem(old: QueryPlan, new: QueryPlan) -> str | None:
    """Why the running query `old` cannot be replaced in place by `new`, or None."""
    for plan in (new, old):
        if plan.join is not None:
            return f"Upgrades not yet supported for {_JOIN_STEPS[plan.join.steps[-1].shape]}"
    for plan in (new, old):
        aggregation = plan.aggregation
        if aggregation is not None and aggregation.window is not None:
            return "Upgrades not yet supported for StreamWindowedAggregate"
        if aggregation is not None and plan.source.kind == "TABLE":
            return "Upgrades not yet supported for TableAggregate"
    if old.source.name != new.source.name:
        step = "StreamSource" if old.source.kind == "STREAM" else "TableSource"
        return _must_match(step, "sourceName", old.source.name, new.source.name)
    if (old.aggregation is None) != (new.aggregation is None):
        step = "StreamAggregate" if new.aggregation is not None else "StreamSelect"
        return f"Upgrades not yet supported for {step}"
    if old.aggregation is not None and new.aggregation is not None:
        old_keys = [str(k.expr) for k in old.aggregation.keys]
        new_keys = [str(k.expr) for k in new.aggregation.keys]
        if old_keys != new_keys:
            return _must_match("StreamGroupBy", "groupByExpressions", old_keys, new_keys)
        old_calls = [str(c.call) for c in old.aggregation.calls]
        new_calls = [str(c.call) for c in new.aggregation.calls]
        if old_calls != new_calls:
            return _must_match("StreamAggregate", "aggregationFunctions", old_calls, new_calls)
    return None


def _must_match(step: str, name: str, before: object, after: object) -> str:
    return (
        f"Query is not upgradeable. Plan step of type {step} must have matching {name}. "
        f"Values differ: {before} vs. {after}"
    )


def _not_upgradeable(source: C.DataSource, name: str, before: str, after: str) -> str:
    return f"DataSource '`{source.name}`' has {name} = {before} which is not upgradeable to {after}"


def _schema_problem(old: C.DataSource, new: C.DataSource) -> str | None:
    """Keys must be identical; every old column must stay, with its type and position."""
    if _positioned(old.key_columns) != _positioned(new.key_columns):
        return "Key columns must be identical."
    kept = _positioned(new.columns)
    lost = [column for column in _positioned(old.columns) if column not in kept]
    if lost:
        listed = ", ".join(_column_text(c) for _, c in lost)
        return f"The following columns are changed, missing or reordered: [{listed}]"
    return None


def _positioned(columns: list[C.SourceColumn]) -> list[tuple[int, C.SourceColumn]]:
    """Columns with their position among those of their kind (keys, values)."""
    seen: dict[str, int] = {}
    positioned = []
    for column in columns:
        positioned.append((seen.get(column.kind, 0), column))
        seen[column.kind] = seen.get(column.kind, 0) + 1
    return positioned


def _column_text(column: C.SourceColumn) -> str:
    suffix = " KEY" if column.kind == C.KEY else ""
    return f"`{column.name}` {T.long_name(column.type)}{suffix}"


def _schema_text(columns: list[C.SourceColumn]) -> str:
    return ", ".join(_column_text(c) for c in columns)


def _topic_text(source: C.DataSource) -> str:
    return f"{source.topic} ({source.key_format.name}, {source.value_format.name})"


def _serde_text(source: C.DataSource) -> str:
    return str(sorted({*source.key_features, *source.value_features}))


def _timestamp_text(source: C.DataSource) -> str:
    return source.timestamp_column or "Optional.empty"
