"""The aggregation operator: accumulators per group key (and window) in a durable store.

Input rows come from the pre-aggregation stage: (ROWTIME, keys..., aggregate arguments...).
Each row that changes a result produces an `Update`: the group's key, its window, the new
results (None: the group's row is deleted, e.g. a merged-away session), and the timestamp
Kafka Streams would give it (the largest record timestamp the result has seen). Stream time
is the largest timestamp seen; windows closed by it (end + grace) take no more records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import add
from typing import Any

from sqlengine.aggregates import Aggregator
from sqlengine.aggregates.core import identity
from sqlengine.columnar.aggregation import Groups, PartialKind
from sqlengine.state import KeyValueStore, frozen

# Partial kinds whose partial is the accumulator a new group starts with: counts, and
# integer sums (with their count, for an average) wrapped as Java wraps the argument's type.
_PARTIAL_IS_FRESH = ("count", "count_values", "sum", "avg")

# ksqlDB's default grace period when a windowed query states none (Kafka Streams' legacy 24h).
DEFAULT_GRACE_MS = 24 * 3_600_000

Window = tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class Update:
    timestamp: int
    key: tuple[Any, ...]
    window: Window
    results: tuple[Any, ...] | None


@dataclass(frozen=True, slots=True)
class GroupUpdates:
    """A grouped batch's updates column by column: one per group, in the batch's order."""

    times: list[int]
    keys: list[tuple[Any, ...]]
    windows: list[Window]
    results: list[tuple[Any, ...]]

    def updates(self) -> list[Update]:
        return [
            Update(*update)
            for update in zip(self.times, self.keys, self.windows, self.results, strict=True)
        ]


@dataclass(frozen=True)
class WindowSpec:
    kind: str  # TUMBLING | HOPPING | SESSION
    size: int  # window size, or the session inactivity gap
    advance: int
    grace: int
    retention: int

    def windows_for(self, ts: int) -> list[tuple[int, int]]:
        """The time windows a record at `ts` falls in (not for sessions)."""
        start = max(0, ts - self.size + self.advance) // self.advance * self.advance
        out = []
        while start <= ts:
            out.append((start, start + self.size))
            start += self.advance
        return out


def _window_start(key: tuple[Any, ...]) -> float:
    """A store key's order for `KeyValueStore.order_keys`: a (group, window) key's window
    start; bookkeeping keys are unordered."""
    window = key[1] if len(key) == 2 else None
    return window[0] if type(window) is tuple else math.inf


class AggregateOperator:
    def __init__(
        self,
        aggregators: Sequence[Aggregator],
        arg_counts: Sequence[int],
        nkeys: int,
        window: WindowSpec | None,
        store: KeyValueStore,
        complex_keys: bool = True,
    ) -> None:
        self.aggregators = list(aggregators)
        self.nkeys = nkeys
        self.window = window
        self.store = store
        # Positions of each aggregate's arguments in an input row.
        self.slices: list[slice] = []
        pos = 1 + nkeys
        for n in arg_counts:
            self.slices.append(slice(pos, pos + n))
            pos += n
        self.stream_time: int = store.get(("__stream_time__",), -1)
        if window is not None and window.kind != "SESSION":
            # A window starts at or before the time of any record in it: no stored window
            # starts after the stream time, and new windows' misses need no disk read.
            store.order_keys(_window_start, self.stream_time)
        self._expired_at = self.stream_time
        # The earliest window end in the store (-inf: unknown, as after a restart), so that
        # expiry scans the store only when some window can have passed retention.
        self._first_end: float = float("-inf")
        # Keys with ARRAY/MAP/STRUCT values need a hashable form in the store.
        self.complex_keys = complex_keys
        self._add_row = self._compile_add_row()
        self.results = self._compile_results()
        self._group_mergers: dict[tuple[PartialKind, ...], Callable[..., Any]] = {}

    # ---------------------------------------------------------------- helpers

    def _args(self, row: Sequence[Any]) -> list[Any]:
        """Each aggregate's argument: one value, a tuple of several, or for a call without
        arguments (COUNT()) a non-null marker, so that every row counts."""
        return [
            row[s.start] if s.stop - s.start == 1 else (tuple(row[s]) if s.stop > s.start else 1)
            for s in self.slices
        ]

    def _compile_add_row(self) -> Callable[[list[Any], Sequence[Any]], None]:
        """`add_row(entry, row)`: every aggregate takes the row's arguments, generated once
        per query (the per-record hot loop). One slice assignment: a reader on another
        thread (a pull query) sees the group before or after a row, never half-updated.
        The add functions enter the generated code as bound constants."""
        env: dict[str, Any] = {"args": self._args}
        terms = []
        for i, (agg, s) in enumerate(zip(self.aggregators, self.slices, strict=True)):
            env[f"add{i}"] = agg.add
            arg = f"row[{s.start}]" if s.stop - s.start == 1 else f"a[{i}]"
            terms.append(f"add{i}(entry[{i}], {arg})")
        prelude = "" if all(s.stop - s.start == 1 for s in self.slices) else "    a = args(row)\n"
        source = (
            "def add_row(entry, row):\n"
            + prelude
            + f"    entry[:{len(terms)}] = [{', '.join(terms)}]\n"
        )
        exec(source, env)  # noqa: S102 - built from column positions only
        return env["add_row"]  # type: ignore[no-any-return]

    def _fresh(self) -> list[Any]:
        return [a.init() for a in self.aggregators]

    def _entry(self, ts: int) -> list[Any]:
        """A new group entry: its accumulators, then its latest record time. One mutable
        list per group, updated in place: the least memory a group can cost here."""
        return [*self._fresh(), ts]

    def _compile_results(self) -> Callable[[list[Any]], tuple[Any, ...]]:
        """`results(entry)`: each aggregate's result of a group entry (or a bare accumulator
        list; the trailing record time of an entry is not read), generated once per query:
        it runs for every update."""
        env: dict[str, Any] = {}
        source = f"def results(e):\n    return {self._results_source(env)}\n"
        exec(source, env)  # noqa: S102 - built from positions only
        return env["results"]  # type: ignore[no-any-return]

    def _results_source(self, env: dict[str, Any]) -> str:
        """The tuple expression of each aggregate's result of entry `e`, its result
        functions put in `env`. An accumulator that is its result is taken as it is."""
        terms = []
        for i, agg in enumerate(self.aggregators):
            if agg.result is identity:
                terms.append(f"e[{i}]")
            else:
                env[f"r{i}"] = agg.result
                terms.append(f"r{i}(e[{i}])")
        return f"({''.join(t + ', ' for t in terms)})"

    def _apply(
        self, accs: list[Any], args: list[Any], fns: list[Callable[[Any, Any], Any]]
    ) -> None:
        for i, (fn, arg) in enumerate(zip(fns, args, strict=True)):
            accs[i] = fn(accs[i], arg)

    def _touch(self, entry: list[Any], ts: int) -> int:
        """Kafka Streams' result time: the largest record time the group has seen."""
        if ts > entry[-1]:
            entry[-1] = ts
        return entry[-1]  # type: ignore[no-any-return]

    def _advance_time(self, ts: int) -> None:
        if ts > self.stream_time:
            self.stream_time = ts
            self.store.put(("__stream_time__",), ts)

    # ---------------------------------------------------------------- streams

    def add_rows(self, rows: Sequence[Sequence[Any]], coalesce: bool = False) -> list[Update]:
        """Aggregate stream rows; rows with a NULL group key are skipped, as ksqlDB does.

        Every row that changes a result yields an update, unless `coalesce` (ksqlDB's record
        cache): then each (key, window) changed by the batch yields one, its latest."""
        updates: list[Update] = []
        latest: dict[Any, tuple[int, tuple[Any, ...], Window, list[Any]]] = {}
        n, window = self.nkeys, self.window
        cache, dirty, load = self.store.cache, self.store.dirty, self.store.load
        stream_time = self.stream_time
        add_row = self._add_row
        tumbling = window is not None and window.kind == "TUMBLING"
        for row in rows:
            key = tuple(row[1 : 1 + n])
            if None in key:
                continue
            ts = row[0]
            if ts > stream_time:
                stream_time = self.stream_time = ts
            if window is None:
                windows: list[Window] = [None]
            elif tumbling:
                start = ts - ts % window.size
                windows = (
                    [(start, start + window.size)]
                    if start + window.size > stream_time - window.grace
                    else []
                )
            elif window.kind == "SESSION":
                updates.extend(self._session(key, ts, self._args(row)))
                continue
            else:
                close = stream_time - window.grace
                windows = [w for w in window.windows_for(ts) if w[1] > close]
            fkey = frozen(key) if self.complex_keys else key
            for w in windows:
                skey = (fkey, w)
                # The record cache first; a miss reads the store (a new group's key does).
                entry = cache.get(skey)
                if entry is None and (entry := load(skey)) is None:
                    entry = cache[skey] = self._entry(ts)
                    if w is not None and w[1] < self._first_end:
                        self._first_end = w[1]
                elif ts > entry[-1]:
                    entry[-1] = ts
                add_row(entry, row)
                dirty[skey] = entry
                if coalesce:
                    # As Kafka Streams' record cache flushes: in the order keys first changed.
                    latest[skey] = (key, w, entry)
                else:
                    updates.append(Update(entry[-1], key, w, self.results(entry)))
        self.store.put(("__stream_time__",), self.stream_time)
        updates += [Update(e[-1], k, w, self.results(e)) for k, w, e in latest.values()]
        self._expire()
        return updates

    def add_groups(self, groups: Groups, kinds: Sequence[PartialKind]) -> GroupUpdates:
        """`add_rows` with the record cache on, for a batch the vectorized path grouped
        (`sqlengine.columnar.aggregation`, primitive keys only): each group's partials fold
        into its entry, which then yields one update."""
        merge = self._group_mergers.get(tuple(kinds))
        if merge is None:
            merge = self._group_mergers[tuple(kinds)] = self._compile_merge_groups(kinds)
        times, results, self._first_end = merge(
            groups.keys,
            groups.windows,
            groups.first_times,
            groups.last_times,
            *groups.partials,
            self.store.cache,
            self.store.dirty,
            self.store.load,
            self.store.stored_order_max(),
            self._first_end,
        )
        self.stream_time = groups.stream_time
        self.store.put(("__stream_time__",), self.stream_time)
        self._expire()
        return GroupUpdates(times, groups.keys, groups.windows, results)

    def _compile_merge_groups(self, kinds: Sequence[PartialKind]) -> Callable[..., Any]:
        """The loop of `add_groups` for one query's partial kinds, generated once: a group's
        entry is found in the record cache or the store, its accumulators take the partials
        in one slice assignment (a pull query sees the group whole), or it starts at its
        first row's time with the partials merged into fresh accumulators (a count's or an
        integer sum's partial is one: `_PARTIAL_IS_FRESH`); its update's time and results
        are collected. A DOUBLE sum adds the group's values in row order
        (`ValueRuns`: left to right, as the per-record additions do), a new group's taken
        as added from 0.0 in the batch; the other partials merge. A windowed group whose
        window starts after every window the store holds outside its cache
        (`stored_order_max`: the store's keys are ordered by `_window_start`) is new
        without a read."""
        env: dict[str, Any] = {"reduce": reduce, "add": add}
        fresh, terms, items, parts = [], [], [], []
        for i, (agg, kind) in enumerate(zip(self.aggregators, kinds, strict=True)):
            env[f"init{i}"], env[f"merge{i}"] = agg.init, agg.merge
            if kind in ("sum_values", "avg_values"):
                items.append((f"s{i}, n{i}", f"p{i}.sums, p{i}.counts"))
                run = f"p{i}.run(g)"
            else:
                items.append((f"x{i}", f"p{i}"))
            if kind == "sum_values":
                assert agg.init() == 0.0, "a DOUBLE sum starts at 0.0"
                fresh.append(f"s{i}")
                terms.append(f"reduce(add, {run}, e[{i}])")
            elif kind == "avg_values":
                assert agg.init() == [0.0, 0], "a DOUBLE average starts at [0.0, 0]"
                fresh.append(f"[s{i}, n{i}]")
                terms.append(f"[reduce(add, {run}, e[{i}][0]), e[{i}][1] + n{i}]")
            else:
                if kind in _PARTIAL_IS_FRESH:
                    # A count, or a sum wrapped to its type (with a count, for an average).
                    probe = [7, 2] if kind == "avg" else 7
                    assert agg.merge(agg.init(), probe) == probe, "merging into 0 keeps it"
                    fresh.append(f"x{i}")
                else:
                    fresh.append(f"merge{i}(init{i}(), x{i})")
                terms.append(f"merge{i}(e[{i}], x{i})")
            parts.append(f"p{i}")
        names = ", ".join(name for name, _ in items)
        columns = ", ".join(column for _, column in items)
        source = f"""\
def merge_groups(keys, windows, firsts, lasts, {", ".join(parts)}, cache, dirty, load, stored_max, first_end):
    times = []
    results_of = []
    if not keys:
        return times, results_of, first_end
    for g, key, w, first, last, {names} in zip(range(len(keys)), keys, windows, firsts, lasts, {columns}):
        skey = (key, w)
        e = cache.get(skey)
        if e is None and (w is None or w[0] <= stored_max):
            e = load(skey)
        if e is None:
            e = cache[skey] = [{", ".join(fresh)}, first]
            if w is not None and w[1] < first_end:
                first_end = w[1]
        else:
            e[:{len(terms)}] = [{", ".join(terms)}]
        if last > e[-1]:
            e[-1] = last
        dirty[skey] = e
        times.append(e[-1])
        results_of.append({self._results_source(env)})
    return times, results_of, first_end
"""
        exec(source, env)  # noqa: S102 - built from the partial kinds only
        return env["merge_groups"]  # type: ignore[no-any-return]

    def _update(
        self,
        key: tuple[Any, ...],
        window: Window,
        ts: int,
        args: list[Any],
        fns: list[Callable[[Any, Any], Any]],
    ) -> Update:
        skey = (frozen(key), window)
        entry = self.store.get(skey) or self._entry(ts)
        self._apply(entry, args, fns)
        new_ts = self._touch(entry, ts)
        self.store.put(skey, entry)
        return Update(new_ts, key, window, self.results(entry))

    def _session(self, key: tuple[Any, ...], ts: int, args: list[Any]) -> list[Update]:
        assert self.window is not None
        gap = self.window.size
        close = self.stream_time - self.window.grace - gap
        sessions: list[tuple[int, int, list[Any]]] = self.store.get((frozen(key), "sessions")) or []
        merged = [s for s in sessions if s[1] >= ts - gap and s[0] <= ts + gap]
        start = min([ts] + [s[0] for s in merged])
        end = max([ts] + [s[1] for s in merged])
        if end < close:
            return []
        accs = self._fresh()
        for _, _, other in merged:
            accs = [
                a.merge(x, y) if a.merge else y
                for a, x, y in zip(self.aggregators, accs, other, strict=True)
            ]
        self._apply(accs, args, [a.add for a in self.aggregators])
        updates = [
            Update(s[1], key, (s[0], s[1]), None) for s in merged if (s[0], s[1]) != (start, end)
        ]
        kept = [s for s in sessions if s not in merged] + [(start, end, accs)]
        self.store.put((frozen(key), "sessions"), kept)
        self._first_end = min(self._first_end, end)
        updates.append(Update(end, key, (start, end), self.results(accs)))
        return updates

    def _expire(self) -> None:
        """Drop windows past retention, so windowed state stays bounded."""
        # A scan of the store, so only when stream time has moved on by a window's worth.
        if self.window is None or self.stream_time < self._expired_at + self.window.size:
            return
        self._expired_at = self.stream_time
        horizon = self.stream_time - self.window.retention
        if horizon <= self._first_end:
            return  # no window ends before the horizon: nothing to scan for
        stale = []
        first_end = float("inf")
        for skey, value in self.store.items():
            if not isinstance(skey[0], tuple):
                continue  # bookkeeping entries (stream time, ...), not (group key, window)
            if skey[1] == "sessions":
                kept = [s for s in value if s[1] >= horizon]
                if len(kept) != len(value):
                    stale.append((skey, kept))
                first_end = min([first_end] + [s[1] for s in kept])
            elif skey[1] is not None and skey[1][1] < horizon:
                stale.append((skey, None))
            elif skey[1] is not None:
                first_end = min(first_end, skey[1][1])
        self._first_end = first_end
        for skey, kept in stale:
            if kept:
                self.store.put(skey, kept)
            else:
                self.store.delete(skey)

    # ---------------------------------------------------------------- tables

    def change(self, old: Sequence[Any] | None, new: Sequence[Any] | None, ts: int) -> list[Update]:
        """A table row replaced: undo the old row's contribution, then add the new row's."""
        self._advance_time(ts)
        updates: list[Update] = []
        n = self.nkeys
        old_key = tuple(old[1 : 1 + n]) if old is not None else None
        new_key = tuple(new[1 : 1 + n]) if new is not None else None
        undos = [a.undo for a in self.aggregators]
        if old is not None and old_key is not None and not any(k is None for k in old_key):
            entry = self.store.get((frozen(old_key), None))
            if entry is not None:
                self._apply(entry, self._args(old), undos)  # type: ignore[arg-type]
                if new_key == old_key and new is not None:
                    self._apply(entry, self._args(new), [a.add for a in self.aggregators])
                    new = None
                new_ts = self._touch(entry, ts)
                self.store.put((frozen(old_key), None), entry)
                updates.append(Update(new_ts, old_key, None, self.results(entry)))
        if new is not None and new_key is not None and not any(k is None for k in new_key):
            updates.append(
                self._update(new_key, None, ts, self._args(new), [a.add for a in self.aggregators])
            )
        return updates
