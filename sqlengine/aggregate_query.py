"""GROUP BY queries at run time: pre-aggregation stage, aggregation operator, final projection.

    source rows -> [WHERE + group keys + aggregate arguments] -> AggregateOperator (store)
                -> [SELECT over keys/results, HAVING] -> output (sink table, or push query)

A stream source adds each row to its group. A table source materializes its latest
pre-aggregation row per key, so an update undoes the old row's contribution before adding
the new one (and a tombstone only undoes). HAVING works as a KTable filter over the result:
a row that stops passing is deleted with a tombstone, once.
"""

from __future__ import annotations

from typing import Any

from grammar import ast
from planner.builder import QueryPlan, source_scope
from sqlengine.aggregation import DEFAULT_GRACE_MS, AggregateOperator, Update, WindowSpec
from sqlengine.codegen import compile_stage
from sqlengine.runtime import PersistentQuery, QueryContext, RowSink
from sqlengine.state import frozen


def window_spec(window: ast.Window, emit_final: bool) -> WindowSpec:
    """EMIT FINAL without a GRACE PERIOD closes windows at their end, as ksqlDB does."""
    size = window.size.millis
    advance = window.advance.millis if window.advance is not None else size
    default_grace = 0 if emit_final else DEFAULT_GRACE_MS
    grace = window.grace.millis if window.grace is not None else default_grace
    retention = window.retention.millis if window.retention is not None else 0
    return WindowSpec(window.kind, size, advance, grace, max(retention, size + grace))


class AggregateQuery(PersistentQuery):
    def __init__(self, query_id: str, plan: QueryPlan, output: RowSink, ctx: QueryContext) -> None:
        super().__init__(query_id, plan, ctx)
        agg = plan.aggregation
        assert agg is not None
        alias = plan.root.input.input.columns[0].source  # type: ignore[attr-defined]
        scope = source_scope(plan.source, alias)
        self.pre_stage = compile_stage(plan.where, agg.pre_exprs(), scope, self._on_error)
        # The final projection computes HAVING as a trailing column rather than dropping
        # rows: a row that stops passing must become a tombstone.
        project = plan.root.exprs  # type: ignore[attr-defined]
        having = [agg.having] if agg.having is not None else []
        self.post_stage = compile_stage(None, [*project, *having], agg.post_scope, self._on_error)
        self.has_having = agg.having is not None
        prefix = f"_confluent-ksql-default_query_{query_id}"
        self.changelogs = [f"{prefix}-Aggregate-Aggregate-Materialize-changelog"]
        self.store = ctx.store(self.changelogs[0])
        self.windowed = agg.window is not None
        self.emit_final = plan.emit == "FINAL"
        self.spec = window_spec(agg.window, self.emit_final) if agg.window is not None else None
        self.operator = AggregateOperator(
            [c.aggregator for c in agg.calls],
            [len(c.args) for c in agg.calls],
            len(agg.keys),
            self.spec,
            self.store,
            complex_keys=any(not k.type.is_primitive for k in agg.keys),
        )
        # EMIT FINAL: results wait here until their window closes (Kafka Streams' suppress).
        self.pending: dict[tuple[Any, Any], Update] = (
            dict(self.store.get(("__final__",), [])) if self.emit_final else {}
        )
        self.is_table = plan.source.kind == "TABLE"
        if self.is_table:
            self.changelogs.append(f"{prefix}-KsqlTopic-Reduce-changelog")
            self.source_rows = ctx.store(self.changelogs[1])
        self.nkeys = len(plan.source.key_columns)
        self.output = output

    def _process(self, decoded: list[tuple[tuple[Any, ...], bool]]) -> None:
        if self.is_table:
            updates = []
            for row, is_null in decoded:
                key = frozen(row[3 : 3 + self.nkeys])
                old = self.source_rows.get(key)
                pre = None if is_null else next(iter(self.pre_stage([row])), None)
                if pre is None:
                    self.source_rows.delete(key)
                else:
                    self.source_rows.put(key, pre)
                updates += self.operator.change(old, pre, row[0])
        else:
            # With the record cache a batch's updates to one group coalesce (EMIT FINAL
            # holds results back anyway, so there it changes nothing).
            updates = self.operator.add_rows(
                self.pre_stage([r for r, is_null in decoded if not is_null]),
                coalesce=self.ctx.record_cache and not self.emit_final,
            )
        self._emit(self._suppress(updates) if self.emit_final else updates)

    def _suppress(self, updates: list[Update]) -> list[Update]:
        """Hold the latest result per window; release the windows stream time has closed."""
        assert self.spec is not None
        for u in updates:
            self.pending[(frozen(u.key), u.window)] = u
        close = self.operator.stream_time - self.spec.grace
        if self.spec.kind == "SESSION":
            close -= self.spec.size
        released = [k for k, u in self.pending.items() if u.window and u.window[1] <= close]
        out = sorted((self.pending.pop(k) for k in released), key=lambda u: u.timestamp)
        if updates or out:
            self.store.put(("__final__",), list(self.pending.items()))
        # A window already past the store's retention is gone before it can be emitted, as
        # in Kafka Streams' emit-on-window-close (its segments expire first).
        horizon = self.operator.stream_time - self.spec.retention
        if self.spec.kind == "SESSION":
            horizon = -1  # session stores expire by session end, which `close` already covers
        return [u for u in out if u.results is not None and u.window and u.window[0] >= horizon]

    def _emit(self, updates: list[Update]) -> None:
        """Project every update's result in one call of the final stage, then write them in
        order; a deleted result, or one HAVING stops passing, becomes a tombstone."""
        results = [u for u in updates if u.results is not None]
        projected = iter(
            self.post_stage(
                [(u.timestamp, *u.key, *u.results, *(u.window or (0, 0))) for u in results]  # type: ignore[misc]
            )
        )
        rows: list[tuple[Any, ...]] = []
        windows: list[tuple[int, int]] = []
        tombstones: set[int] = set()
        for u in updates:
            window = u.window or (0, 0)
            row = None if u.results is None else next(projected)
            if row is not None and self.has_having:
                passing_key = ("__having__", frozen(u.key), u.window)
                if row[-1] is True:
                    self.store.put(passing_key, True)
                    row = row[:-1]
                elif self.store.get(passing_key):
                    self.store.delete(passing_key)
                    row = None
                else:
                    continue
            if row is None:
                tombstones.add(len(rows))
                row = (u.timestamp, *u.key)
            rows.append((*row, ()))
            windows.append(window)
        self.output.write(rows, tombstones, windows if self.windowed else None)

    def _flush(self) -> None:
        self.store.flush()
        if self.is_table:
            self.source_rows.flush()

    def internal_topics(self) -> list[str]:
        return list(self.changelogs)
