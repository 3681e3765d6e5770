"""State stores restore from their changelog; window assignment follows Kafka Streams."""

from __future__ import annotations

from pathlib import Path

from sqlengine.aggregation import WindowSpec
from sqlengine.log import EmbeddedLog
from sqlengine.state import KeyValueStore


def test_store_restores_last_write_per_key_after_reopen(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path)
    store = KeyValueStore(log, "q1-agg-changelog")
    store.put(("a",), [1, 2])
    store.put(("b",), [3])
    store.flush()
    store.put(("a",), [9])
    store.delete(("b",))
    store.put(("c",), {"x": 1})
    store.flush()
    store.put(("d",), [0])  # never flushed: not durable
    log.close()

    log = EmbeddedLog(tmp_path)
    restored = KeyValueStore(log, "q1-agg-changelog")
    assert dict(restored.items()) == {("a",): [9], ("c",): {"x": 1}}
    log.close()


def test_hopping_and_tumbling_windows() -> None:
    hopping = WindowSpec("HOPPING", size=10_000, advance=5_000, grace=0, retention=0)
    assert hopping.windows_for(12_000) == [(5_000, 15_000), (10_000, 20_000)]
    assert hopping.windows_for(3_000) == [(0, 10_000)]
    tumbling = WindowSpec("TUMBLING", size=30_000, advance=30_000, grace=0, retention=0)
    assert tumbling.windows_for(89_999) == [(60_000, 90_000)]
    assert tumbling.windows_for(90_000) == [(90_000, 120_000)]


def test_windowed_state_is_bounded_by_retention(tmp_path: Path) -> None:
    from sqlengine import types as T
    from sqlengine.aggregates import resolve_aggregate
    from sqlengine.aggregation import AggregateOperator

    log = EmbeddedLog(tmp_path)
    store = KeyValueStore(log, "q2-agg-changelog")
    spec = WindowSpec("TUMBLING", size=1_000, advance=1_000, grace=0, retention=3_000)
    count = resolve_aggregate("COUNT", [T.INTEGER], [])
    operator = AggregateOperator([count], [1], 1, spec, store, complex_keys=False)
    for second in range(20):
        operator.add_rows([(second * 1_000, "k", 1)])
    windows = [skey[1] for skey in store.data if isinstance(skey[0], tuple)]
    # Only windows ending within retention of stream time (19s) remain; 20 were created.
    assert windows and all(end >= 19_000 - 3_000 for _, end in windows)
    assert len(windows) <= 5
    log.close()
