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
