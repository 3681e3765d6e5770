"""The streamdb side of `--vs flink`: one scenario, once, in this (fresh) process.

    python -m bench.streamdb_side SCENARIO EVENTS PARTITIONS

prints one JSON object: {"events": ..., "seconds": ..., "outputs": ..., "check": ...}.

Only the embedding API is used. The source topics (PARTITIONS partitions, keyed as ksqlDB
would key them, JSON values) are filled from the data set's files before the clock starts;
the clock runs from `engine.execute(<CSAS/CTAS>)` until the sink holds every expected
record. The outputs are checked after the clock stops; a wrong result fails the run.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from bench.data import ITEMS, DataSet, dataset
from sqlengine.engine import Engine

WINDOW_MS = 10_000

# Columns are declared unquoted, as a ksqlDB user would: they are upper-cased (the sink
# writes SENSOR_ID, ...) and the JSON deserializer matches the lower-case fields of the data
# case-insensitively, as ksqlDB's does.
_WIDGETS = (
    "CREATE STREAM widgets (sensor_id STRING KEY, production_line STRING, "
    "temp_celcius DOUBLE, widget_weight_g INT, reading_ts BIGINT) WITH (kafka_topic='widgets', "
    "value_format='JSON', partitions={p}, timestamp='reading_ts');"
)
_ORDERS = (
    "CREATE STREAM orders (itemid STRING KEY, orderid BIGINT, orderunits INT, ordertime BIGINT) "
    "WITH (kafka_topic='orders', value_format='JSON', partitions={p}, timestamp='ordertime');"
)
_ITEMS = (
    "CREATE TABLE items (id STRING PRIMARY KEY, make STRING, unit_cost DOUBLE) "
    "WITH (kafka_topic='items', value_format='JSON', partitions={p});"
)


@dataclass(frozen=True)
class Scenario:
    sources: tuple[tuple[str, str], ...]  # (data set name, DDL of its stream or table)
    query: str
    sink: str
    # The number of sink records that means "done", from the loaded data sets; None: done
    # when the query is idle (an aggregation's output count depends on its record cache).
    expected: Callable[[dict[str, DataSet]], int] | None
    # Checks the sink's records after the clock stops; returns a one-line summary.
    check: Callable[[Engine, str, dict[str, DataSet]], str]


def _records(engine: Engine, topic: str) -> list[tuple[bytes, dict[str, object]]]:
    """Every (key, decoded value) of the topic, partition after partition, in offset order."""
    info = engine.log.topic(topic)
    assert info is not None, f"no topic {topic}"
    out: list[tuple[bytes, dict[str, object]]] = []
    for partition in range(info.partitions):
        offset, end = 0, engine.log.end_offset(topic, partition)
        while offset < end:
            batch = engine.log.read(topic, partition, offset, 50_000)
            pairs = zip(batch.keys, batch.values, strict=True)
            out += [(k or b"", orjson.loads(v or b"null")) for k, v in pairs]
            offset = batch.next_offset
    return out


def _check_filter(engine: Engine, sink: str, data: dict[str, DataSet]) -> str:
    records = _records(engine, sink)
    assert len(records) == data["widgets"].meta["selected"], len(records)
    assert all(int(v["WIDGET_WEIGHT_G"]) > 120 for _, v in records)  # type: ignore[call-overload]
    assert set(records[0][1]) == {"PRODUCTION_LINE", "WIDGET_WEIGHT_G", "TEMP_CELCIUS"}
    return f"{len(records):,} records, all widget_weight_g > 120"


def _check_join(engine: Engine, sink: str, data: dict[str, DataSet]) -> str:
    records = _records(engine, sink)
    assert len(records) == data["orders"].meta["events"], len(records)
    unmatched = sum(v["MAKE"] is None for _, v in records)
    # An order at the same timestamp as the items (0) may be joined before they are loaded.
    assert unmatched <= 1, unmatched
    return f"{len(records):,} records, {unmatched} without an item"


def _expected_windows(widgets: DataSet) -> dict[tuple[bytes, int], tuple[int, int, float]]:
    """(sensor, window start) -> (count, sum of weights, sum of temperatures)."""
    sums: dict[tuple[bytes, int], tuple[int, int, float]] = {}
    for keys, values, times in widgets.chunks():
        for key, value, ts in zip(keys, values, times, strict=True):
            record = orjson.loads(value)
            pair = (key, ts - ts % WINDOW_MS)
            n, weight, temp = sums.get(pair, (0, 0, 0.0))
            sums[pair] = (n + 1, weight + record["widget_weight_g"], temp + record["temp_celcius"])
    return sums


def _check_windows(engine: Engine, sink: str, data: dict[str, DataSet]) -> str:
    final: dict[tuple[bytes, int], dict[str, object]] = {}
    records = _records(engine, sink)
    for key, value in records:  # a time-windowed key: the key's bytes, 8-byte window start
        (start,) = struct.unpack_from(">q", key, len(key) - 8)
        final[(key[:-8], start)] = value
    expected = _expected_windows(data["widgets"])
    assert final.keys() == expected.keys(), (len(final), len(expected))
    for pair, (n, weight, temp) in expected.items():
        got = final[pair]
        assert (got["READINGS"], got["TOTAL_WEIGHT_G"]) == (n, weight), (pair, got)
        average = float(got["AVG_TEMP"])  # type: ignore[arg-type]
        assert math.isclose(average, temp / n, rel_tol=1e-9), (pair, got)
    return f"{len(records):,} records for {len(final):,} (sensor, window) pairs, finals right"


SCENARIOS = {
    "filter_project": Scenario(
        (("widgets", _WIDGETS),),
        "CREATE STREAM heavy_widgets AS SELECT sensor_id, production_line, widget_weight_g, "
        "temp_celcius FROM widgets WHERE widget_weight_g > 120 EMIT CHANGES;",
        "HEAVY_WIDGETS",
        lambda data: data["widgets"].meta["selected"],
        _check_filter,
    ),
    "tumbling_window": Scenario(
        (("widgets", _WIDGETS),),
        "CREATE TABLE widget_stats AS SELECT sensor_id, COUNT(*) AS readings, "
        "SUM(widget_weight_g) AS total_weight_g, AVG(temp_celcius) AS avg_temp FROM widgets "
        "WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY sensor_id EMIT CHANGES;",
        "WIDGET_STATS",
        None,
        _check_windows,
    ),
    "stream_table_join": Scenario(
        (("items", _ITEMS), ("orders", _ORDERS)),
        "CREATE STREAM orders_enriched AS SELECT o.itemid AS itemid, o.orderid, o.orderunits, "
        "i.make, i.unit_cost, o.orderunits * i.unit_cost AS total FROM orders o "
        "LEFT JOIN items i ON o.itemid = i.id EMIT CHANGES;",
        "ORDERS_ENRICHED",
        lambda data: data["orders"].meta["events"],
        _check_join,
    ),
}


def _sink_size(engine: Engine, sink: str) -> int:
    info = engine.log.topic(sink)
    if info is None:
        return 0
    return sum(engine.log.end_offset(sink, p) for p in range(info.partitions))


def run(name: str, events: int, partitions: int) -> dict[str, object]:
    scenario = SCENARIOS[name]
    data = {
        source: dataset(source, ITEMS if source == "items" else events, partitions)
        for source, _ in scenario.sources
    }
    with tempfile.TemporaryDirectory(prefix="streamdb-vs-flink-") as data_dir:
        engine = Engine(data_dir)
        for source, ddl in scenario.sources:
            engine.execute(ddl.format(p=partitions))
            for keys, values, times in data[source].chunks():
                engine.log.append_batch(source, keys, values, times)
        target = scenario.expected(data) if scenario.expected else None
        begin = time.perf_counter()
        engine.execute(scenario.query)
        while True:
            progressed = engine.run_until_idle()
            size = _sink_size(engine, scenario.sink)
            if target is None and not progressed or target is not None and size >= target:
                break
            if not progressed:
                raise RuntimeError(f"{name}: idle with {size:,} of {target:,} records")
        seconds = time.perf_counter() - begin
        check = scenario.check(engine, scenario.sink, data)
        engine.close()
    return {"events": events, "seconds": seconds, "outputs": size, "check": check}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
