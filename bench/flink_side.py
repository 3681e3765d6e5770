"""The Flink side of `--vs flink`: one scenario, RUNS times, in one PyFlink JVM.

    .venv-flink/bin/python bench/flink_side.py SCENARIO RUNS PARALLELISM NAME=DIR ...

Runs in its own virtualenv (scripts/setup_flink.sh), so it imports nothing of streamdb or of
the bench package. NAME=DIR gives each data set's directory of JSON-lines part files. Prints
one JSON object: {"version": ..., "startup_s": ..., "runs": [{"seconds": ...,
"net_runtime_s": ...}, ...]}.

Flink SQL in streaming mode, local execution (a MiniCluster in the PyFlink JVM), parallelism
PARALLELISM, filesystem sources with the json format (one source split per part file) and
blackhole sinks. Measured per run: `seconds`, from `execute_sql(INSERT ...)` (planning, job
submission, the job's MiniCluster starting) until `.wait()` returns at the end of the bounded
job; `net_runtime_s`, the job's own run time as its JobExecutionResult reports it. Not
measured: starting the JVM and the table environment, and one tiny warm-up job run first
so that the planner's classes are loaded. Each run is a new job with fresh state.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version

from pyflink.table import EnvironmentSettings, TableEnvironment

_FILES = "WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json')"
_BLACKHOLE = "WITH ('connector' = 'blackhole')"

_WIDGET_COLUMNS = (
    "sensor_id STRING, production_line STRING, temp_celcius DOUBLE, widget_weight_g INT, "
    "reading_ts BIGINT"
)
_EVENT_TIME = (
    ", ts AS TO_TIMESTAMP_LTZ(reading_ts, 3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND"
)

# scenario -> (tables: (data set or None for a sink, name, columns), INSERT statement)
SCENARIOS: dict[str, tuple[list[tuple[str | None, str, str]], str]] = {
    "filter_project": (
        [
            ("widgets", "widgets", _WIDGET_COLUMNS),
            (
                None,
                "heavy_widgets",
                "sensor_id STRING, production_line STRING, widget_weight_g INT, "
                "temp_celcius DOUBLE",
            ),
        ],
        "INSERT INTO heavy_widgets SELECT sensor_id, production_line, widget_weight_g, "
        "temp_celcius FROM widgets WHERE widget_weight_g > 120",
    ),
    # Event time: ts from reading_ts, watermark 1 s behind (each part file is in time order).
    # A window TVF aggregation emits each (sensor, window) once, when the watermark passes
    # the window's end (at the latest at the end of the bounded input).
    "tumbling_window": (
        [
            ("widgets", "widgets", _WIDGET_COLUMNS + _EVENT_TIME),
            (
                None,
                "widget_stats",
                "sensor_id STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), "
                "readings BIGINT, total_weight_g INT, avg_temp DOUBLE",
            ),
        ],
        "INSERT INTO widget_stats SELECT sensor_id, window_start, window_end, COUNT(*), "
        "SUM(widget_weight_g), AVG(temp_celcius) FROM TABLE(TUMBLE(TABLE widgets, "
        "DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY sensor_id, window_start, window_end",
    ),
    # A regular (unwindowed) LEFT JOIN of two bounded sources: both sides are kept in state
    # (every order too, which a stream-table join would not store), and an order read before
    # its item is first emitted without it, then retracted and re-emitted with it. Flink's
    # closer equivalents of a stream-table join (a temporal join against a versioned table, a
    # lookup join) need a primary-keyed changelog or a lookup source, not a file.
    "stream_table_join": (
        [
            ("items", "items", "id STRING, make STRING, unit_cost DOUBLE"),
            ("orders", "orders", "orderid BIGINT, itemid STRING, orderunits INT, ordertime BIGINT"),
            (
                None,
                "orders_enriched",
                "itemid STRING, orderid BIGINT, orderunits INT, make STRING, unit_cost DOUBLE, "
                "total DOUBLE",
            ),
        ],
        "INSERT INTO orders_enriched SELECT o.itemid, o.orderid, o.orderunits, i.make, "
        "i.unit_cost, o.orderunits * i.unit_cost FROM orders AS o "
        "LEFT JOIN items AS i ON o.itemid = i.id",
    ),
}


def _environment(parallelism: int) -> TableEnvironment:
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", str(parallelism))
    return env


def _timed(env: TableEnvironment, insert: str) -> dict[str, float]:
    begin = time.perf_counter()
    result = env.execute_sql(insert)
    result.wait()
    seconds = time.perf_counter() - begin
    client = result.get_job_client()
    net_ms = client.get_job_execution_result().result().get_net_runtime() if client else 0
    return {"seconds": seconds, "net_runtime_s": net_ms / 1000}


def main(scenario: str, runs: int, parallelism: int, paths: dict[str, str]) -> dict[str, object]:
    begin = time.perf_counter()
    env = _environment(parallelism)
    tables, insert = SCENARIOS[scenario]
    for data, name, columns in tables:
        options = _FILES.format(path=paths[data]) if data else _BLACKHOLE
        env.execute_sql(f"CREATE TABLE {name} ({columns}) {options}")
    env.execute_sql(f"CREATE TABLE warm_up (x INT) {_BLACKHOLE}")
    env.execute_sql("INSERT INTO warm_up SELECT x FROM (VALUES (1), (2)) AS t (x)").wait()
    startup = time.perf_counter() - begin
    return {
        "version": version("apache-flink"),
        "startup_s": startup,
        "runs": [_timed(env, insert) for _ in range(runs)],
    }


if __name__ == "__main__":
    name, count, cores, *pairs = sys.argv[1:]
    data_dirs = dict(pair.split("=", 1) for pair in pairs)
    print(json.dumps(main(name, int(count), int(cores), data_dirs)))
