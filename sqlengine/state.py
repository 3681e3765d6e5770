"""State stores, as Kafka Streams keeps them: RocksDB on local disk behind a record cache,
made durable by a changelog topic in the log.

    stores = StateStores(log, state_dir)
    store = stores.open(changelog, group)   # restores: local data + the changelog's tail
    store.put(key, value); store.get(key); store.delete(key); store.items()
    store.flush()                           # dirty entries -> the changelog topic
    stores.commit(group, input_offsets)     # the group's offsets, then the local writes
    stores.close()

The changelog topic is the source of truth; the local RocksDB (`<state_dir>/<changelog>/`)
holds what it has applied of it, with a checkpoint (the changelog offset reached) written in
the same WriteBatch as the data. A flush appends the dirty entries to the changelog; a commit
then commits the group's input offsets together with the changelog position they go with
(one atomic group commit), then writes the entries and the checkpoint locally (dirty entries
not flushed, of a step that failed halfway, are not committed). So after a crash at any
point the local checkpoint is at or before the committed position: a store replays only the
changelog records between the two. Records appended after the committed position belong
to a batch whose input was not committed: the store leaves them out, the input is processed
again from the same state and rewrites the same keys, so they never count twice (and later
replays, which reach past them, see them overwritten). Missing or unreadable
local state, or state of another incarnation of the changelog topic (an id in the topic's
config), is rebuilt from the changelog.

The record cache is a dict of live entries in front of RocksDB. Hot loops read `cache`
first and call `load` on a miss; they may write `cache` and `dirty` together directly (a
value changed in place stays the cached object until it is written back). After a commit
the cache is trimmed to `cache_entries`, the least recently written entries first, so state
larger than memory stays on disk. Values are never None (`dirty` marks deletes with None).

Keys are tuples of SQL values (`frozen` makes them hashable). They are encoded with marshal
version 0, which writes equal keys as equal bytes (pickle's memo depends on object identity);
values with marshal version 2; either falls back to pickle for what marshal cannot encode
(decimals, accumulator objects). A transient query's state lives in a `MemoryStore`.

Partitioned stores (scale-out: servers split a query's source partitions, `scaleout.py`): the
changelog has as many partitions as the source, as Kafka Streams' changelogs, and a store
holds the partitions its process owns. What a batch of source partition p changes is flushed
to changelog partition p (`StateStores.processing`), and each owned partition's position is
committed. Opening such a store rebuilds its local state from its partitions' changelogs
(a new assignment brings partitions local state never held, and takes away others).
"""

from __future__ import annotations

import io
import marshal
import math
import pickle
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from rocksdict import (
    BlockBasedOptions,
    Cache,
    Options,
    Rdict,
    ReadOptions,
    WriteBatch,
)

from sqlengine.log.base import Log

# Entries a store's record cache keeps after a commit (~300 bytes each for a GROUP BY).
CACHE_ENTRIES = 100_000
# The changelog topic's config entry naming its incarnation: local state of an older topic
# of the same name (a dropped and re-created table) must not be taken for this one's.
STORE_ID_CONFIG = "streamdb.store.id"
# Reserved keys start with a zero byte, which no encoded key does (marshal's first byte is a
# type code, pickle's 0x80).
_CHECKPOINT = b"\x00checkpoint"
_STORE_ID = b"\x00store-id"
_FIRST_KEY = b"\x01"
_PICKLED = 0x80
_RESTORE_BATCH = 50_000
_MISSING = object()


def frozen(value: Any) -> Any:
    """A hashable form of a SQL value (STRUCT/MAP dicts and ARRAY lists become tuples), for
    use in store keys. Distinct values stay distinct: a dict's form is tagged."""
    if isinstance(value, dict):
        return ("__map__", tuple((frozen(k), frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


def encode_key(key: Any) -> bytes:
    try:
        return marshal.dumps(key, 0)
    except ValueError:
        return _pickle_canonical(key)


def _pickle_canonical(value: Any) -> bytes:
    """Pickle without its memo, so that the bytes do not depend on which equal values
    are one object."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    pickler.fast = True
    pickler.dump(value)
    return out.getvalue()


def encode_value(value: Any) -> bytes:
    try:
        return marshal.dumps(value, 2)
    except ValueError:
        return pickle.dumps(value, protocol=5)


def decode(data: bytes) -> Any:
    """A key or a value from its encoding."""
    if data[0] == _PICKLED:
        return pickle.loads(data)  # noqa: S301 - our own state
    return marshal.loads(data)


class KeyValueStore:
    """What stores share: the record cache, the dirty entries, and the operations over them.
    `_fetch` finds what the cache does not hold (a subclass's storage)."""

    def __init__(self) -> None:
        self.cache: dict[Any, Any] = {}
        # Entries changed since the last flush (None: deleted).
        self.dirty: dict[Any, Any] = {}

    def _fetch(self, key: Any) -> Any:
        """The stored value of a key the cache does not hold, or None."""
        return None

    def load(self, key: Any) -> Any:
        """On a cache miss: the stored value (now cached), or None."""
        value = self._fetch(key)
        if value is not None:
            self.cache[key] = value
        return value

    def peek(self, key: Any) -> Any:
        """The value or None, for a reader on another thread: it caches nothing (a cached
        copy could replace an entry the query thread is changing)."""
        value = self.cache.get(key)
        return value if value is not None else self._fetch(key)

    def get(self, key: Any, default: Any = None) -> Any:
        value = self.cache.get(key)
        if value is None:
            value = self.load(key)
        return default if value is None else value

    def put(self, key: Any, value: Any) -> None:
        self.cache[key] = value
        self.dirty[key] = value

    def delete(self, key: Any) -> None:
        if self.cache.pop(key, None) is not None or self._fetch(key) is not None:
            self.dirty[key] = None

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Every entry; callers change the store only after iterating."""
        raise NotImplementedError

    def order_keys(self, order: Callable[[Any], float], stored_up_to: float) -> None:
        """Keys have an order (a windowed group's window start; inf: unordered), and no key
        stored so far has one above `stored_up_to`: a miss of a key ordered above every
        key that went to disk then needs no disk read (nothing, in memory)."""

    def stored_order_max(self) -> float:
        """No key ordered (`order_keys`) above this is stored outside the cache: a miss of
        one is a new key, and reads nothing (-inf: no miss reads; inf: any miss may)."""
        return -math.inf

    def keys(self) -> Iterator[Any]:
        return (key for key, _ in self.items())

    def flush(self) -> None:
        """Write the dirty entries to the changelog (nothing, in memory)."""
        self.dirty.clear()

    def close(self) -> None:
        """Release local storage (nothing, in memory)."""


class MemoryStore(KeyValueStore):
    """A transient query's state: the cache is the whole store."""

    def items(self) -> Iterator[tuple[Any, Any]]:
        return iter(list(self.cache.items()))  # a snapshot, as a persistent store's scan


def _options() -> Options:
    """Small buffers, so that many stores in one process stay cheap (every test case opens
    some); the record cache in front absorbs the hot keys."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(8 << 20)
    options.set_max_write_buffer_number(2)
    options.set_keep_log_file_num(1)
    # Misses are common (a new group's key): Bloom filters, on the memtable too (half the
    # cost of a miss), answer most without a search.
    options.set_memtable_prefix_bloom_ratio(0.1)
    options.set_memtable_whole_key_filtering(True)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(8 << 20))
    table.set_bloom_filter(10, False)
    options.set_block_based_table_factory(table)
    return options


def _scan_options() -> ReadOptions:
    """A full scan should not push the hot blocks out of the block cache."""
    options = ReadOptions()
    options.fill_cache(False)
    return options


class PersistentStore(KeyValueStore):
    """A store on local RocksDB behind the record cache, durable through its changelog.
    Opening it restores it (see the module docstring); `restored` counts the changelog
    records that took."""

    def __init__(
        self,
        log: Log,
        changelog: str,
        group: str,
        directory: Path,
        cache_entries: int,
        partitioning: StorePartitions | None = None,
    ) -> None:
        super().__init__()
        self.log = log
        self.changelog = changelog
        self.cache_entries = cache_entries
        # Entries in the changelog, not yet in RocksDB: encoded key -> value (None: deleted).
        self._unwritten: dict[bytes, bytes | None] = {}
        info = log.topic(changelog)
        if info is None:
            config = {"cleanup.policy": "compact", STORE_ID_CONFIG: uuid.uuid4().hex}
            count = 1 if partitioning is None else partitioning.count
            info = log.create_topic(changelog, count, config=config)
        store_id = info.config.get(STORE_ID_CONFIG)
        if store_id is None:
            raise ValueError(
                f"state changelog {changelog} was written by an older streamdb; "
                "start over with a new data directory"
            )
        self.partitioned = partitioning is not None
        self.partitions = (0,) if partitioning is None else tuple(sorted(partitioning.owned))
        # The changelog partition a flush appends to (that of the batch being processed).
        self.flush_partition = self.partitions[0] if self.partitions else 0
        # The group's committed positions in the changelog, under a name of this incarnation.
        self.name = f"{changelog}#{store_id}"
        committed = log.committed(group)
        self.ends = {
            p: min(committed.get((self.name, p), 0), log.end_offset(changelog, p))
            for p in self.partitions
        }
        self.restored = 0
        self.db = self._open(directory, store_id.encode())
        # While RocksDB holds nothing the cache does not, a miss needs no read.
        self._complete = not self._has_data()
        # With ordered keys (`order_keys`), neither does a miss of a key ordered above every
        # key RocksDB holds without the cache: those were evicted, or there at the open.
        self._order: Callable[[Any], float] | None = None
        self._disk_order_max = -math.inf

    @property
    def logged_end(self) -> int:
        """Moves with every flush: the changelog records written up to the committed and
        flushed positions, over the partitions held."""
        return sum(self.ends.values())

    @property
    def position(self) -> tuple[str, int]:
        """The committed position's entry of an unpartitioned store (its partition 0)."""
        return (self.name, 0)

    def positions(self) -> dict[tuple[str, int], int]:
        """The changelog positions a commit records: what each partition held has flushed."""
        return {(self.name, p): end for p, end in self.ends.items()}

    def _open(self, directory: Path, store_id: bytes) -> Rdict:
        """The local RocksDB, caught up with the changelog to the committed position."""
        db: Rdict | None = None
        try:
            db = Rdict(str(directory), _options())
            checkpoint = db.get(_CHECKPOINT)
            usable = (
                not self.partitioned
                and db.get(_STORE_ID) == store_id
                and checkpoint is not None
                and int(checkpoint) <= self.logged_end
            )
        except Exception as exc:  # noqa: BLE001 - whatever breaks local state, rebuild it
            if "LOCK" in str(exc):
                raise  # open elsewhere in this process: not ours to rebuild
            usable = False
        if not usable:
            if db is not None:
                db.close()
            shutil.rmtree(directory, ignore_errors=True)
            db = Rdict(str(directory), _options())
            batch = WriteBatch(raw_mode=True)
            batch.put(_STORE_ID, store_id)
            batch.put(_CHECKPOINT, b"0")
            db.write(batch)
            checkpoint = b"0"
        assert db is not None and checkpoint is not None
        for partition, end in self.ends.items():
            self._replay(db, partition, 0 if self.partitioned else int(checkpoint), end)
        return db

    def _replay(self, db: Rdict, partition: int, offset: int, end: int) -> None:
        """Apply a changelog partition from `offset` to the committed position `end`, a
        WriteBatch (with its checkpoint) per read: bytes as they are, nothing decoded."""
        while offset < end:
            records = self.log.read(self.changelog, partition, offset, _RESTORE_BATCH)
            if not len(records):
                break
            batch = WriteBatch(raw_mode=True)
            for position, key, value in zip(
                records.offsets, records.keys, records.values, strict=True
            ):
                if position >= end:
                    break
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
                self.restored += 1
            offset = min(records.next_offset, end)
            batch.put(_CHECKPOINT, str(offset).encode())
            db.write(batch)

    def _has_data(self) -> bool:
        cursor = self.db.iter()
        cursor.seek(_FIRST_KEY)
        found = cursor.valid()
        del cursor  # an open iterator keeps RocksDB from closing
        return bool(found)

    def _fetch(self, key: Any) -> Any:
        value = self.dirty.get(key, _MISSING)
        if value is not _MISSING:
            return value  # changed since the last flush; not in the cache: deleted
        if (
            self._complete
            or (order := self._order) is not None
            and (order(key) > self._disk_order_max)
        ):
            return None
        encoded = encode_key(key)
        raw = self._unwritten.get(encoded, _MISSING)
        if raw is _MISSING:
            raw = self.db.get(encoded)
        return None if raw is None else decode(raw)  # type: ignore[arg-type]

    def items(self) -> Iterator[tuple[Any, Any]]:
        """The cache's entries, then RocksDB's that the cache neither holds nor deletes.
        Snapshots first, so that a reader on another thread sees every key that exists
        throughout; the scanned values are not cached."""
        cached = dict(self.cache)
        deleted = {key for key, value in list(self.dirty.items()) if value is None}
        unwritten = dict(self._unwritten)
        yield from cached.items()
        if self._complete:
            return
        for encoded, raw in self.db.items(from_key=_FIRST_KEY, read_opt=_scan_options()):
            if encoded in unwritten:
                continue  # newer in the cache, or deleted
            key = decode(encoded)
            if key not in cached and key not in deleted:
                yield key, decode(raw)

    def stored_order_max(self) -> float:
        if self._complete:
            return -math.inf
        return math.inf if self._order is None else self._disk_order_max

    def order_keys(self, order: Callable[[Any], float], stored_up_to: float) -> None:
        self._order = order
        self._disk_order_max = -math.inf if self._complete else stored_up_to

    def flush(self) -> None:
        """Append the dirty entries to the changelog; they are written locally on commit."""
        if not self.dirty:
            return
        keys = [encode_key(k) for k in self.dirty]
        values = [None if v is None else encode_value(v) for v in self.dirty.values()]
        partition = self.flush_partition
        written = self.log.append_batch(
            self.changelog, keys, values, [0] * len(keys), partition=partition
        )
        self.ends[partition] = written[partition].stop
        self._unwritten.update(zip(keys, values, strict=True))
        if len(self.cache) > self.cache_entries:
            # Just written: to the end of the cache's order, the last to be evicted.
            cache = self.cache
            for key, value in self.dirty.items():
                if value is not None:
                    cache[key] = cache.pop(key)
        self.dirty.clear()

    def write_local(self) -> None:
        """After the commit: the appended entries and the checkpoint, in one WriteBatch;
        then the cache is trimmed (reads fill it too)."""
        if self._unwritten:
            batch = WriteBatch(raw_mode=True)
            for key, value in self._unwritten.items():
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
            batch.put(_CHECKPOINT, str(self.logged_end).encode())
            self.db.write(batch)
            self._unwritten.clear()
        self._evict()

    def _evict(self) -> None:
        excess = len(self.cache) - self.cache_entries
        if excess <= 0:
            return
        # A reader must stop trusting the cache to hold everything before entries go.
        self._complete = False
        # A tenth of the bound more than needed, so that evictions come in rare batches.
        evicted = [
            key
            for key in islice(self.cache, excess + self.cache_entries // 10)
            if key not in self.dirty
        ]
        for key in evicted:
            del self.cache[key]
        if self._order is not None and evicted:
            self._disk_order_max = max(self._disk_order_max, *map(self._order, evicted))

    def close(self) -> None:
        self.db.close()


@dataclass(frozen=True)
class StorePartitions:
    """A partitioned store's changelog: `count` partitions (the source's), `owned` held here."""

    count: int
    owned: frozenset[int]


class StateStores:
    """The stores of a query (or of a materialized table), by consumer group, and their
    commit: the group's input offsets with the positions of what the stores have flushed to
    their changelogs, in one group commit, then the local writes. With `partitioning`, the
    stores are partitioned (see the module docstring)."""

    def __init__(
        self,
        log: Log,
        state_dir: Path,
        cache_entries: int = CACHE_ENTRIES,
        partitioning: StorePartitions | None = None,
    ) -> None:
        self.log = log
        self.state_dir = state_dir
        self.cache_entries = cache_entries
        self.partitioning = partitioning
        self.stores: dict[str, list[PersistentStore]] = {}

    def open(self, changelog: str, group: str) -> PersistentStore:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        store = PersistentStore(
            self.log,
            changelog,
            group,
            self.state_dir / changelog,
            self.cache_entries,
            self.partitioning,
        )
        self.stores.setdefault(group, []).append(store)
        return store

    def processing(self, partition: int) -> None:
        """A batch of source partition `partition` is processed next: partitioned stores
        flush what it changes to that changelog partition."""
        if self.partitioning is None:
            return
        for stores in self.stores.values():
            for store in stores:
                store.flush_partition = partition

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        stores = self.stores.get(group, [])
        positions = {k: v for store in stores for k, v in store.positions().items()}
        self.log.commit(group, {**offsets, **positions})
        for store in stores:
            store.write_local()

    def close(self) -> None:
        for stores in self.stores.values():
            for store in stores:
                store.close()
        self.stores.clear()


def drop_local_state(state_dir: Path, log: Log) -> None:
    """Delete the local state of stores whose changelog topic is gone (a terminated query's,
    a dropped table's); their changelogs are deleted with them."""
    if not state_dir.is_dir():
        return
    for directory in state_dir.iterdir():
        if log.topic(directory.name) is None:
            shutil.rmtree(directory, ignore_errors=True)
