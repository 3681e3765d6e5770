"""Memory: a table of 1M keys, measured as the peak RSS of a fresh process that builds it.

The child process loads 1M keyed JSON records (1M distinct keys) into a topic, then runs
`CREATE TABLE ... AS SELECT id, COUNT(*), SUM(amount) ... GROUP BY id`: the aggregation's
state store and the table's materialization for pull queries each hold 1M rows."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap

from bench import Result

KEYS = 1_000_000

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    import orjson
    from sqlengine.engine import Engine

    keys, data_dir = int(sys.argv[1]), sys.argv[2]
    engine = Engine(data_dir)
    engine.execute(
        "CREATE STREAM events (id STRING KEY, amount INT) "
        "WITH (kafka_topic='events', value_format='JSON', partitions=1);"
    )
    for start in range(0, keys, 10_000):
        ids = range(start, min(start + 10_000, keys))
        engine.log.append_batch(
            "events",
            [b"key-%d" % i for i in ids],
            [orjson.dumps({"AMOUNT": i % 100}) for i in ids],
            list(ids),
        )
    begin = time.perf_counter()
    engine.execute(
        "CREATE TABLE totals AS SELECT id, COUNT(*) AS n, SUM(amount) AS total "
        "FROM events GROUP BY id;"
    )
    engine.run_until_idle()
    seconds = time.perf_counter() - begin
    rows = engine.execute("SELECT * FROM totals WHERE id = 'key-12345';")[0].rows
    assert rows == [["key-12345", 1, 45]], rows
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb}))
    """
)


def table_1m_keys_rss() -> Result:
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(KEYS), d],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return KEYS, result["seconds"], {"peak_rss_mb": round(result["rss_mb"])}


SCENARIOS = {"table_1m_keys": table_1m_keys_rss}
