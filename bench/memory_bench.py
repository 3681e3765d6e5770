"""Memory: a table of 1M keys, measured as the peak RSS of a fresh process that builds it,
and the restart of an engine over the data dir it left.

The building process loads N keyed JSON records (N distinct keys) into a topic, then runs
`CREATE TABLE ... AS SELECT id, COUNT(*), SUM(amount) ... GROUP BY id`: the aggregation's
state store (RocksDB behind a bounded record cache) holds N rows, and pull queries read it.
A restart is a fresh process opening an engine over the same data dir until a pull query
answers: with the local state intact (no changelog replay), and after deleting it (a rebuild
from the changelog). `memory_10m_bench.py` runs the same with 10M keys."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from bench import Result

KEYS = 1_000_000

_BUILD = textwrap.dedent(
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
    engine.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb}))
    """
)

_RESTART = textwrap.dedent(
    """
    import json, resource, sys, time
    from sqlengine.engine import Engine

    keys, data_dir = int(sys.argv[1]), sys.argv[2]
    begin = time.perf_counter()
    engine = Engine(data_dir)
    last = keys - 1
    rows = engine.execute(f"SELECT * FROM totals WHERE id = 'key-{last}';")[0].rows
    seconds = time.perf_counter() - begin
    assert rows == [[f"key-{last}", 1, last % 100]], rows
    restored = sum(
        q.aggregation.store.restored for q in engine.executor.running.values()
    )
    engine.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "restored": restored}))
    """
)


def _child(script: str, keys: int, data_dir: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", script, str(keys), data_dir],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def table_rss(keys: int) -> Result:
    """Build time and the builder's peak RSS."""
    with tempfile.TemporaryDirectory() as d:
        built = _child(_BUILD, keys, d)
    return keys, built["seconds"], {"peak_rss_mb": round(built["rss_mb"])}


def restart(keys: int) -> Result:
    """Seconds until a restarted engine answers a pull query, its local state intact; with
    the rebuild from the changelog (local state deleted) and peak RSS as measures."""
    with tempfile.TemporaryDirectory() as d:
        built = _child(_BUILD, keys, d)
        intact = _child(_RESTART, keys, d)
        assert intact["restored"] == 0, intact  # nothing replayed from the changelog
        shutil.rmtree(Path(d) / "state")
        rebuilt = _child(_RESTART, keys, d)
    return (
        keys,
        intact["seconds"],
        {
            "build_s": built["seconds"],
            "build_rss_mb": round(built["rss_mb"]),
            "restart_rss_mb": round(intact["rss_mb"]),
            "rebuild_s": rebuilt["seconds"],
            "rebuild_rss_mb": round(rebuilt["rss_mb"]),
        },
    )


SCENARIOS = {
    "table_1m_keys": lambda: table_rss(KEYS),
    "restart_1m_keys": lambda: restart(KEYS),
}
