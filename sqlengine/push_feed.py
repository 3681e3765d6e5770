"""Push queries over one source share its reading: a `SourceFeed` reads each new batch of the
source topic once, decodes it once, and hands every subscribed query the rows it may select.

    subscription = feeds.subscribe(source, decoder, positions, route)
    entries = subscription.take()      # decoded rows, in order per partition
    subscription.wait(timeout)         # until the feed hands it some
    subscription.on_ready = callback   # or: told (on the feed's thread) when it may have some
    subscription.cancel()

Each query keeps its own WHERE and projection, its own start offsets and its own queue:

- A query whose WHERE requires a key column to equal a literal (`KeyRoute`) gets only the
  rows with that key (its WHERE still decides); 100 queries each selecting one key cost one
  dictionary lookup a row, not 100 WHERE evaluations.
- A query starting behind the feed (`earliest`, or opened while the feed was reading) reads
  the log itself until it reaches the feed's position, then joins it, partition by partition.
- A query whose client stops reading never stalls the feed: once MAX_QUEUED_ROWS wait in its
  queue, it is detached (its queue dropped, its positions set back to the first row it did not
  take) and reads the log itself again when its client resumes.

The feed runs on its own thread while it has subscribers, and ends with the last one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from grammar import ast
from planner.builder import QueryPlan
from planner.scope import Scope
from planner.table_functions import FlatMapNode
from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.log.base import Log, RecordBatch

Entry = tuple[tuple[Any, ...], bool]  # a decoded row, and whether it is a tombstone
Decode = Callable[[RecordBatch], list[Entry]]

MAX_QUEUED_ROWS = 20_000  # rows a query's client may leave unread before it reads on its own
WAIT_SECONDS = 0.5  # how long the feed waits for data before it looks at its subscribers again
ROUTABLE_TYPES = (T.Base.INTEGER, T.Base.BIGINT, T.Base.STRING, T.Base.BOOLEAN)
log = logging.getLogger("streamdb.push")


@dataclass(frozen=True)
class KeyRoute:
    """A WHERE that holds only where the decoded row's column `index` equals `value`."""

    index: int
    value: Any


def key_route(plan: QueryPlan) -> KeyRoute | None:
    """The key equality among the WHERE's top-level conjuncts (`k = 5 AND ...`), if any, for
    a source whose decoded rows carry the keys right after the pseudo columns."""
    source = plan.source
    if plan.where is None or source.window is not None or source.header_columns:
        return None
    node = plan.root.input  # type: ignore[attr-defined]
    if isinstance(node, FlatMapNode):
        node = node.input
    scope = Scope(node.columns)
    keys = [c.name for c in source.key_columns]
    for term in _conjuncts(plan.where):
        if not (isinstance(term, ast.BinaryOp) and term.op == "="):
            continue
        for ref, literal in ((term.left, term.right), (term.right, term.left)):
            if not (isinstance(ref, ast.ColumnRef) and isinstance(literal, ast.Literal)):
                continue
            column = scope.resolve_ref(ref)
            index = len(C.PSEUDO_COLUMNS) + keys.index(ref.name) if ref.name in keys else -1
            if column.index != index or literal.type is None:
                continue
            if column.type.base in ROUTABLE_TYPES and _comparable(column.type, literal.type):
                return KeyRoute(index, literal.value)
    return None


def _conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.BinaryOp) and expr.op.upper() == "AND":
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [expr]


def _comparable(column: T.SqlType, literal: T.SqlType) -> bool:
    """Does Python's == of the decoded value and the literal's value say what SQL's = says?"""
    integers = (T.Base.INTEGER, T.Base.BIGINT)
    return column.base == literal.base or (column.base in integers and literal.base in integers)


class Subscription:
    """One push query's share of a feed: its queue of decoded rows and, per partition, the
    next offset it reads and whether the feed hands it that partition's rows."""

    def __init__(self, feed: SourceFeed, positions: dict[int, int], route: KeyRoute | None):
        self.feed = feed
        self.route = route
        self.positions = dict(positions)  # guarded by feed.lock
        self.attached: set[int] = set()  # guarded by feed.lock
        self.queue: list[Entry] = []  # guarded by self.ready
        self.ready = threading.Condition(threading.Lock())
        self.cancelled = False
        # Called, from any thread, whenever `take` may find rows or should be called again
        # (rows queued, detached, cancelled): for a waiter on an event loop, not a thread.
        self.on_ready: Callable[[], None] | None = None

    @property
    def caught_up(self) -> bool:
        """Whether the feed hands it every partition's rows, so `take` reads no log."""
        with self.feed.lock:
            return self.attached.issuperset(self.positions)

    def take(self) -> list[Entry]:
        """What the feed queued for this query, then what it reads itself of the partitions
        it is behind on (joining the feed on each it catches up with)."""
        with self.ready:
            entries, self.queue = self.queue, []
        feed = self.feed
        with feed.lock:
            behind = {p: o for p, o in self.positions.items() if p not in self.attached}
        for partition, offset in behind.items():
            batch = feed.log.read(feed.topic, partition, offset)
            if len(batch):
                entries.extend(feed.decode(batch))
            with feed.lock:
                if len(batch):
                    self.positions[partition] = batch.next_offset
                feed.attach_if_caught_up(self, partition)
        return entries

    def wait(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds for rows; True if there may be some."""
        feed = self.feed
        with feed.lock:
            behind = {
                (feed.topic, p): o for p, o in self.positions.items() if p not in self.attached
            }
        if behind:
            return feed.log.wait_for_data(behind, timeout)
        with self.ready:
            if not self.queue and not self.cancelled:
                self.ready.wait(timeout)
            return bool(self.queue)

    def cancel(self) -> None:
        self.feed.remove(self)
        with self.ready:
            self.cancelled = True
            self.queue = []
            self.wake()

    def wake(self) -> None:
        """Under self.ready: tells its waiter, whether a thread or an event loop."""
        self.ready.notify_all()
        if self.on_ready is not None:
            self.on_ready()

    def deliver(self, entries: list[Entry]) -> None:
        """The feed's rows for this query (under feed.lock); too many unread: detached."""
        with self.ready:
            self.queue.extend(entries)
            if len(self.queue) > MAX_QUEUED_ROWS:
                for row, _ in self.queue:  # row: (ROWTIME, ROWPARTITION, ROWOFFSET, ...)
                    partition, offset = row[1], row[2]
                    self.positions[partition] = min(self.positions[partition], offset)
                self.queue = []
                self.attached.clear()
            self.wake()


class SourceFeed:
    """Reads one source topic from where the feed is, decodes each batch once and hands it
    to its subscribers (on its own thread, while it has any)."""

    def __init__(self, feeds: SourceFeeds, key: str, log: Log, topic: str, decode: Decode):
        self.feeds = feeds
        self.key = key
        self.log = log
        self.topic = topic
        self.decode = decode
        self.lock = threading.Lock()
        info = log.topic(topic)
        partitions = info.partitions if info is not None else 1
        self.positions = {p: log.end_offset(topic, p) for p in range(partitions)}
        self.subscribers: list[Subscription] = []
        # Routed subscribers by their column's index, then by the value it must equal.
        self.routes: dict[int, dict[Any, list[Subscription]]] = {}
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name=f"feed-{topic}", daemon=True)

    def add(self, subscription: Subscription) -> None:
        with self.lock:
            self.subscribers.append(subscription)
            route = subscription.route
            if route is not None:
                by_value = self.routes.setdefault(route.index, {})
                by_value.setdefault(route.value, []).append(subscription)
            for partition in subscription.positions:
                self.attach_if_caught_up(subscription, partition)

    def remove(self, subscription: Subscription) -> None:
        with self.lock:
            if subscription in self.subscribers:
                self.subscribers.remove(subscription)
            route = subscription.route
            if route is not None:
                routed = self.routes[route.index][route.value]
                routed.remove(subscription)
                if not routed:
                    del self.routes[route.index][route.value]
                if not self.routes[route.index]:
                    del self.routes[route.index]

    def attach_if_caught_up(self, subscription: Subscription, partition: int) -> None:
        """Under self.lock: a subscriber at or past the feed's position on a partition gets
        its rows from the feed from now on."""
        position = self.positions.get(partition)
        if not self.stopped and position is not None:
            if subscription.positions[partition] >= position:
                subscription.attached.add(partition)

    def _run(self) -> None:
        try:
            while self._step():
                pass
        except Exception:  # noqa: BLE001 - the subscribers read on their own and see it
            if not self.feeds.keep(self):
                return  # no one reads it any more: the last query ended as the log closed
            log.exception("the shared reader of topic %s failed", self.topic)
            with self.lock:
                self.stopped = True
                for subscription in self.subscribers:
                    subscription.attached.clear()
                    with subscription.ready:
                        subscription.wake()
            self.feeds.discard(self)

    def _step(self) -> bool:
        """Reads a batch of each partition with data and hands them out (each subscriber
        woken once for all of them), else waits for data; False once no one subscribes."""
        if not self.feeds.keep(self):
            return False
        with self.lock:
            positions = dict(self.positions)
        batches = []
        for partition, offset in positions.items():
            batch = self.log.read(self.topic, partition, offset)
            if len(batch):
                batches.append((partition, offset, batch.next_offset, self.decode(batch)))
        if not batches:
            waiting = {(self.topic, p): o for p, o in positions.items()}
            self.log.wait_for_data(waiting, WAIT_SECONDS)
            return True
        with self.lock:
            handed: dict[Subscription, list[Entry]] = {}
            for partition, first, next_offset, entries in batches:
                self.positions[partition] = next_offset
                for subscription, mine in self._route(partition, first, next_offset, entries):
                    handed.setdefault(subscription, []).extend(mine)
            for subscription, mine in handed.items():
                subscription.deliver(mine)
        return True

    def _route(
        self, partition: int, first: int, next_offset: int, entries: list[Entry]
    ) -> Iterator[tuple[Subscription, list[Entry]]]:
        """Under self.lock: the entries of each subscriber attached to the partition, from
        its position on; a routed one's only the rows with its key (and every tombstone).
        Each subscriber's position moves past the batch."""
        routed: dict[Subscription, list[Entry]] = {}
        if self.routes:
            for entry in entries:
                row, tombstone = entry
                if tombstone:
                    for subscription in self.subscribers:
                        if subscription.route is not None:
                            routed.setdefault(subscription, []).append(entry)
                    continue
                for index, by_value in self.routes.items():
                    for subscription in by_value.get(row[index], ()):
                        routed.setdefault(subscription, []).append(entry)
        for subscription in self.subscribers:
            if partition not in subscription.attached:
                continue
            mine = entries if subscription.route is None else routed.get(subscription, [])
            start = subscription.positions[partition]
            if start > first:  # it joined at an offset the batch starts before
                mine = [e for e in mine if e[0][2] >= start]
            subscription.positions[partition] = max(start, next_offset)
            if mine:
                yield subscription, mine


class SourceFeeds:
    """The running feeds of one log, by source."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.lock = threading.Lock()
        self.feeds: dict[str, SourceFeed] = {}

    def subscribe(
        self,
        source: C.DataSource,
        decode: Decode,
        positions: dict[int, int],
        route: KeyRoute | None,
    ) -> Subscription:
        """A subscription to the source's feed (started if none runs), from `positions`;
        `decode` decodes the source's batches should this start the feed."""
        key = repr(source)  # the same topic read as another schema is another feed
        with self.lock:
            feed = self.feeds.get(key)
            started = feed is None
            if feed is None:
                feed = self.feeds[key] = SourceFeed(self, key, self.log, source.topic, decode)
            subscription = Subscription(feed, positions, route)
            feed.add(subscription)
        if started:
            feed.thread.start()
        return subscription

    def keep(self, feed: SourceFeed) -> bool:
        """Whether a feed runs on: once it has no subscriber it is stopped and forgotten."""
        with self.lock, feed.lock:
            if feed.subscribers:
                return True
            self._forget(feed)
            return False

    def discard(self, feed: SourceFeed) -> None:
        with self.lock:
            self._forget(feed)

    def _forget(self, feed: SourceFeed) -> None:
        feed.stopped = True
        if self.feeds.get(feed.key) is feed:
            del self.feeds[feed.key]
