"""Transient push queries: `SELECT ... EMIT CHANGES` over a stream or table, read from the
source topic as it grows, from the latest or the earliest offsets (`auto.offset.reset`).

    query = engine.open_push_query(stmt, {"auto.offset.reset": "earliest"})
    for row in query:            # or: query.poll(timeout) in a loop
        print(row.columns)
    query.close()

A push query holds no state beyond its read positions: closing it (or dropping it) frees
everything. `poll` blocks in the log's `wait_for_data`, never spinning, so callers run it on a
worker thread.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from grammar import ast
from planner.builder import QueryPlan
from sqlengine import types as T
from sqlengine.flatmap import projection_stage
from sqlengine.log.base import Log
from sqlengine.processing_log import ProcessingLog
from sqlengine.runtime import SourceDecoder
from sqlengine.schema_registry import SchemaRegistry

OFFSET_RESET_PROPERTIES = ("auto.offset.reset", "ksql.streams.auto.offset.reset")
LIMIT_REACHED = "Limit Reached"


@dataclass(frozen=True)
class QueryColumn:
    name: str
    type: T.SqlType
    is_key: bool


@dataclass(frozen=True)
class PushRow:
    """One change: the projected columns; a table tombstone carries only its key columns."""

    columns: list[Any]
    tombstone: bool = False


def select_positions(plan: QueryPlan) -> list[int]:
    """Where each column, in SELECT order, sits among the plan's outputs (keys first)."""
    index = {o.name: i for i, o in enumerate(plan.outputs)}
    return [index[name] for name in plan.select_order] or list(range(len(plan.outputs)))


def query_columns(plan: QueryPlan) -> list[QueryColumn]:
    """The result columns of a transient query, in SELECT order."""
    outputs = [plan.outputs[i] for i in select_positions(plan)]
    return [QueryColumn(o.name, o.type, o.is_key) for o in outputs]


def offset_reset(config: dict[str, str]) -> str:
    """`earliest` or `latest` (the default), as the query's properties ask."""
    for name in OFFSET_RESET_PROPERTIES:
        if name in config:
            return config[name].strip().lower()
    return "latest"


class PushQuery:
    def __init__(
        self,
        plan: QueryPlan,
        limit: int | None,
        log: Log,
        plog: ProcessingLog,
        from_beginning: bool,
        registry: SchemaRegistry | None = None,
    ) -> None:
        source = plan.source
        # ksqlDB names a query reading a persistent query's output from latest scalable.
        scalable = source.created_by_query is not None and not from_beginning
        prefix = "SCALABLE_PUSH_QUERY" if scalable else "transient"
        self.query_id = f"{prefix}_{source.name}_{random.getrandbits(62)}"
        self.columns = query_columns(plan)
        self.limit = limit
        self.log = log
        self.plog = plog
        self.topic = source.topic
        self.decoder = SourceDecoder(source, plog, registry=registry)
        self.stage = projection_stage(plan, self._on_error)
        self.order = select_positions(plan)
        key_names = [c.name for c in source.key_columns]
        # Where each output column of a tombstone comes from: a key of the record, or null.
        self.tombstone_keys = [
            key_names.index(o.expr.name)
            if o.is_key and isinstance(o.expr, ast.ColumnRef) and o.expr.name in key_names
            else None
            for o in (plan.outputs[i] for i in self.order)
        ]
        info = log.topic(source.topic)
        partitions = info.partitions if info else 0
        first = log.start_offset if from_beginning else log.end_offset
        self.positions = {p: first(source.topic, p) for p in range(partitions)}
        self.emitted = 0
        self.closed = False

    @property
    def done(self) -> bool:
        """Closed, or LIMIT rows emitted: poll returns nothing more."""
        return self.closed or (self.limit is not None and self.emitted >= self.limit)

    def _on_error(self, exc: Exception, row: Sequence[Any]) -> None:
        self.plog.record_error(self.topic, row[1], row[2], exc)

    def poll(self, timeout: float) -> list[PushRow]:
        """The changes available now; if none, waits up to `timeout` seconds for some."""
        if self.done:
            return []
        rows = self._read()
        if not rows and timeout > 0:
            waiting = {(self.topic, p): o for p, o in self.positions.items()}
            if self.log.wait_for_data(waiting, timeout) and not self.closed:
                rows = self._read()
        return rows

    def __iter__(self) -> Iterator[PushRow]:
        while not self.done:
            yield from self.poll(0.25)

    def close(self) -> None:
        self.closed = True

    def _read(self) -> list[PushRow]:
        out: list[PushRow] = []
        for partition, offset in self.positions.items():
            batch = self.log.read(self.topic, partition, offset)
            if not len(batch):
                continue
            self.positions[partition] = batch.next_offset
            out.extend(self._process(self.decoder.decode(batch)))
        if self.limit is not None:
            out = out[: self.limit - self.emitted]
        self.emitted += len(out)
        return out

    def _process(self, decoded: list[tuple[tuple[Any, ...], bool]]) -> list[PushRow]:
        """Data rows go through the compiled stage in runs; a tombstone between them keeps
        its place, as the key columns it has and nulls."""
        out: list[PushRow] = []
        run: list[tuple[Any, ...]] = []
        for row, is_tombstone in decoded:
            if not is_tombstone:
                run.append(row)
                continue
            out.extend(self._projected(run))
            run = []
            keys = row[3:-1]
            out.append(PushRow([None if i is None else keys[i] for i in self.tombstone_keys], True))
        out.extend(self._projected(run))
        return out

    def _projected(self, rows: list[tuple[Any, ...]]) -> list[PushRow]:
        if not rows:
            return []
        order = [1 + i for i in self.order]  # after ROWTIME
        return [PushRow([r[i] for i in order]) for r in self.stage(rows)]
