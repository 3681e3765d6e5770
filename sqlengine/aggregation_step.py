"""The aggregation of a GROUP BY query after its pre-aggregation stage: the aggregation
operator and its store, EMIT FINAL's suppression, the final projection and HAVING.

    pre-aggregation rows -> AggregationStep -> AggregateOperator (store)
                         -> [SELECT over keys/results, HAVING] -> output (sink, push query)

It is a `RowSink`: whatever computes pre-aggregation rows writes them into it, a source's
pre-aggregation stage (`source_input.PreAggregate`) or a join's projection (`join_input.JoinInput`).
A stream's rows are (ROWTIME, group keys..., aggregate arguments..., [headers]), each added
to its group. A table's rows lead with the table's key: (ROWTIME, table key..., group
keys..., arguments..., [headers]), a deleted row (a tombstone) is (ROWTIME, table key...,
[headers]). The step materializes each table key's latest row, so an update undoes the old
row's contribution before adding the new one (and a tombstone only undoes). HAVING works as
a KTable filter over the result: a row that stops passing is deleted with a tombstone, once.
State is flushed as each batch is written, since writers commit their offsets after writing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from grammar import ast
from planner.builder import QueryPlan
from planner.physical import aggregate_changelog, table_source_changelog
from sqlengine.aggregation import (
    DEFAULT_GRACE_MS,
    AggregateOperator,
    GroupUpdates,
    Update,
    Window,
    WindowSpec,
)
from sqlengine.codegen import compile_stage
from sqlengine.columnar.aggregation import Groups, PartialKind, Windowing
from sqlengine.columnar.updates import UpdateEncoder
from sqlengine.runtime import QueryContext, query_group
from sqlengine.sink import RowSink, SinkEncoder
from sqlengine.state import frozen


def window_spec(window: ast.Window, emit_final: bool) -> WindowSpec:
    """EMIT FINAL without a GRACE PERIOD closes windows at their end, as ksqlDB does."""
    size = window.size.millis
    advance = window.advance.millis if window.advance is not None else size
    default_grace = 0 if emit_final else DEFAULT_GRACE_MS
    grace = window.grace.millis if window.grace is not None else default_grace
    retention = window.retention.millis if window.retention is not None else 0
    return WindowSpec(window.kind, size, advance, grace, max(retention, size + grace))


class AggregationStep:
    """`table_keys`: None for a stream's rows, else how many key columns a table's rows
    lead with."""

    def __init__(
        self,
        query_id: str,
        plan: QueryPlan,
        output: RowSink,
        ctx: QueryContext,
        on_error: Callable[[Exception, Sequence[Any]], None],
        table_keys: int | None,
        *,
        rows_carry_headers: bool = False,
    ) -> None:
        agg = plan.aggregation
        assert agg is not None
        # The final projection computes HAVING as a trailing column rather than dropping
        # rows: a row that stops passing must become a tombstone.
        project = plan.root.exprs  # type: ignore[attr-defined]
        having = [agg.having] if agg.having is not None else []
        self.post_stage = compile_stage(None, [*project, *having], agg.post_scope, on_error)
        self.has_having = agg.having is not None
        self.changelogs = [aggregate_changelog(query_id, ctx.service_id)]
        self.store = ctx.store(self.changelogs[0], query_group(query_id, ctx.service_id))
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
        # With the record cache a batch's updates to one group coalesce (EMIT FINAL holds
        # results back anyway, so there it changes nothing).
        self.coalesce = ctx.record_cache and not self.emit_final
        self.table_keys = table_keys
        # Rows end with their record's headers (a source's rows; a join's carry none).
        self.rows_carry_headers = rows_carry_headers
        if table_keys is not None:
            self.changelogs.append(table_source_changelog(query_id, ctx.service_id))
            self.table_rows = ctx.store(self.changelogs[1], query_group(query_id, ctx.service_id))
        self.output = output
        # Vectorized batches' updates encoded column-wise, when the sink is a JSON topic.
        self.update_encoder = (
            UpdateEncoder.build(plan, output.sink)
            if ctx.vectorized and isinstance(output, SinkEncoder)
            else None
        )
        # Group key -> its windows, once a pull query looked up a windowed key (`current_rows`).
        self._window_index: dict[tuple[Any, ...], set[tuple[int, int]]] | None = None

    def write(
        self,
        rows: list[tuple[Any, ...]],
        tombstones: set[int],
        windows: list[tuple[int, int]] | None = None,
    ) -> None:
        """Aggregate a batch of pre-aggregation rows; rows of a windowed input (a join of
        windowed tables) are one table row per key and window. An update carries the headers
        of the record that made it, as Kafka Streams forwards them (not through the record
        cache or EMIT FINAL's suppression, which emit what several records made)."""
        headers: list[Any] = []
        if self.rows_carry_headers:
            headers = [row[-1] for row in rows]
            rows = [row[:-1] for row in rows]
        by_record = any(headers) and not self.coalesce and not self.emit_final
        update_headers: list[Any] | None = [] if by_record else None
        n = self.table_keys
        if n is None and by_record:
            updates = []
            for row, record_headers in zip(rows, headers, strict=True):
                made = self.operator.add_rows([row])
                updates += made
                update_headers += [record_headers] * len(made)  # type: ignore[operator]
        elif n is None:
            updates = self.operator.add_rows(rows, coalesce=self.coalesce)
        else:
            updates = []
            for i, row in enumerate(rows):
                key = frozen(row[1 : 1 + n])
                if windows is not None:
                    key = (key, windows[i])
                old = self.table_rows.get(key)
                new = None if i in tombstones else (row[0], *row[1 + n :])
                if new is None:
                    self.table_rows.delete(key)
                else:
                    self.table_rows.put(key, new)
                made = self.operator.change(old, new, row[0])
                updates += made
                if update_headers is not None:
                    update_headers += [headers[i]] * len(made)
        if self.emit_final:
            self._emit(self._suppress(updates))
        else:
            self._emit(updates, update_headers)
        self.store.flush()
        if n is not None:
            self.table_rows.flush()

    def write_groups(self, groups: Groups, kinds: Sequence[PartialKind]) -> None:
        """`write` for a batch of stream rows the vectorized path grouped already; the
        updates go to the sink column-wise when it takes them so."""
        grouped = self.operator.add_groups(groups, kinds)
        if self.emit_final:
            self._emit(self._suppress(grouped.updates()))
        elif not self._emit_columns(grouped):
            self._emit(grouped.updates())
        self.store.flush()

    def _emit_columns(self, grouped: GroupUpdates) -> bool:
        """Write a grouped batch's updates through the sink's column-wise encoder; False
        when there is none or it declines the batch."""
        if self.update_encoder is None:
            return False
        windows = grouped.windows if self.windowed else None
        encoded = self.update_encoder.encode(
            grouped.times,
            grouped.keys,
            windows,
            grouped.results,  # type: ignore[arg-type]
        )
        if encoded is None:
            return False
        self._index_windows(zip(grouped.keys, grouped.windows, strict=True))
        assert isinstance(self.output, SinkEncoder)
        self.output.write_columns(*encoded)
        return True

    def windowing(self) -> Windowing:
        """The window the vectorized path groups by."""
        if self.spec is None:
            return Windowing(None)
        return Windowing(self.spec.kind, self.spec.size, self.spec.grace)

    def takes_groups(self) -> bool:
        """Can a batch arrive grouped? Only a stream's rows with the record cache on (or
        EMIT FINAL): then a batch's updates to a group may come as one."""
        return self.table_keys is None and (self.coalesce or self.emit_final)

    def _suppress(self, updates: list[Update]) -> list[Update]:
        """Hold the latest result per window; release the windows stream time has closed."""
        assert self.spec is not None
        for u in updates:
            self.pending[(frozen(u.key), u.window)] = u
        close = self.operator.stream_time - self.spec.grace
        if self.spec.kind == "SESSION":
            close -= self.spec.size
        released = [k for k, u in self.pending.items() if u.window and u.window[1] <= close]
        # Kafka Streams' suppression buffer releases in window end order.
        out = sorted((self.pending.pop(k) for k in released), key=lambda u: u.window[1])  # type: ignore[index]
        if updates or out:
            self.store.put(("__final__",), list(self.pending.items()))
        # A window already past the store's retention is gone before it can be emitted, as
        # in Kafka Streams' emit-on-window-close (its segments expire first).
        horizon = self.operator.stream_time - self.spec.retention
        if self.spec.kind == "SESSION":
            horizon = -1  # session stores expire by session end, which `close` already covers
        return [u for u in out if u.results is not None and u.window and u.window[0] >= horizon]

    def _emit(self, updates: list[Update], headers: list[Any] | None = None) -> None:
        """Project every update's result in one call of the final stage, then write them in
        order (each with its `headers`, else none); a deleted result, or one HAVING stops
        passing, becomes a tombstone."""
        results = [u for u in updates if u.results is not None]
        projected = iter(
            self.post_stage(
                [(u.timestamp, *u.key, *u.results, *(u.window or (0, 0))) for u in results]  # type: ignore[misc]
            )
        )
        rows: list[tuple[Any, ...]] = []
        windows: list[tuple[int, int]] = []
        tombstones: set[int] = set()
        self._index_windows((u.key, u.window) for u in updates)
        for i, u in enumerate(updates):
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
            rows.append((*row, () if headers is None else headers[i]))
            windows.append(window)
        self.output.write(rows, tombstones, windows if self.windowed else None)

    @property
    def viewable(self) -> bool:
        """Whether pull queries can read the result from this step's store itself
        (as ksqlDB reads its aggregation state store): with primitive keys, results emitted
        as they change, unwindowed or in time windows (a session's bounds move)."""
        return (
            not self.emit_final
            and not self.operator.complex_keys
            and (self.spec is None or self.spec.kind != "SESSION")
        )

    def current_rows(self, keys: Iterable[tuple[Any, ...]] | None) -> list[tuple[Any, ...]]:
        """The result rows the store holds now, (ROWTIME, keys..., values...[, WINDOWSTART,
        WINDOWEND]), for the given group keys (each in every window it has) or (None) for
        every group; rows HAVING rejects are absent. For a `viewable` query only. Safe to
        call while the query runs: reads go through the store's `peek` and `items`, which
        cache nothing, and groups change as one slice assignment."""
        store = self.store
        if keys is None:
            groups = [
                (skey, entry)
                for skey, entry in store.items()
                if type(skey[0]) is tuple and (skey[1] is None or type(skey[1]) is tuple)
            ]
        elif self.windowed:
            index = self._windows_by_key()
            groups = [
                ((key, window), store.peek((key, window)))
                for key in keys
                for window in sorted(index.get(key, ()))
            ]
        else:
            groups = [((key, None), store.peek((key, None))) for key in keys]
        rows = [
            (entry[-1], *key, *self.operator.results(entry), *(window or (0, 0)))
            for (key, window), entry in groups
            if entry is not None
        ]
        projected = self.post_stage(rows)
        if self.has_having:
            kept = [i for i, row in enumerate(projected) if row[-1] is True]
            projected = [projected[i][:-1] for i in kept]
            rows = [rows[i] for i in kept]
        if not self.windowed:
            return projected
        return [(*row, *source[-2:]) for row, source in zip(projected, rows, strict=True)]

    def _index_windows(self, changed: Iterable[tuple[tuple[Any, ...], Window]]) -> None:
        """Keep the window index (once a lookup built it) up to date with new windows."""
        index = self._window_index
        if index is not None:
            for key, window in changed:
                index.setdefault(key, set()).add(window)  # type: ignore[arg-type]

    def _windows_by_key(self) -> dict[tuple[Any, ...], set[tuple[int, int]]]:
        """The windows each group key has, for key lookups: built from the store on the first
        lookup, then kept by `_emit` (every new window's first result passes there). Windows
        past retention stay listed; the store no longer has them, so lookups skip them."""
        if self._window_index is None:
            # Published before the scan, so a window the query adds meanwhile is not missed.
            index: dict[tuple[Any, ...], set[tuple[int, int]]] = {}
            self._window_index = index
            for skey, _ in self.store.items():
                if type(skey[0]) is tuple and type(skey[1]) is tuple:
                    index.setdefault(skey[0], set()).add(skey[1])
        return self._window_index
