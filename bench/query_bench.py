"""Persistent queries end to end on the embedded log: records already in the source topic,
then a CSAS reads, deserializes, filters, projects, serializes and appends them all.
Time is measured from query creation until the query is idle."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable

import orjson

from bench import Scenario
from sqlengine.engine import Engine

RECORDS = 1_000_000
BATCH = 10_000


def _fill(engine: Engine, ddl: str, topic: str, value: Callable[[int], dict[str, object]]) -> None:
    """Declare a stream and put RECORDS JSON events in its topic, over 1,000 keys, event i at
    time i ms (so 10,000 per 10-second window)."""
    engine.execute(ddl)
    for start in range(0, RECORDS, BATCH):
        ids = range(start, start + BATCH)
        keys = [b"k-%d" % (i % 1000) for i in ids]
        values = [orjson.dumps(value(i)) for i in ids]
        engine.log.append_batch(topic, keys, values, list(ids))


def fill_widgets(engine: Engine) -> None:
    colours = ["RED", "BLUE", "GREEN", "YELLOW"]
    _fill(
        engine,
        "CREATE STREAM widgets (sensor_id STRING KEY, colour STRING, weight_g INT, temp DOUBLE) "
        "WITH (kafka_topic='widgets', value_format='JSON', partitions=1);",
        "widgets",
        lambda i: {"COLOUR": colours[i % 4], "WEIGHT_G": i % 200, "TEMP": 20.0 + i % 10},
    )


def _fill_events(engine: Engine) -> None:
    _fill(
        engine,
        "CREATE STREAM events (id STRING KEY, amount INT, price DOUBLE) "
        "WITH (kafka_topic='events', value_format='JSON', partitions=1);",
        "events",
        lambda i: {"AMOUNT": i % 100, "PRICE": (i % 50) * 1.5},
    )


def _items_table(engine: Engine) -> None:
    """A 1,000-row table keyed like the events (the talk's ITEMS)."""
    engine.execute(
        "CREATE TABLE items (id STRING PRIMARY KEY, make STRING, unit_cost DOUBLE) "
        "WITH (kafka_topic='items', value_format='JSON', partitions=1);"
    )
    keys = [b"k-%d" % i for i in range(1000)]
    values = [orjson.dumps({"MAKE": f"make-{i}", "UNIT_COST": i * 0.5}) for i in range(1000)]
    engine.log.append_batch("items", keys, values, [0] * 1000)


def timed_query(
    fills: list[Callable[[Engine], None]], sql: str, config: dict[str, str] | None = None
) -> float:
    """Seconds from creating the persistent query `sql` until it has read everything that
    `fills` put in the log beforehand (not timed); `config`: the engine's (its log)."""
    with tempfile.TemporaryDirectory() as d:
        engine = Engine(d, config)
        for fill in fills:
            fill(engine)
        begin = time.perf_counter()
        engine.execute(sql)
        engine.run_until_idle()
        seconds = time.perf_counter() - begin
        engine.close()
    return seconds


FILTER_PROJECT_CSAS = (
    "CREATE STREAM heavy_red AS SELECT sensor_id, weight_g, temp * 1.8 + 32 AS temp_f "
    "FROM widgets WHERE colour = 'RED' AND weight_g > 100;"
)


def filter_project_csas() -> tuple[int, float]:
    return RECORDS, timed_query([fill_widgets], FILTER_PROJECT_CSAS)


def tumbling_count_sum_avg() -> tuple[int, float]:
    return RECORDS, timed_query(
        [_fill_events],
        "CREATE TABLE per_key AS SELECT id, COUNT(*) AS n, SUM(amount) AS total, "
        "AVG(price) AS avg_price FROM events WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY id;",
    )


def stream_table_join() -> tuple[int, float]:
    """1M events enriched from a 1,000-row table (the talk's ORDERS_ENRICHED shape)."""
    return RECORDS + 1000, timed_query(
        [_fill_events, _items_table],
        "CREATE STREAM enriched AS SELECT e.id AS id, e.amount, i.make, "
        "e.amount * i.unit_cost AS total FROM events e JOIN items i ON e.id = i.id;",
    )


SCENARIOS: dict[str, Scenario] = {
    "stream_table_join_json": stream_table_join,
    "filter_project_csas_json": filter_project_csas,
    "tumbling_count_sum_avg_json": tumbling_count_sum_avg,
}
