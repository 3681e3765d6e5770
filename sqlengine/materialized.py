"""Materialized tables: the latest row per key of every queryable table, for pull queries.

A table is queryable when a persistent query writes it (CREATE TABLE AS SELECT, windowed
aggregations and joins included) or when it is declared with CREATE SOURCE TABLE. Each one
gets a `MaterializedTable` that follows the table's topic, as ksqlDB's state stores follow
the records the query emits: a record replaces the row of its key (of its key and window, for
a windowed table), a tombstone deletes it. The rows live in a durable store (`state`), its
changelog position committed with the read offsets, so a restarted engine finds them on
local disk (or restores them) and resumes where it stopped.

    tables = Materializations(log, plog, registry, queries, state_dir)
    tables.sync(catalog)          # after catalog changes: follow new tables, drop old ones
    tables.step()                 # read what the tables' topics gained
    table = tables.get("T")
    table.lookup([("k1",), ("k2",)])  # key lookups: no scan
    table.scan()                       # every row, in the store's key order

Rows have the shape of decoded source rows (ROWTIME, ROWPARTITION, ROWOFFSET, keys...,
values..., [WINDOWSTART, WINDOWEND], headers), so a pull query's compiled stage reads them
as a push query reads the topic.
"""

from __future__ import annotations

import decimal
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlengine import catalog as C
from sqlengine import types as T
from sqlengine.aggregation_step import AggregationStep
from sqlengine.log.base import Log, default_partition
from sqlengine.processing_log import ProcessingLog
from sqlengine.runtime import SourceDecoder
from sqlengine.schema_registry import SchemaRegistry
from sqlengine.state import StateStores, frozen

Row = tuple[Any, ...]
STORE_PREFIX = "_streamdb_materialized_"


def is_queryable(source: C.DataSource) -> bool:
    """Whether pull queries can read the table: a query writes it, or it is a SOURCE table."""
    return source.kind == "TABLE" and (source.is_source or source.created_by_query is not None)


class MaterializedTable:
    """The latest row per key (and window) of one table's topic, in a durable store."""

    def __init__(
        self,
        source: C.DataSource,
        log: Log,
        plog: ProcessingLog,
        registry: SchemaRegistry | None,
        state_dir: Path,
    ) -> None:
        self.source = source
        self.log = log
        self.decoder = SourceDecoder(source, plog, registry=registry)
        self.nkeys = len(source.key_columns)
        self.windowed = source.window is not None
        self.changelog = f"{STORE_PREFIX}{source.name}-changelog"
        self.group = f"{STORE_PREFIX}{source.name}"
        self.state_dir = state_dir
        self.stores = StateStores(log, state_dir)
        # Entries: store key (key values, window) -> (sort key, row).
        self.store = self.stores.open(self.changelog, self.group)
        # Windows per key, so a windowed key lookup reads only that key's windows; an
        # unwindowed table needs neither this index nor the scan that builds it.
        self.windows: dict[Any, set[tuple[int, int]]] = {}
        if self.windowed:
            for store_key in self.store.keys():
                self.windows.setdefault(store_key[0], set()).add(store_key[1])
        info = log.topic(source.topic)
        committed = log.committed(self.group)
        partitions = info.partitions if info else 0
        self.positions = {p: committed.get((source.topic, p), 0) for p in range(partitions)}

    def step(self, max_records: int = 10_000) -> int:
        """Apply what the topic gained since the last step; returns the records read."""
        done = 0
        topic = self.source.topic
        for partition, offset in self.positions.items():
            batch = self.log.read(topic, partition, offset, max_records)
            if not len(batch):
                continue
            # Rows carry their offset: it finds each row's key bytes, for the scan order.
            key_bytes = dict(zip(batch.offsets, batch.keys, strict=True))
            for row, tombstone in self.decoder.decode(batch):
                self._apply(row, tombstone, key_bytes[row[2]])
            self.store.flush()
            self.positions[partition] = batch.next_offset
            self.stores.commit(self.group, {(topic, partition): batch.next_offset})
            done += len(batch)
        return done

    def _apply(self, row: Row, tombstone: bool, key_bytes: bytes | None) -> None:
        key = frozen(row[3 : 3 + self.nkeys])
        window = tuple(row[-3:-1]) if self.windowed else ()
        store_key = (key, window)
        if tombstone:
            self.store.delete(store_key)
            if self.windowed:
                self.windows.get(key, set()).discard(window)  # type: ignore[arg-type]
            return
        self.store.put(store_key, (_sort_key(row[1], key_bytes, window), row))
        if self.windowed:
            self.windows.setdefault(key, set()).add(window)  # type: ignore[arg-type]

    def lookup(self, keys: Iterable[tuple[Any, ...]]) -> list[Row]:
        """The rows of the given keys (every window of each, for a windowed table). Safe
        without the engine lock while `step` runs: reads go through the store's `peek`
        (and a set of windows), of entries that are replaced whole, never changed in place."""
        found: list[tuple[bytes, Row]] = []
        for key in keys:
            k = frozen(typed_key(key, self.source))
            windows = sorted(self.windows.get(k, ())) if self.windowed else [()]
            for window in windows:
                entry = self.store.peek((k, window))
                if entry is not None:
                    found.append(entry)
        return [row for _, row in found]

    def scan(self) -> list[Row]:
        """Every row, in the order of `_sort_key`."""
        entries = sorted((entry for _, entry in self.store.items()), key=lambda e: e[0])
        return [row for _, row in entries]

    def rows(self) -> list[Row]:
        """Every row, in no particular order (a scan without its sort)."""
        return [row for _, (_, row) in self.store.items()]

    def version(self) -> tuple[tuple[int, int], ...]:
        """Changes whenever the rows may have: the topic's read positions."""
        return tuple(sorted(self.positions.items()))

    def internal_topics(self) -> list[str]:
        return [self.changelog]

    def drop(self) -> None:
        """The table is gone: delete the store and forget the read positions."""
        self.stores.close()
        shutil.rmtree(self.state_dir / self.changelog, ignore_errors=True)
        for topic in self.internal_topics():
            if self.log.topic(topic) is not None:
                self.log.delete_topic(topic)
        self.log.commit(self.group, {(self.source.topic, p): 0 for p in self.positions})

    def close(self) -> None:
        self.stores.close()


class AggregateView:
    """A table a GROUP BY query writes, read from the aggregation's own store, as ksqlDB
    reads its aggregation state store: the table's rows are computed from the accumulators
    when asked, so they are held once (a copy of 1M groups would double the memory), and
    a windowed table's windows past retention are gone from it as from ksqlDB's. Same
    reading interface as MaterializedTable."""

    def __init__(self, source: C.DataSource, aggregation: AggregationStep, partitions: int) -> None:
        self.source = source
        self.windowed = source.window is not None
        self.aggregation = aggregation
        self.partitions = partitions
        self.key_ser = aggregation.output.key_ser  # type: ignore[attr-defined]

    def step(self) -> int:
        return 0  # the query itself keeps the store current

    def _rows(self, keys: Iterable[tuple[Any, ...]] | None) -> list[tuple[bytes, Row]]:
        """Rows in decoded-record shape (ROWTIME, ROWPARTITION, ROWOFFSET, keys..., values...,
        [WINDOWSTART, WINDOWEND], headers), each with its scan position."""
        nkeys = len(self.source.key_columns)
        out = []
        for ts, *columns in self.aggregation.current_rows(keys):
            key_bytes = self.key_ser(columns[:nkeys])
            partition = default_partition(key_bytes, self.partitions)
            window = columns[-2:] if self.windowed else ()
            out.append((_sort_key(partition, key_bytes, window), (ts, partition, 0, *columns, ())))
        return out

    def lookup(self, keys: Iterable[tuple[Any, ...]]) -> list[Row]:
        return [row for _, row in self._rows(typed_key(key, self.source) for key in keys)]

    def scan(self) -> list[Row]:
        return [row for _, row in sorted(self._rows(None), key=lambda e: e[0])]

    def rows(self) -> list[Row]:
        """Every row, in no particular order (no partition or scan position computed)."""
        return [(ts, 0, 0, *columns, ()) for ts, *columns in self.aggregation.current_rows(None)]

    def version(self) -> int | None:
        """The end of what the aggregation's store wrote to its changelog (moves with every
        flushed update); None for a store without one (nothing tells a change)."""
        return getattr(self.aggregation.store, "logged_end", None)

    def internal_topics(self) -> list[str]:
        return []

    def drop(self) -> None:
        """Nothing of its own to delete: the store belongs to the query."""

    def close(self) -> None:
        """Nothing of its own to close: the store belongs to the query."""


def typed_key(key: tuple[Any, ...], source: C.DataSource) -> tuple[Any, ...]:
    """A pull query's key literals as the key columns hold them: stores find keys by their
    encoding, where 1 is not 1.0 (nor DECIMAL 1.5 1.50)."""
    out = []
    for value, column in zip(key, source.key_columns, strict=False):
        if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
            out.append(value)
        elif column.type.base is T.Base.DOUBLE:
            out.append(float(value))
        elif isinstance(column.type, T.Decimal):
            exponent = decimal.Decimal(1).scaleb(-column.type.scale)
            out.append(decimal.Decimal(str(value)).quantize(exponent))
        else:
            out.append(value)
    return tuple(out)


def _sort_key(partition: int, key_bytes: bytes | None, window: tuple[Any, ...]) -> bytes:
    """Partition by partition, then by key bytes and window start: ksqlDB scans each
    partition's RocksDB store in turn."""
    start = window[0] if window else 0
    return (
        partition.to_bytes(4, "big")
        + (key_bytes or b"")
        + int(start).to_bytes(8, "big", signed=True)
    )


Materialized = MaterializedTable | AggregateView


class Materializations:
    """The materialized tables of a catalog, by table name."""

    def __init__(
        self,
        log: Log,
        plog: ProcessingLog,
        registry: SchemaRegistry | None,
        queries: Mapping[str, object],
        state_dir: Path,
    ) -> None:
        self.log = log
        self.plog = plog
        self.registry = registry
        self.queries = queries  # the running persistent queries, by id
        self.state_dir = state_dir  # where the tables' stores keep their local state
        self.tables: dict[str, Materialized] = {}

    def get(self, name: str) -> Materialized | None:
        return self.tables.get(name)

    def _materialize(self, source: C.DataSource) -> Materialized:
        query = self.queries.get(source.created_by_query or "")
        step = getattr(query, "aggregation", None)  # GROUP BY queries, over a join or not
        if isinstance(step, AggregationStep) and step.viewable:
            info = self.log.topic(source.topic)
            return AggregateView(source, step, info.partitions if info else 1)
        return MaterializedTable(source, self.log, self.plog, self.registry, self.state_dir)

    def sync(self, catalog: C.Catalog) -> None:
        """Follow every queryable table of `catalog`; drop (with its store) every table that
        is gone or was replaced by another of the same name."""
        for name, table in list(self.tables.items()):
            current = catalog.sources.get(name)
            if current is table.source and is_queryable(current):
                continue
            del self.tables[name]
            table.drop()
        for name, source in catalog.sources.items():
            if name not in self.tables and is_queryable(source):
                self.tables[name] = self._materialize(source)

    def step(self) -> int:
        return sum(table.step() for table in list(self.tables.values()))

    def forget_query(self, query_id: str) -> None:
        """The query was built anew (`scaleout`): the tables read from its old store go, for
        `sync` to read them from the new one."""
        for name, table in list(self.tables.items()):
            if isinstance(table, AggregateView) and table.source.created_by_query == query_id:
                del self.tables[name]

    def close(self) -> None:
        for table in self.tables.values():
            table.close()
