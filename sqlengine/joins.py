"""Join operators: the state and emission rules of Kafka Streams' joins, over durable stores.

Every operator takes changes from its two inputs and returns the joined changes, as
`Change(key, timestamp, body)`. A body is the tuple of the joined sources' rows laid side by
side (a missing side is all NULL); a table change whose body is None deletes its key.

- `StreamStreamJoin`: windowed buffers of both sides (KStream-KStream join). Without a GRACE
  PERIOD, left/outer results are emitted at once (Kafka Streams' legacy behaviour); with one,
  a record without a match waits in an outer buffer until its window closes.
- `StreamTableJoin`: a stream record looks up the table's current row (KStream-KTable join).
- `TableTableJoin`: both sides materialized; a change on either side joins with the other's
  current row (KTable-KTable join).
- `ForeignKeyJoin`: a left table row joins the right row its foreign key names.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlengine.state import KeyValueStore

Body = tuple[Any, ...]


class Change(NamedTuple):
    """One input or output change of a join (a NamedTuple: built per record, so cheap)."""

    key: Any
    timestamp: int
    body: Body | None


def hashable(value: Any) -> Any:
    """A dict/set key for a SQL value (ARRAY and STRUCT keys are lists and dicts)."""
    if isinstance(value, list):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, hashable(v)) for k, v in value.items())
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    """An order for keys of any type (None first, numbers by value), standing in for the
    order of serialized keys in Kafka Streams' stores."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float | Decimal):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, repr(hashable(value)))


@dataclass(frozen=True)
class Window:
    before: int
    after: int
    grace: int
    # With an explicit GRACE PERIOD, unmatched outer records wait for their window to close.
    defer_outer: bool

    @property
    def retention(self) -> int:
        return self.before + self.after + self.grace


class StreamStreamJoin:
    """Each side's records buffered for `retention` (by that side's stream time); a record
    joins the other side's records with key equal and timestamp within the window."""

    def __init__(
        self,
        store: KeyValueStore,
        window: Window,
        outer: tuple[bool, bool],
        widths: tuple[int, int],
    ) -> None:
        self.store = store
        self.window = window
        self.outer = outer
        self.nulls = ((None,) * widths[0], (None,) * widths[1])
        self.stream_time: int = store.get(("time",), -1)
        self.min_time: int = store.get(("min",), 2**63)
        self._swept_at = self.stream_time
        self.pending: list[tuple[int, int, Any, Any]] = sorted(
            k[1:] for k in store.keys() if k[0] == "outer"
        )

    def left(self, change: Change) -> list[Change]:
        return self._process(0, change)

    def right(self, change: Change) -> list[Change]:
        return self._process(1, change)

    def _joined(self, side: int, body: Body, other: Body) -> Body:
        return body + other if side == 0 else other + body

    def _process(self, side: int, change: Change) -> list[Change]:
        if change.key is None or change.body is None:
            return []
        w = self.window
        before, after = (w.before, w.after) if side == 0 else (w.after, w.before)
        ts, key, hkey = change.timestamp, change.key, hashable(change.key)
        if ts > self.stream_time:
            self.stream_time = ts
            self.store.put(("time",), ts)
        out: list[Change] = []
        if w.defer_outer and ts == self.stream_time:
            out += self._emit_closed(after, before)
        self._buffer(side, hkey, ts, change.body)
        other = 1 - side
        lo, hi = max(0, ts - before), max(0, ts + after)
        floor = self.store.get(("seen", other), -1) - w.retention
        matched = False
        for other_ts, other_body in self.store.get(("buf", other, hkey), ()):
            if lo <= other_ts <= hi and other_ts > floor:
                matched = True
                self._unpend(other_ts, other, hkey)
                body = self._joined(side, change.body, other_body)
                out.append(Change(key, max(ts, other_ts), body))
        if matched or not self.outer[side]:
            return out
        if not w.defer_outer or hi < self.stream_time:
            out.append(Change(key, ts, self._joined(side, change.body, self.nulls[other])))
        else:
            self.min_time = min(self.min_time, ts)
            self.store.put(("min",), self.min_time)
            entry = (ts, side, _sort_key(key), hkey)
            bisect.insort(self.pending, entry)
            values = self.store.get(("outer", *entry), [])
            self.store.put(("outer", *entry), [*values, (key, change.body)])
        return out

    def _buffer(self, side: int, hkey: Any, ts: int, body: Body) -> None:
        """Store the record unless its side's stream time has already expired it."""
        seen = self.store.get(("seen", side), -1)
        if ts > seen:
            seen = ts
            self.store.put(("seen", side), ts)
        if ts <= seen - self.window.retention:
            return
        records = list(self.store.get(("buf", side, hkey), ()))
        bisect.insort(records, (ts, body), key=lambda r: r[0])
        self.store.put(
            ("buf", side, hkey), [r for r in records if r[0] > seen - self.window.retention]
        )
        self._sweep()

    def _sweep(self) -> None:
        """Drop expired buffers now and then (a scan), so state stays bounded."""
        if self.stream_time < self._swept_at + self.window.retention:
            return
        self._swept_at = self.stream_time
        for skey, records in list(self.store.items()):
            if skey[0] != "buf":
                continue
            floor = self.store.get(("seen", skey[1]), -1) - self.window.retention
            kept = [r for r in records if r[0] > floor]
            if not kept:
                self.store.delete(skey)
            elif len(kept) != len(records):
                self.store.put(skey, kept)

    def _unpend(self, ts: int, side: int, hkey: Any) -> None:
        """A buffered outer record found its match: it will never be emitted null-joined."""
        for entry in self.pending:
            if entry[0] == ts and entry[1] == side and entry[3] == hkey:
                self.pending.remove(entry)
                self.store.delete(("outer", *entry))
                return

    def _emit_closed(self, after: int, lookback: int) -> list[Change]:
        """Null-joined results of waiting records whose window has closed, oldest first."""
        grace = self.window.grace
        if self.min_time >= self.stream_time - lookback - grace:
            return []
        out: list[Change] = []
        self.min_time = 2**63
        while self.pending:
            entry = self.pending[0]
            ts, side = entry[0], entry[1]
            self.min_time = ts
            if ts + after + grace >= self.stream_time:
                break
            self.pending.pop(0)
            for key, body in self.store.get(("outer", *entry), []):
                out.append(Change(key, ts, self._joined(side, body, self.nulls[1 - side])))
            self.store.delete(("outer", *entry))
        else:
            self.min_time = 2**63
        self.store.put(("min",), self.min_time)
        return out


class _Materialized:
    """A table side's current rows by key: (body, timestamp)."""

    def __init__(self, store: KeyValueStore, name: str) -> None:
        self.store = store
        self.name = name

    def get(self, hkey: Any) -> tuple[Body, int] | None:
        return self.store.get((self.name, hkey))  # type: ignore[no-any-return]

    def update(self, change: Change) -> tuple[Body, int] | None:
        """Apply a change; returns the row it replaces."""
        hkey = hashable(change.key)
        old = self.get(hkey)
        if change.body is None:
            self.store.delete((self.name, hkey))
        else:
            self.store.put((self.name, hkey), (change.body, change.timestamp))
        return old


@dataclass(frozen=True)
class TableLookup:
    """A stream-table join's table as it stands, for a worker process to join a batch
    with: the rows by key, and what a key without one joins (`StreamTableJoin.match`)."""

    rows: dict[Any, Body]
    missing: Body | None

    def match(self, key: Any) -> Body | None:
        if key is None:
            return self.missing
        return self.rows.get(hashable(key), self.missing)


class StreamTableJoin:
    def __init__(self, store: KeyValueStore, left_outer: bool, right_width: int) -> None:
        self.table = _Materialized(store, "table")
        self.left_outer = left_outer
        self.nulls = (None,) * right_width
        self.version = 0  # table changes so far (this run), for `snapshot`
        self._snapshot: tuple[int, TableLookup | None] | None = None

    def match(self, key: Any) -> Body | None:
        """The table side a stream record with `key` joins: the table's current row, NULLs
        for a LEFT join without one, or None when the record yields no result."""
        found = self.table.get(hashable(key)) if key is not None else None
        if found is not None:
            return found[0]  # type: ignore[no-any-return]
        return self.nulls if self.left_outer else None

    def snapshot(self, max_rows: int) -> TableLookup | None:
        """The table as it stands, read once per version; None if it has over `max_rows`
        rows (a copy would cost more than a worker saves)."""
        if self._snapshot is None or self._snapshot[0] != self.version:
            self._snapshot = (self.version, self._read_table(max_rows))
        return self._snapshot[1]

    def _read_table(self, max_rows: int) -> TableLookup | None:
        rows: dict[Any, Body] = {}
        for (side, hkey), (body, _) in self.table.store.items():
            if side == self.table.name:
                if len(rows) == max_rows:
                    return None
                rows[hkey] = body
        return TableLookup(rows, self.match(None))

    def left(self, change: Change) -> list[Change]:
        if change.body is None:
            return []
        right = self.match(change.key)
        return [] if right is None else [Change(change.key, change.timestamp, change.body + right)]

    def right(self, change: Change) -> list[Change]:
        if change.key is not None:
            self.table.update(change)
            self.version += 1
        return []


class TableTableJoin:
    """Kafka Streams' KTable-KTable join rules; `outer` says which sides keep their rows when
    the other side has none (INNER: neither, LEFT: left, RIGHT: right, FULL: both)."""

    def __init__(
        self, store: KeyValueStore, outer: tuple[bool, bool], widths: tuple[int, int]
    ) -> None:
        self.sides = (_Materialized(store, "left"), _Materialized(store, "right"))
        self.outer = outer
        self.nulls = ((None,) * widths[0], (None,) * widths[1])

    def left(self, change: Change) -> list[Change]:
        return self._process(0, change)

    def right(self, change: Change) -> list[Change]:
        return self._process(1, change)

    def _process(self, side: int, change: Change) -> list[Change]:
        if change.key is None:
            return []
        old = self.sides[side].update(change)
        other = self.sides[1 - side].get(hashable(change.key))
        if other is None:
            if not self.outer[side] or (change.body is None and old is None):
                return []
            body = None if change.body is None else self._joined(side, change.body, None)
            return [Change(change.key, change.timestamp, body)]
        ts = max(change.timestamp, other[1])
        if change.body is None and not self.outer[1 - side]:
            return [Change(change.key, ts, None)]
        return [Change(change.key, ts, self._joined(side, change.body, other[0]))]

    def _joined(self, side: int, body: Body | None, other: Body | None) -> Body:
        mine = body if body is not None else self.nulls[side]
        theirs = other if other is not None else self.nulls[1 - side]
        return mine + theirs if side == 0 else theirs + mine


class ForeignKeyJoin:
    """Left rows subscribe to the right row their foreign key names; results are keyed by
    the left row's key. An inner join deletes a result whose right row goes away."""

    def __init__(
        self,
        store: KeyValueStore,
        foreign_key: Callable[[Body], Any],
        left_outer: bool,
        right_width: int,
    ) -> None:
        self.store = store
        self.lefts = _Materialized(store, "left")
        self.rights = _Materialized(store, "right")
        self.foreign_key = foreign_key
        self.left_outer = left_outer
        self.nulls = (None,) * right_width

    def _subscribers(self, fk: Any) -> dict[Any, Any]:
        return self.store.get(("subs", hashable(fk)), {})  # type: ignore[no-any-return]

    def _subscribe(self, fk: Any, hkey: Any, key: Any, on: bool) -> None:
        subs = dict(self._subscribers(fk))
        if on:
            subs[hkey] = key
        else:
            subs.pop(hkey, None)
        if subs:
            self.store.put(("subs", hashable(fk)), subs)
        else:
            self.store.delete(("subs", hashable(fk)))

    def left(self, change: Change) -> list[Change]:
        hkey = hashable(change.key)
        old = self.lefts.update(change)
        old_fk = self.foreign_key(old[0]) if old is not None else None
        new_fk = self.foreign_key(change.body) if change.body is not None else None
        if old_fk is not None and old_fk != new_fk:
            self._subscribe(old_fk, hkey, change.key, False)
        if new_fk is not None:
            self._subscribe(new_fk, hkey, change.key, True)
        if change.body is None:
            if old is None or (old_fk is None and not self.left_outer):
                return []
            return [Change(change.key, change.timestamp, None)]
        right = self.rights.get(hashable(new_fk)) if new_fk is not None else None
        if right is not None:
            ts = max(change.timestamp, right[1])
            return [Change(change.key, ts, change.body + right[0])]
        if self.left_outer:
            return [Change(change.key, change.timestamp, change.body + self.nulls)]
        if old_fk is not None and old_fk != new_fk:
            return [Change(change.key, change.timestamp, None)]
        return []

    def right(self, change: Change) -> list[Change]:
        if change.key is None:
            return []
        old = self.rights.update(change)
        if change.body is None and old is None:
            return []
        out: list[Change] = []
        subs = self._subscribers(change.key)
        for hkey in sorted(subs, key=_sort_key):
            left = self.lefts.get(hkey)
            if left is None:
                continue
            ts = max(change.timestamp, left[1])
            if change.body is not None:
                out.append(Change(subs[hkey], ts, left[0] + change.body))
            elif self.left_outer:
                out.append(Change(subs[hkey], ts, left[0] + self.nulls))
            else:
                out.append(Change(subs[hkey], ts, None))
        return out
