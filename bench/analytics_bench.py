"""Analytical pull queries on DuckDB (sqlengine.analytics), in process.

- group_by_order_limit_1m_table: `GROUP BY ... ORDER BY ... LIMIT 10` over a table of 1M
  rows (a CTAS GROUP BY over 1M keyed JSON records); seconds is the median of the queries
  after the first, which reuse the table's Arrow view while the table is unchanged;
  `first_ms` is the first query, which builds the view.
- group_by_1m_stream_records: `GROUP BY` over a stream's 1M JSON records, likewise
  (`first_ms`: decoding the records into the view).

Key lookups at 2k requests/s are server.pull_by_key_2k_rps (bench/server_bench.py).
`STREAMDB_BENCH_ANALYTICS_ROWS` sets the number of rows (default 1M) for a quick check.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import orjson

from bench import Result
from sqlengine.engine import Engine

ROWS = int(os.environ.get("STREAMDB_BENCH_ANALYTICS_ROWS", 1_000_000))
GROUPS = 1_000
QUERIES = 5
BATCH = 10_000


def _fill(engine: Engine) -> None:
    engine.execute(
        "CREATE STREAM events (id STRING KEY, grp INT, amount INT) "
        "WITH (kafka_topic='events', value_format='JSON', partitions=1);"
    )
    for start in range(0, ROWS, BATCH):
        ids = range(start, min(start + BATCH, ROWS))
        engine.log.append_batch(
            "events",
            [b"key-%d" % i for i in ids],
            [orjson.dumps({"GRP": i % GROUPS, "AMOUNT": i % 100}) for i in ids],
            list(ids),
        )


def _timed(engine: Engine, sql: str, expected_rows: int) -> Result:
    times = []
    for _ in range(QUERIES + 1):
        begin = time.perf_counter()
        rows = engine.execute(sql)[0].rows
        times.append(time.perf_counter() - begin)
        assert len(rows) == expected_rows, (sql, len(rows))
    return ROWS, statistics.median(times[1:]), {"first_ms": times[0] * 1000}


def group_by_order_limit_1m_table() -> Result:
    with tempfile.TemporaryDirectory() as data_dir:
        engine = Engine(data_dir)
        try:
            _fill(engine)
            engine.execute(
                "CREATE TABLE totals AS SELECT id, LATEST_BY_OFFSET(grp) AS grp, "
                "SUM(amount) AS total FROM events GROUP BY id;"
            )
            engine.run_until_idle()
            return _timed(
                engine,
                "SELECT grp, COUNT(*) AS n, SUM(total) AS total FROM totals "
                "GROUP BY grp ORDER BY total DESC, grp LIMIT 10;",
                10,
            )
        finally:
            engine.close()


def group_by_1m_stream_records() -> Result:
    with tempfile.TemporaryDirectory() as data_dir:
        engine = Engine(data_dir)
        try:
            _fill(engine)
            return _timed(
                engine,
                "SELECT grp, COUNT(*) AS n, SUM(amount) AS total FROM events GROUP BY grp;",
                GROUPS,
            )
        finally:
            engine.close()


SCENARIOS = {
    "group_by_order_limit_1m_table": group_by_order_limit_1m_table,
    "group_by_1m_stream_records": group_by_1m_stream_records,
}
