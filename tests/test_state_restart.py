"""Engines restarting over their data dir: with local state intact the stores read no
changelog, without it they rebuild from the changelog, and a process killed (SIGKILL) at any
point of a commit restarts to exactly the aggregates of its input, nothing lost or counted
twice."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from sqlengine.engine import Engine
from sqlengine.testing.compare import read_topic

ROOT = Path(__file__).resolve().parents[1]
SETUP = """
CREATE STREAM readings (sensor STRING KEY, v INT)
    WITH (kafka_topic='readings', value_format='JSON', partitions=1);
CREATE TABLE totals AS SELECT sensor, COUNT(*) AS n, SUM(v) AS total
    FROM readings GROUP BY sensor;
CREATE TABLE devices (id STRING PRIMARY KEY, sensor STRING, v INT)
    WITH (kafka_topic='devices', value_format='JSON', partitions=1);
CREATE TABLE per_sensor AS SELECT sensor, COUNT(*) AS n, SUM(v) AS total
    FROM devices GROUP BY sensor;
"""
# Feeds both sources a batch at a time; a table's rows are replaced as ids come round again.
FEED = """
def feed(engine, start, count):
    ids = range(start, start + count)
    engine.log.append_batch(
        "readings",
        [b"s%d" % (i % 50) for i in ids],
        [orjson.dumps({"V": i % 7}) for i in ids],
        list(ids),
    )
    engine.log.append_batch(
        "devices",
        [b"d%d" % (i % 300) for i in ids],
        [orjson.dumps({"SENSOR": "s%d" % (i % 13), "V": i % 5}) for i in ids],
        list(ids),
    )
"""


def _expected(engine: Engine) -> dict[str, set[tuple[str, int, int]]]:
    """Both tables' rows as computed from what the source topics hold."""
    n: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for record in read_topic(engine, "readings"):
        sensor = record.key.decode()
        n[sensor] += 1
        total[sensor] += orjson.loads(record.value)["V"]
    latest = {r.key: orjson.loads(r.value) for r in read_topic(engine, "devices")}
    per_n: Counter[str] = Counter(row["SENSOR"] for row in latest.values())
    per_total: Counter[str] = Counter()
    for row in latest.values():
        per_total[row["SENSOR"]] += row["V"]
    return {
        "TOTALS": {(s, n[s], total[s]) for s in n},
        "PER_SENSOR": {(s, per_n[s], per_total[s]) for s in per_n},
    }


def _pulled(engine: Engine) -> dict[str, set[tuple[str, int, int]]]:
    return {
        table: {tuple(row) for row in engine.execute(f"SELECT * FROM {table};")[0].rows}  # type: ignore[misc]
        for table in ("TOTALS", "PER_SENSOR")
    }


def _restored(engine: Engine) -> int:
    """Changelog records the restarted engine's stores read."""
    steps = [q.aggregation for q in engine.executor.running.values()]  # type: ignore[attr-defined]
    stores = [s.store for s in steps] + [s.table_rows for s in steps if s.table_keys is not None]
    return sum(store.restored for store in stores)


def _feed(engine: Engine, start: int, count: int) -> None:
    scope: dict[str, object] = {"orjson": orjson}
    exec(FEED, scope)  # noqa: S102 - the same feeding code as the child processes'
    scope["feed"](engine, start, count)  # type: ignore[operator]


def test_restart_reads_local_state_or_rebuilds_it_from_the_changelog(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(SETUP)
    for start in range(0, 6000, 1500):
        _feed(engine, start, 1500)
        engine.run_until_idle()
    expected = _expected(engine)
    assert _pulled(engine) == expected
    engine.close()

    engine = Engine(tmp_path)
    assert _restored(engine) == 0  # local state is current: no changelog record read
    assert _pulled(engine) == expected
    engine.close()

    shutil.rmtree(tmp_path / "state")
    engine = Engine(tmp_path)
    assert _restored(engine) > 0  # rebuilt from the changelogs
    assert _pulled(engine) == expected
    _feed(engine, 6000, 500)
    engine.run_until_idle()
    assert _pulled(engine) == _expected(engine)
    engine.close()


KILL_AT_CHILD = (
    textwrap.dedent(
        """
        import os, signal, sys
        import orjson
        from sqlengine.engine import Engine
        from sqlengine.state import PersistentStore
        """
    )
    + FEED
    + textwrap.dedent(
        """
    data_dir, kill_at = sys.argv[1], sys.argv[2]
    engine = Engine(data_dir)
    engine.execute(sys.stdin.read())
    feed(engine, 0, 2000)
    engine.run_until_idle()

    def die(*args):
        os.kill(os.getpid(), signal.SIGKILL)

    if kill_at == "before-group-commit":  # the changelogs have the batch, the offsets not
        commit = engine.log.commit
        engine.log.commit = lambda group, offsets: (
            die() if group.startswith("_confluent-ksql-default_query_") else commit(group, offsets)
        )
    else:  # committed, not yet written to RocksDB
        PersistentStore.write_local = die
    feed(engine, 2000, 2000)
    engine.run_until_idle()
    """
    )
)


@pytest.mark.parametrize("kill_at", ["before-group-commit", "before-local-write"])
def test_kill_9_within_a_commit_restarts_to_the_exact_aggregates(
    tmp_path: Path, kill_at: str
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", KILL_AT_CHILD, str(tmp_path), kill_at],
        input=SETUP,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    engine = Engine(tmp_path)
    # Killed before the commit, the batch's changelog records are left out; after it, they
    # are replayed into the local state.
    assert (_restored(engine) > 0) == (kill_at == "before-local-write")
    engine.run_until_idle()
    assert _pulled(engine) == _expected(engine)
    assert _pulled(engine)["TOTALS"] == {
        (f"s{s}", 80, sum(i % 7 for i in range(s, 4000, 50))) for s in range(50)
    }
    engine.close()


LOOP_CHILD = (
    textwrap.dedent(
        """
        import sys
        import orjson
        from sqlengine.engine import Engine
        """
    )
    + FEED
    + textwrap.dedent(
        """
    engine = Engine(sys.argv[1])
    if not engine.catalog.sources:
        engine.execute(sys.stdin.read())
    start = engine.log.end_offset("readings", 0)
    while True:
        feed(engine, start, 700)
        engine.run_until_idle()
        start += 700
        print(start, flush=True)
    """
    )
)


def test_kill_9_at_random_points_restarts_to_the_exact_aggregates(tmp_path: Path) -> None:
    for round_ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", LOOP_CHILD, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(SETUP)
        proc.stdin.close()
        for _ in range(2 + round_):  # a few batches in, then at some point of the next
            assert proc.stdout.readline(), "the child died early"
        time.sleep(0.05 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    engine = Engine(tmp_path)
    engine.run_until_idle()
    expected = _expected(engine)
    assert sum(n for _, n, _ in expected["TOTALS"]) >= 3 * 700
    assert _pulled(engine) == expected
    engine.close()


def test_restarted_lookups_take_the_key_type_and_dropped_tables_leave_no_state(
    tmp_path: Path,
) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE STREAM m (k DOUBLE KEY, v INT) "
        "WITH (kafka_topic='m', value_format='JSON', partitions=1);"
    )
    engine.execute("CREATE TABLE by_k AS SELECT k, COUNT(*) AS n FROM m GROUP BY k;")
    doomed = engine.execute("CREATE TABLE doomed AS SELECT k, SUM(v) AS s FROM m GROUP BY k;")
    engine.execute("INSERT INTO m (k, v) VALUES (1.0, 5); INSERT INTO m (k, v) VALUES (2.5, 1);")
    engine.run_until_idle()
    engine.execute("DROP TABLE doomed;")
    doomed_id = doomed[0].query_id  # type: ignore[attr-defined]
    engine.close()

    engine = Engine(tmp_path)
    # Nothing cached after a restart: the lookup reads RocksDB, where 1 is not 1.0.
    assert engine.execute("SELECT * FROM by_k WHERE k = 1;")[0].rows == [[1.0, 1]]  # type: ignore[attr-defined]
    local = [d.name for d in (tmp_path / "state").iterdir()]
    assert local and not [name for name in local if doomed_id in name]
    engine.close()
