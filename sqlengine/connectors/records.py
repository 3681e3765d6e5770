"""What a sink connector reads: the records of its topics from where it stopped, as column
values decoded with the formats of the stream or table over the topic (else the key as text
and the value as JSON)."""

from __future__ import annotations

from typing import Any

import orjson

from sqlengine import serde
from sqlengine.connectors.base import ConnectorContext
from sqlengine.log.base import Record
from sqlengine.sink import format_info

BATCH = 1000


def unread(context: ConnectorContext, topic: str) -> list[Record]:
    """The records of `topic` after the context's saved offsets (which it then advances)."""
    info = context.log.topic(topic)
    if info is None:
        return []
    records: list[Record] = []
    for partition in range(info.partitions):
        key = f"{topic}/{partition}"
        batch = context.log.read(topic, partition, int(context.offsets.get(key, 0)), BATCH)
        if len(batch):
            records.extend(batch.records())
            context.offsets[key] = batch.next_offset
    return records


def decoded(
    context: ConnectorContext, record: Record
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(key columns, value columns or None for a tombstone)."""
    source = context.source_for_topic(record.topic) if context.source_for_topic else None
    if source is None:
        key = {"__connect_key": None if record.key is None else record.key.decode(errors="replace")}
        if record.value is None:
            return key, None
        try:
            value = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            value = record.value.decode(errors="replace")
        return key, value if isinstance(value, dict) else {"value": value}
    sides = []
    for columns, raw, fmt, is_key in (
        (source.key_columns, record.key, source.key_format, True),
        (source.value_columns, record.value, source.value_format, False),
    ):
        cols = [(c.name, c.type) for c in columns]
        if raw is None or not cols:
            sides.append(None if raw is None and not is_key else {})
            continue
        values = serde.make_deserializer(
            format_info(fmt),
            cols,
            is_key=is_key,
            topic=record.topic,
            registry=context.schema_registry,
        )(raw)
        sides.append(
            None if values is None else dict(zip([n for n, _ in cols], values, strict=True))
        )
    return sides[0] or {}, sides[1]


def column_types(context: ConnectorContext, topic: str) -> dict[str, str]:
    """The SQL type names of a topic's columns, when a stream or table is over it."""
    source = context.source_for_topic(topic) if context.source_for_topic else None
    if source is None:
        return {}
    return {c.name: str(c.type) for c in source.key_columns + source.value_columns}
