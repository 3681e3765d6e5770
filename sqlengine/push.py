"""Transient push queries: `SELECT ... EMIT CHANGES`, read from the source topics as they
grow, from the latest or the earliest offsets (`auto.offset.reset`).

    query = engine.open_push_query(stmt, {"auto.offset.reset": "earliest"})
    for row in query:            # or: query.poll(timeout) in a loop
        print(row.columns)
    query.close()

A caller on an event loop asks to be told when rows may be there (`notify_when_ready`) and
takes them without blocking (`take_ready`) while the query's shared reader hands it its rows,
so that 100 open queries cost no thread each; it polls on a worker thread otherwise.

A projection over one source holds no state beyond its read positions. A GROUP BY or a join
runs the persistent query's runtime (`query.build_query`) with its state in memory and its
results handed to the push query instead of a sink topic. Closing a query (or dropping it)
frees everything. `poll` blocks in the log's `wait_for_data`, never spinning, so callers run
it on a worker thread.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from grammar import ast
from grammar.rewrite import walk
from planner.builder import OutputColumn, QueryPlan
from planner.table_functions import FlatMapNode
from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.flatmap import projection_stage
from sqlengine.functions.registry import REGISTRY
from sqlengine.log.base import Log
from sqlengine.processing_log import ProcessingLog
from sqlengine.push_feed import SourceFeeds, Subscription, key_route
from sqlengine.query import build_query
from sqlengine.runtime import QueryContext, SourceDecoder
from sqlengine.schema_registry import SchemaRegistry

OFFSET_RESET_PROPERTIES = ("auto.offset.reset", "ksql.streams.auto.offset.reset")
LIMIT_REACHED = "Limit Reached"
WINDOW_BOUNDS = [C.WINDOWSTART, C.WINDOWEND]


@dataclass(frozen=True)
class QueryColumn:
    name: str
    type: T.SqlType
    is_key: bool


class PushRow(NamedTuple):
    """One change: the projected columns; a table tombstone carries only its key columns.
    (A named tuple: one is made per row a query emits, and a frozen dataclass's __init__
    costs several times as much.)"""

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


def open_push_query(
    plan: QueryPlan,
    limit: int | None,
    log: Log,
    plog: ProcessingLog,
    registry: SchemaRegistry | None,
    config: dict[str, str],
    feeds: SourceFeeds | None = None,
) -> PushQuery:
    """A push query for a plan, with the settings in `config` (server and query properties);
    a projection shares the reading of its source with the others on it through `feeds`."""
    ctx = QueryContext.of(log, plog, registry, config)
    ctx = dataclasses.replace(ctx, transient_start=offset_reset(config))
    if plan.aggregation is None and plan.join is None:
        return ProjectionPushQuery(plan, limit, ctx, feeds)
    return RuntimePushQuery(plan, limit, ctx)


def runs_user_code(plan: QueryPlan) -> bool:
    """Whether the query's WHERE, SELECT or table functions call a function loaded from an
    extension directory (`sqlengine.udf`), which may take any time: such a query's rows are
    computed on a worker thread, never on the server's event loop."""
    exprs = [o.expr for o in plan.outputs]
    if plan.where is not None:
        exprs.append(plan.where)
    node = plan.root.input  # type: ignore[attr-defined]
    if isinstance(node, FlatMapNode):
        exprs += [c.call for c in node.calls]
    user = REGISTRY.origins
    return any(
        isinstance(n, ast.FunctionCall) and n.name.upper() in user for e in exprs for n in walk(e)
    )


def _reads(output: OutputColumn, names: list[str]) -> int | None:
    """Which of `names` the output column is a plain reference to, if any."""
    expr = output.expr
    return (
        names.index(expr.name) if isinstance(expr, ast.ColumnRef) and expr.name in names else None
    )


class PushQuery:
    """What every push query does: LIMIT, polling, closing. Subclasses read the changes."""

    def __init__(self, plan: QueryPlan, limit: int | None, ctx: QueryContext) -> None:
        source = plan.source
        # ksqlDB names a query reading a persistent query's output from latest scalable.
        scalable = (
            source.created_by_query is not None
            and ctx.transient_start != "earliest"
            and plan.aggregation is None
            and plan.join is None
        )
        prefix = "SCALABLE_PUSH_QUERY" if scalable else "transient"
        self.query_id = f"{prefix}_{source.name}_{random.getrandbits(62)}"
        self.columns = query_columns(plan)
        self.limit = limit
        self.log = ctx.log
        self.emitted = 0
        self.closed = False

    @property
    def done(self) -> bool:
        """Closed, or LIMIT rows emitted: poll returns nothing more."""
        return self.closed or (self.limit is not None and self.emitted >= self.limit)

    def poll(self, timeout: float) -> list[PushRow]:
        """The changes available now; if none, waits up to `timeout` seconds for some."""
        if self.done:
            return []
        rows = self._read()
        if not rows and timeout > 0 and self._wait(timeout) and not self.closed:
            rows = self._read()
        return rows

    def __iter__(self) -> Iterator[PushRow]:
        while not self.done:
            yield from self.poll(0.25)

    def notify_when_ready(self, callback: Callable[[], None]) -> bool:
        """Have `callback` called (from any thread) whenever `take_ready` may have rows;
        False if this query cannot tell (then only `poll` reads it)."""
        return False

    def take_ready(self) -> list[PushRow] | None:
        """The changes there are now, without blocking; None when reading them would block
        (on the log): then `poll` on a worker thread."""
        return None

    def close(self) -> None:
        self.closed = True

    def _read(self) -> list[PushRow]:
        out = self._changes()
        if self.limit is not None:
            out = out[: self.limit - self.emitted]
        self.emitted += len(out)
        return out

    def _changes(self) -> list[PushRow]:
        """The changes the input read since the last call brings."""
        raise NotImplementedError

    def _positions(self) -> dict[tuple[str, int], int]:
        """The next offset to read per source topic and partition."""
        raise NotImplementedError

    def _wait(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds for input; True if there may be some."""
        return self.log.wait_for_data(self._positions(), timeout)


class ProjectionPushQuery(PushQuery):
    """WHERE and SELECT over one source, row by row; no state. With `feeds`, the source is
    read and decoded once for every query on it (`push_feed`), else by this query itself."""

    def __init__(
        self,
        plan: QueryPlan,
        limit: int | None,
        ctx: QueryContext,
        feeds: SourceFeeds | None = None,
    ) -> None:
        super().__init__(plan, limit, ctx)
        source = plan.source
        self.plog = ctx.plog
        self.topic = source.topic
        self.decoder = SourceDecoder(source, ctx.plog, registry=ctx.registry)
        self.stage = projection_stage(plan, self._on_error)
        self.order = select_positions(plan)
        self.is_table = source.kind == "TABLE"
        # Where each output column of a tombstone comes from: a key of the record, one of
        # its window bounds (the record's row has both in this order), or null.
        keys = [c.name for c in source.key_columns]
        if source.window is not None:
            keys += WINDOW_BOUNDS
        self.tombstone_keys = [
            _reads(o, keys) if o.is_key else None for o in (plan.outputs[i] for i in self.order)
        ]
        self.positions = {
            p: o for (_, p), o in ctx.start_offsets(self.query_id, [self.topic]).items()
        }
        self.subscription: Subscription | None = None
        self.runs_user_code = runs_user_code(plan)
        if feeds is not None:
            route = key_route(plan)
            self.subscription = feeds.subscribe(source, self.decoder.decode, self.positions, route)

    def _on_error(self, exc: Exception, row: Sequence[Any]) -> None:
        self.plog.record_error(self.topic, row[1], row[2], exc)

    def _positions(self) -> dict[tuple[str, int], int]:
        return {(self.topic, p): o for p, o in self.positions.items()}

    def _wait(self, timeout: float) -> bool:
        if self.subscription is None:
            return super()._wait(timeout)
        return self.subscription.wait(timeout)

    def close(self) -> None:
        super().close()
        if self.subscription is not None:
            self.subscription.cancel()

    def notify_when_ready(self, callback: Callable[[], None]) -> bool:
        if self.subscription is None or self.runs_user_code:
            return False
        self.subscription.on_ready = callback
        return True

    def take_ready(self) -> list[PushRow] | None:
        if self.done:
            return []
        if self.subscription is None or self.runs_user_code or not self.subscription.caught_up:
            return None
        return self._read()

    def _changes(self) -> list[PushRow]:
        if self.subscription is not None:
            return self._process(self.subscription.take())
        out: list[PushRow] = []
        for partition, offset in self.positions.items():
            batch = self.log.read(self.topic, partition, offset)
            if not len(batch):
                continue
            self.positions[partition] = batch.next_offset
            out.extend(self._process(self.decoder.decode(batch)))
        return out

    def _process(self, decoded: list[tuple[tuple[Any, ...], bool]]) -> list[PushRow]:
        """Data rows go through the compiled stage in runs; a table's tombstone between them
        keeps its place, as the key columns it has and nulls. A stream's record without a
        value has no columns to show: it is skipped."""
        out: list[PushRow] = []
        run: list[tuple[Any, ...]] = []
        for row, is_tombstone in decoded:
            if not is_tombstone:
                run.append(row)
                continue
            if not self.is_table:
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


class PushOutput:
    """A query runtime's results as push rows, in SELECT order. A tombstone (a deleted
    aggregate, a table join's deleted row) shows its key columns and window bounds."""

    def __init__(self, plan: QueryPlan) -> None:
        self.order = select_positions(plan)
        keys = [o.name for o in plan.key_outputs]

        def tombstone_column(o: OutputColumn) -> int | None:
            """Where a column of a tombstone comes from, in (keys..., window bounds)."""
            if o.is_key:
                return keys.index(o.name)
            bound = _reads(o, WINDOW_BOUNDS)
            return None if bound is None else len(keys) + bound

        self.tombstone_columns = [tombstone_column(plan.outputs[i]) for i in self.order]
        self.rows: list[PushRow] = []

    def write(
        self,
        rows: list[tuple[Any, ...]],
        tombstones: set[int],
        windows: list[tuple[int, int]] | None = None,
    ) -> None:
        order = [1 + i for i in self.order]  # after ROWTIME
        for n, row in enumerate(rows):
            if n in tombstones:
                known = (*row[1:-1], *(windows[n] if windows else (None, None)))
                columns = [None if i is None else known[i] for i in self.tombstone_columns]
                self.rows.append(PushRow(columns, True))
            else:
                self.rows.append(PushRow([row[i] for i in order]))

    def take(self) -> list[PushRow]:
        rows, self.rows = self.rows, []
        return rows


class RuntimePushQuery(PushQuery):
    """A GROUP BY (windows, HAVING, EMIT FINAL) or a join: the persistent query's runtime,
    its state in memory, its results handed to this query."""

    def __init__(self, plan: QueryPlan, limit: int | None, ctx: QueryContext) -> None:
        super().__init__(plan, limit, ctx)
        self.output = PushOutput(plan)
        self.runtime = build_query(self.query_id, plan, self.output, ctx)

    def _positions(self) -> dict[tuple[str, int], int]:
        return self.runtime.read_positions()

    def _changes(self) -> list[PushRow]:
        self.runtime.step()
        return self.output.take()
