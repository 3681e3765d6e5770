"""State stores on RocksDB behind a record cache, durable through changelog topics: restore
from local state plus the changelog's committed tail, rebuild when local state is missing,
bounded caches; window assignment follows Kafka Streams."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from sqlengine.aggregation import WindowSpec
from sqlengine.log import EmbeddedLog
from sqlengine.state import PersistentStore, StateStores, encode_key

GROUP = "_streamdb_query_Q1"
CHANGELOG = "q1-agg-changelog"
INPUT = {("in", 0): 7}


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EmbeddedLog]:
    log = EmbeddedLog(tmp_path / "log")
    yield log
    log.close()


def _reopen(
    log: EmbeddedLog, state_dir: Path, cache_entries: int = 100_000
) -> tuple[StateStores, PersistentStore]:
    stores = StateStores(log, state_dir, cache_entries)
    return stores, stores.open(CHANGELOG, GROUP)


def _commit(stores: StateStores, store: PersistentStore) -> None:
    """A step's end: its state flushed to the changelog, then committed with its input."""
    store.flush()
    stores.commit(GROUP, INPUT)


def test_committed_entries_survive_reopen_without_replaying_the_changelog(
    log: EmbeddedLog, tmp_path: Path
) -> None:
    stores, store = _reopen(log, tmp_path / "state")
    store.put(("a",), [1, 2])
    store.put(("b",), [3])
    _commit(stores, store)
    store.put(("a",), [9])
    store.delete(("b",))
    store.put(("c",), {"x": 1})
    _commit(stores, store)
    store.put(("d",), [0])  # never flushed (a step failed halfway): not committed
    stores.commit(GROUP, INPUT)
    stores.close()

    stores, restored = _reopen(log, tmp_path / "state")
    assert dict(restored.items()) == {("a",): [9], ("c",): {"x": 1}}
    assert restored.restored == 0  # local state was current: no changelog record read
    assert log.committed(GROUP)[("in", 0)] == 7
    stores.close()


def test_missing_local_state_is_rebuilt_from_the_changelog(
    log: EmbeddedLog, tmp_path: Path
) -> None:
    stores, store = _reopen(log, tmp_path / "state")
    for i in range(1000):
        store.put((f"k{i}",), [i])
    _commit(stores, store)
    store.delete(("k0",))
    _commit(stores, store)
    stores.close()

    for broken in ("deleted", "corrupt"):
        directory = tmp_path / "state" / CHANGELOG
        if broken == "deleted":
            shutil.rmtree(directory)
        else:
            (directory / "CURRENT").write_text("garbage\n")
        stores, rebuilt = _reopen(log, tmp_path / "state")
        assert rebuilt.restored == 1001  # every changelog record, the delete included
        assert rebuilt.get(("k0",)) is None and rebuilt.get(("k999",)) == [999]
        assert len(dict(rebuilt.items())) == 999
        stores.close()


def test_uncommitted_changelog_tail_is_left_out_and_a_committed_one_replayed(
    log: EmbeddedLog, tmp_path: Path
) -> None:
    """A crash between the changelog append and the group commit: the batch is processed
    again, so its records must not count. A crash after the group commit, before the local
    write: the store replays them."""
    stores, store = _reopen(log, tmp_path / "state")
    store.put(("n",), [1])
    _commit(stores, store)
    store.put(("n",), [2])
    store.flush()  # appended to the changelog, then "killed" before the commit
    stores.close()

    stores, store = _reopen(log, tmp_path / "state")
    assert store.get(("n",)) == [1] and store.restored == 0
    store.put(("n",), [2])  # the batch again, from the same state
    store.flush()
    log.commit(GROUP, {store.position: store.logged_end})  # committed, "killed" before RocksDB
    stores.close()

    stores, store = _reopen(log, tmp_path / "state")
    # The replay passes the aborted record too; the batch done again overwrites it.
    assert store.get(("n",)) == [2] and store.restored == 2
    stores.close()
    shutil.rmtree(tmp_path / "state")  # a full rebuild passes the aborted record, overwritten
    stores, store = _reopen(log, tmp_path / "state")
    assert store.get(("n",)) == [2] and store.restored == 3
    stores.close()


def test_store_larger_than_its_cache_round_trips(log: EmbeddedLog, tmp_path: Path) -> None:
    stores, store = _reopen(log, tmp_path / "state", cache_entries=100)
    for batch in range(20):
        for i in range(batch * 250, batch * 250 + 250):
            store.put((f"k{i}", i % 7), [i, Decimal(i) / 4])
        if batch % 3 == 0:
            store.delete((f"k{batch}", batch % 7))
        _commit(stores, store)
        assert len(store.cache) <= 100
    deleted = {(f"k{b}", b % 7) for b in range(0, 20, 3)}
    expected = {
        (f"k{i}", i % 7): [i, Decimal(i) / 4]
        for i in range(5000)
        if (f"k{i}", i % 7) not in deleted
    }
    assert dict(store.items()) == expected
    assert all(store.peek(key) == value for key, value in expected.items())
    assert all(store.get(key) is None for key in deleted)
    entry = store.get(("k4321", 4321 % 7))  # from disk into the cache, changed in place
    entry[0] = -1
    store.dirty[("k4321", 4321 % 7)] = entry
    _commit(stores, store)
    stores.close()

    stores, store = _reopen(log, tmp_path / "state", cache_entries=100)
    expected[("k4321", 4321 % 7)] = [-1, Decimal(4321) / 4]
    assert dict(store.items()) == expected and store.restored == 0
    stores.close()


def test_ordered_keys_read_disk_only_for_keys_it_may_hold(log: EmbeddedLog, tmp_path: Path) -> None:
    """With windowed keys ordered by window start, a miss reads RocksDB only for a window
    that starts at or before some window the cache let go of (or found there at the open);
    every evicted or restored window is still found."""

    def start(key: tuple[object, ...]) -> float:
        return key[1][0] if isinstance(key[1], tuple) else float("inf")

    stores, store = _reopen(log, tmp_path / "state", cache_entries=10)
    store.order_keys(start, -1)
    for t in range(0, 100, 5):  # 20 windows, 10 of them evicted at each commit
        store.put(("k", (t, t + 5)), [t])
        _commit(stores, store)
    reads: list[bytes] = []
    db = store.db
    store.db = _Counting(db, reads)  # type: ignore[assignment]
    assert store.peek(("k", (0, 5))) == [0]  # evicted: read from disk
    assert store.peek(("k", (1000, 1005))) is None and len(reads) == 1  # new: no read
    store.db = db
    stores.close()

    stores, store = _reopen(log, tmp_path / "state", cache_entries=10)
    store.order_keys(start, 95)  # the stream time reached: no stored window starts after it
    assert all(store.get(("k", (t, t + 5))) == [t] for t in range(0, 100, 5))
    assert store.get(("k", (100, 105))) is None
    stores.close()


class _Counting:
    """A RocksDB handle that notes the keys read."""

    def __init__(self, db: object, reads: list[bytes]) -> None:
        self.db, self.reads = db, reads

    def get(self, key: bytes) -> object:
        self.reads.append(key)
        return self.db.get(key)  # type: ignore[attr-defined]


def test_a_recreated_changelog_topic_does_not_adopt_old_local_state(
    log: EmbeddedLog, tmp_path: Path
) -> None:
    stores, store = _reopen(log, tmp_path / "state")
    store.put(("old",), [1])
    _commit(stores, store)
    stores.close()
    log.delete_topic(CHANGELOG)  # the table was dropped, and one of the same name created

    stores, store = _reopen(log, tmp_path / "state")
    assert dict(store.items()) == {}
    stores.close()


def test_equal_keys_encode_equally() -> None:
    a = "sensor-" + "1"
    b = "".join(["sensor-", "1"])
    assert a is not b
    assert encode_key(((a, a), None)) == encode_key(((a, b), None))
    assert encode_key((Decimal("1.50"), a, a)) == encode_key((Decimal("1.50"), a, b))


def test_hopping_and_tumbling_windows() -> None:
    hopping = WindowSpec("HOPPING", size=10_000, advance=5_000, grace=0, retention=0)
    assert hopping.windows_for(12_000) == [(5_000, 15_000), (10_000, 20_000)]
    assert hopping.windows_for(3_000) == [(0, 10_000)]
    tumbling = WindowSpec("TUMBLING", size=30_000, advance=30_000, grace=0, retention=0)
    assert tumbling.windows_for(89_999) == [(60_000, 90_000)]
    assert tumbling.windows_for(90_000) == [(90_000, 120_000)]


def test_windowed_state_is_bounded_by_retention(log: EmbeddedLog, tmp_path: Path) -> None:
    from sqlengine import types as T
    from sqlengine.aggregates import resolve_aggregate
    from sqlengine.aggregation import AggregateOperator

    stores, store = _reopen(log, tmp_path / "state")
    spec = WindowSpec("TUMBLING", size=1_000, advance=1_000, grace=0, retention=3_000)
    count = resolve_aggregate("COUNT", [T.INTEGER], [])
    operator = AggregateOperator([count], [1], 1, spec, store, complex_keys=False)
    for second in range(20):
        operator.add_rows([(second * 1_000, "k", 1)])
        _commit(stores, store)
    windows = [skey[1] for skey in store.keys() if isinstance(skey[0], tuple)]
    # Only windows ending within retention of stream time (19s) remain; 20 were created.
    assert windows and all(end >= 19_000 - 3_000 for _, end in windows)
    assert len(windows) <= 5
    stores.close()


def test_grouped_batches_find_evicted_windows_as_rows_do(tmp_path: Path) -> None:
    """A batch grouped at once (`add_groups`) reads an evicted window from RocksDB as the
    per-row path does, and takes a window starting after every stored one as new."""
    import pyarrow as pa

    from sqlengine import types as T
    from sqlengine.aggregates import resolve_aggregate
    from sqlengine.aggregation import AggregateOperator
    from sqlengine.columnar.aggregation import Windowing, group_batch

    spec = WindowSpec("TUMBLING", size=10, advance=10, grace=1_000, retention=2_000)
    outputs = []
    for grouped in (False, True):
        log = EmbeddedLog(tmp_path / f"log-{grouped}")
        stores, store = _reopen(log, tmp_path / f"state-{grouped}", cache_entries=10)
        aggregates = [resolve_aggregate("COUNT", [], []), resolve_aggregate("SUM", [T.INTEGER], [])]
        operator = AggregateOperator(aggregates, [0, 1], 1, spec, store, complex_keys=False)
        updates = []
        for step in range(12):  # 4 keys x 5 windows per step; every third step goes back
            base = 0 if step % 3 == 2 else step * 50
            times = [base + i for i in range(0, 50, 2)]
            keys = [f"k{i % 4}" for i in range(len(times))]
            if grouped:
                groups = group_batch(
                    pa.array(times, pa.int64()),
                    [pa.array(keys)],
                    [None, pa.array(times, pa.int32())],
                    ["count", "sum"],
                    Windowing("TUMBLING", 10, 1_000),
                    operator.stream_time,
                )
                assert groups is not None
                updates += operator.add_groups(groups, ["count", "sum"]).updates()
            else:
                rows = [(t, k, t) for t, k in zip(times, keys, strict=True)]
                updates += operator.add_rows(rows, coalesce=True)
            _commit(stores, store)
            store.write_local()
        outputs.append(updates)
        stores.close()
        log.close()
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) > 200
