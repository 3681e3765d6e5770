"""The vectorized path gives exactly the records the per-record path gives.

The same stateless queries run twice over the same topic on the real embedded log, once with
`streamdb.vectorized=false`; their sink topics must hold the same bytes, in the same order.
Batches mix what the vectorized path handles with what it must decline (bad JSON, coercions,
odd field-name casing, tombstones, headers...)."""

from __future__ import annotations

import io
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from functools import reduce
from operator import add
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from sqlengine.columnar.aggregation import ValueRuns
from sqlengine.engine import Engine
from sqlengine.log.base import RecordBatch
from sqlengine.query import Query
from sqlengine.source_input import SourceInput
from sqlengine.tasks import SPILL_PREFIX, read_message, write_message

DDL = (
    "CREATE STREAM s (id STRING KEY, colour STRING, weight_g INT, temp DOUBLE, big BIGINT, "
    "ok BOOLEAN) WITH (kafka_topic='s', value_format='JSON', partitions=2);"
)
QUERIES = [
    "SELECT id, colour, weight_g * 2 AS w2, temp * 1.8 + 32 AS f, colour || '!' AS c2 FROM s "
    "WHERE weight_g > 10 AND colour <> 'BLUE' OR temp IS NULL",
    "SELECT * FROM s",
    "SELECT id, -big AS nb, big + weight_g AS total, NOT ok AS nok, ROWPARTITION AS p, "
    "ROWOFFSET AS o FROM s WHERE big >= 5 OR ok",
    "SELECT id, temp, temp * 1.5 AS c, 'x' AS lit FROM s WHERE temp > 20.5 AND temp <= 1e300",
]


def _vectorized(query: Query) -> tuple[Any, Any]:
    """A query's vectorized operator (its batch counts) and its worker processes, if any."""
    op = query.input.vectorized if isinstance(query.input, SourceInput) else query.input
    return (None, None) if op is None else (op.columnar, op.tasks)  # type: ignore[attr-defined]


def _clean(rnd: random.Random, i: int) -> bytes:
    return orjson.dumps(
        {
            "colour": rnd.choice(["RED", "BLUE", "GREEN", "grün", "a\u2028b"]),
            "weight_g": rnd.randint(-5, 200),
            "temp": rnd.choice([rnd.uniform(-50, 50), float(rnd.randint(0, 9)), 0.0]),
            "big": rnd.randint(-(2**62), 2**62),
            "ok": rnd.random() < 0.5,
        }
    )


def _odd_doubles(rnd: random.Random) -> list[float]:
    values = [1e16, 1e15, 1e-4, 1e-5, 5e-324, 1.7976931348623157e308, 123456789.125, -0.5]
    values += [rnd.uniform(-1, 1) * 10 ** rnd.randint(-30, 30) for _ in range(200)]
    return [v for v in values if math.isfinite(v)]


def _batches(rnd: random.Random) -> list[list[tuple[bytes | None, bytes | None, tuple]]]:
    """Batches of (key, value, headers): clean ones and ones with one kind of oddity each."""

    def clean(n: int) -> list[tuple[bytes | None, bytes | None, tuple]]:
        return [(b"k%d" % rnd.randint(0, 9), _clean(rnd, i), ()) for i in range(n)]

    def with_odd(values: list[bytes | None]) -> list[tuple[bytes | None, bytes | None, tuple]]:
        batch = clean(50)
        return batch + [(b"odd", v, ()) for v in values] + clean(50)

    return [
        clean(500),
        [(None, _clean(rnd, i), ()) for i in range(20)],  # null keys
        [(b"\xffbad", _clean(rnd, 0), ())] + clean(10),  # a key that is not UTF-8
        with_odd([b'{"COLOUR": "RED", "colour": "x", "weight_g": 1}']),
        with_odd([b'{"Colour": "RED", "weight_g": 1}']),
        with_odd([b'{"weight_g": "12", "temp": "1.5"}']),
        with_odd([b'{"weight_g": 3000000000}', b'{"weight_g": 1.5}']),
        with_odd([None, b"null", b"[1]", b'"s"', b"{bad json", b'{"temp": NaN}']),
        with_odd([b'{"temp": -0}', b'{"temp": -0.0}', b'{"temp": 1e400}']),
        with_odd([b'{"colour": {"x": 1}}', b'{"colour": [1, 2]}', b'{"colour": 3}']),
        with_odd([b'{"colour": "quote \\" back \\\\ nl \\n tab \\t nul \\u0000"}']),
        with_odd([b'{"colour": "x",\n "weight_g": 7}', b' {"weight_g": 1}']),
        with_odd([b'{"extra": {"weight_g": 5, "WEIGHT_G": 6}, "weight_g": 2}']),
        with_odd([orjson.dumps({"temp": d, "weight_g": 50}) for d in _odd_doubles(rnd)]),
        clean(20) + [(b"h", _clean(rnd, 0), (("h1", b"v"),))],  # headers go to the sink
        [(b"k", b"{}", ()), (b"k", b'{"colour": null, "temp": null}', ())],
    ]


def _run(tmp: Path, vectorized: bool) -> dict[str, list[tuple]]:
    rnd = random.Random(7)
    engine = Engine(tmp / ("vec" if vectorized else "rows"))
    engine.execute(DDL)
    props = {"streamdb.vectorized": str(vectorized).lower()}
    for i, query in enumerate(QUERIES):
        engine.execute(f"CREATE STREAM out_{i} AS {query};", props)
    for batch in _batches(rnd):  # each read by the queries as one batch
        keys = [k for k, _, _ in batch]
        values = [v for _, v, _ in batch]
        headers = [h for _, _, h in batch]
        engine.log.append_batch("s", keys, values, list(range(len(batch))), headers)
        engine.run_until_idle()
    running = engine.executor.running.values()  # type: ignore[attr-defined]
    stages = [c for c, _ in map(_vectorized, running) if c is not None]
    counts = [(s.batches > 0, s.declined > 0) for s in stages]
    contents: dict[str, list[tuple]] = {"vectorized queries": counts}
    for i in range(len(QUERIES)):
        topic = f"OUT_{i}"
        info = engine.log.topic(topic)
        assert info is not None
        for p in range(info.partitions):
            batch = engine.log.read(topic, p, 0, 1_000_000)
            contents[f"{topic}/{p}"] = list(
                zip(batch.timestamps, batch.keys, batch.values, batch.headers, strict=True)
            )
    engine.close()
    return contents


def test_vectorized_sinks_equal_per_record_sinks(tmp_path: Path) -> None:
    rows = _run(tmp_path, vectorized=False)
    vectorized = _run(tmp_path, vectorized=True)
    assert rows.pop("vectorized queries") == []
    # Every query ran batches vectorized and declined others.
    assert vectorized.pop("vectorized queries") == [(True, True)] * len(QUERIES)
    assert rows.keys() == vectorized.keys()
    for name in rows:
        assert rows[name], f"{name} is empty: the test data should reach every sink"
        assert vectorized[name] == rows[name], name


@pytest.mark.parametrize("seed", range(3))
def test_random_doubles_and_strings_encode_alike(tmp_path: Path, seed: int) -> None:
    """Values generated at random: doubles of every magnitude, strings of any characters
    (every tenth chunk with control characters, which the vectorized path declines)."""
    rnd = random.Random(seed)
    chunks = []
    for c in range(20):
        low = 0 if c % 10 == 9 else 32
        chunk = []
        for _ in range(100):
            text = "".join(chr(rnd.randint(low, 0x2FF)) for _ in range(5))
            number = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
            number = number if math.isfinite(number) else 1.0
            chunk.append(orjson.dumps({"colour": text, "temp": number}))
        chunks.append(chunk)
    results = []
    for vectorized in (False, True):
        engine = Engine(tmp_path / f"{seed}-{vectorized}")
        engine.execute(DDL)
        engine.execute(
            "CREATE STREAM o AS SELECT id, colour, temp, temp * 2 AS t2 FROM s;",
            {"streamdb.vectorized": str(vectorized).lower()},
        )
        for chunk in chunks:
            engine.log.append_batch("s", [b"k"] * len(chunk), chunk, list(range(len(chunk))))
            engine.run_until_idle()
        (query,) = engine.executor.running.values()  # type: ignore[attr-defined]
        columnar, _ = _vectorized(query)
        ran = 0 if columnar is None else columnar.batches
        results.append(([engine.log.read("O", p, 0, 100_000).values for p in range(2)], ran))
        engine.close()
    (rows, _), (vectorized_rows, batches) = results
    assert batches >= 15
    assert vectorized_rows == rows
    assert sum(len(v) for v in rows) == 2000


def test_worker_processes_give_the_same_records(tmp_path: Path) -> None:
    """Batches large enough run in a worker process while the query's own process runs
    another partition's; the sink still holds what the per-record path writes, in the same
    order per partition."""
    rnd = random.Random(3)
    values = [_clean(rnd, i) for i in range(12_000)]
    keys = [b"k%d" % (i % 97) for i in range(len(values))]
    stamps = list(range(len(values)))
    rows, parallel, worker_batches = _rows_and_parallel(
        tmp_path, DDL, ("s", keys, values, stamps), f"CREATE STREAM o AS {QUERIES[0]};", "O"
    )
    # Each step's first partition runs in the query's process, the second in a worker.
    assert worker_batches >= 2
    assert all(rows) and parallel == rows


def test_batches_read_ahead_for_a_terminated_query_do_not_reach_the_next(tmp_path: Path) -> None:
    """A query terminated after one step leaves its next step's batches queued on the
    workers; their answers are dropped, and the next query's batches get their own."""
    rnd = random.Random(5)
    values = [_clean(rnd, i) for i in range(12_000)]
    keys = [b"k%d" % (i % 97) for i in range(len(values))]
    props = {
        "ksql.streams.num.stream.threads": "2",
        "ksql.streams.max.poll.records": str(STEP_RECORDS),
    }
    engine = Engine(tmp_path / "ahead")
    engine.execute(DDL)
    engine.log.append_batch("s", keys, values, list(range(len(values))))
    engine.execute(f"CREATE STREAM first AS {QUERIES[0]};", props)
    (first,) = engine.executor.running.values()  # type: ignore[attr-defined]
    assert first.step() > 0 and first.ahead  # the next step read ahead, sent to a worker
    engine.execute(f"TERMINATE {first.query_id};")
    engine.execute(f"CREATE STREAM second AS {QUERIES[2]};", props)
    engine.run_until_idle()
    (second,) = engine.executor.running.values()  # type: ignore[attr-defined]
    assert _vectorized(second)[1].batches >= 2
    got = [engine.log.read("SECOND", p, 0, 100_000) for p in range(2)]
    engine.close()
    expected = _rows_and_parallel(
        tmp_path,
        DDL,
        ("s", keys, values, list(range(len(values)))),
        f"CREATE STREAM second AS {QUERIES[2]};",
        "SECOND",
    )[0]
    assert all(expected)
    assert [list(zip(b.keys, b.values, b.timestamps, strict=True)) for b in got] == expected


def _rows_and_parallel(
    tmp: Path, ddl: str, data: tuple[str, list, list, list], query: str, sink: str
) -> tuple[list[list[tuple]], list[list[tuple]], int]:
    """The sink's records per partition written per record, then written with worker
    processes (2 threads), and how many batches ran in a worker. Steps of STEP_RECORDS
    records per partition: workers run each step's batches and, read ahead, the next's."""
    topic, keys, values, stamps = data
    results = []
    steps = {"ksql.streams.max.poll.records": str(STEP_RECORDS)}
    for name, props in [
        ("rows", {"streamdb.vectorized": "false", **steps}),
        ("workers", {"ksql.streams.num.stream.threads": "2", **steps}),
    ]:
        engine = Engine(tmp / name)
        engine.execute(ddl)
        engine.log.append_batch(topic, keys, values, stamps)
        engine.execute(query, props)
        engine.run_until_idle()
        (running,) = engine.executor.running.values()  # type: ignore[attr-defined]
        _, tasks = _vectorized(running)
        worker_batches = 0 if tasks is None else tasks.batches
        partitions = [engine.log.read(sink, p, 0, 100_000) for p in range(2)]
        results.append([list(zip(b.keys, b.values, b.timestamps, strict=True)) for b in partitions])
        engine.close()
    return results[0], results[1], worker_batches


def _sinks_and_runs(engine: Engine, sinks: list[str]) -> tuple[list[list[tuple]], list[int]]:
    """The records of each sink's two partitions, and how many batches each query ran
    vectorized (-1: none could); closes the engine."""
    queries = list(engine.executor.running.values())  # type: ignore[attr-defined]
    ran = [c.batches if c is not None else -1 for c, _ in map(_vectorized, queries)]
    records = []
    for sink in sinks:
        for p in range(2):
            batch = engine.log.read(sink, p, 0, 100_000)
            records.append(list(zip(batch.keys, batch.values, batch.timestamps, strict=True)))
    engine.close()
    return records, ran


_KILLED_WITH_WORKERS = """
import os, sys
from sqlengine import tasks
from sqlengine.log.base import RecordBatch
stage = tasks.StageTasks(len, (), 1)  # len() fails in the worker: it answers None
batch = RecordBatch("t", 0, range(3000), [0] * 3000, [None] * 3000, [b"x" * 50] * 3000, [()] * 3000)
stage.start([batch])
assert stage.result(batch) == (True, None)  # the batch went through a spill file
print(tasks._workers[0].spill_dir, flush=True)
os._exit(9)
"""


_KILLED_MID_REQUEST = """
import os, sys, time
from sqlengine import tasks
from sqlengine.log.base import RecordBatch
stage = tasks.StageTasks(time.sleep, (2,), 1)  # the worker builds the stage for 2 s
batch = RecordBatch("t", 0, range(3000), [0] * 3000, [None] * 3000, [b"x" * 50] * 3000, [()] * 3000)
stage.start([batch])
print(tasks._workers[0].spill_dir, flush=True)
os._exit(9)
"""


@pytest.mark.parametrize("script", [_KILLED_WITH_WORKERS, _KILLED_MID_REQUEST])
def test_a_worker_outliving_its_query_process_removes_its_spill_files(script: str) -> None:
    """A query's process killed outright, with its worker waiting for a request or still
    computing one (its answer then has no reader): the worker removes its spill directory
    and exits."""
    child = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert child.returncode == 9, child.stderr
    spill_dir = Path(child.stdout.strip())
    assert spill_dir.name.startswith(SPILL_PREFIX)
    deadline = time.monotonic() + 20
    while spill_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not spill_dir.exists()


@pytest.mark.parametrize("headers", [False, True])
def test_worker_messages_carry_batches_whole(tmp_path: Path, headers: bool) -> None:
    """A batch large enough to go through a spill file (its arrays' buffers out of band)
    and a small one through the pipe arrive as they were sent; spill files are removed."""
    n = 5000
    values = pa.array([b'{"V":%d}' % i for i in range(n)], pa.binary())
    batch = RecordBatch(
        "t",
        1,
        range(100, 100 + n),
        pa.array(range(n), pa.int64()),
        pa.array([b"k%d" % (i % 7) for i in range(n)], pa.binary()),
        values.slice(0, n),
        [(("h", b"%d" % i),) if headers and i % 3 == 0 else () for i in range(n)],
    )
    for sent in (batch, batch.split(10)[0]):
        pipe = io.BytesIO()
        write_message(pipe, (7, sent), str(tmp_path))
        pipe.seek(0)
        request_id, received = read_message(pipe)
        assert request_id == 7
        assert received.arrays()[1].equals(sent.arrays()[1])
        assert received.arrays()[2].equals(sent.arrays()[2])
        assert received.timestamps == sent.timestamps
        assert (received.offsets, received.headers) == (sent.offsets, sent.headers)
        assert list(tmp_path.iterdir()) == []


def test_spill_directories_left_by_killed_processes_are_swept() -> None:
    """A query's process killed with its worker (a process group killed outright) leaves
    its spill directory behind: the next process to start a worker removes it, and keeps
    those of processes still running."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    left = Path(tempfile.gettempdir()) / f"{SPILL_PREFIX}{gone.pid}-left"
    left.mkdir()
    (left / "batch").write_bytes(b"x" * 1000)
    live = Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-"))
    try:
        child = subprocess.run(
            [sys.executable, "-c", "from sqlengine import tasks; tasks.prestart(1)"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert child.returncode == 0, child.stderr
        assert not left.exists()
        assert live.exists()
    finally:
        shutil.rmtree(left, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)


_WORKERS_AT_START = """
import sys, tempfile
from sqlengine import tasks
from sqlengine.columnar.aggregation import ValueRuns
from sqlengine.engine import Engine
config = dict(arg.split("=", 1) for arg in sys.argv[1:])
with tempfile.TemporaryDirectory() as data_dir:
    engine = Engine(data_dir, config)
    print(sum(w.process.poll() is None for w in tasks._workers), flush=True)
    engine.close()
"""


@pytest.mark.parametrize(
    ("config", "workers"),
    [
        (["ksql.streams.num.stream.threads=2"], 2),
        (["ksql.streams.num.stream.threads=3"], 3),
        (["ksql.streams.num.stream.threads=1"], 0),
        (["ksql.streams.num.stream.threads=2", "streamdb.vectorized=false"], 0),
    ],
)
def test_an_engine_starts_its_worker_processes_with_it(config: list[str], workers: int) -> None:
    """Workers start with the engine (as Kafka Streams starts its threads with the
    application), not during a query's first step; only when queries may use them."""
    child = subprocess.run(
        [sys.executable, "-c", _WORKERS_AT_START, *config],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert child.returncode == 0, child.stderr
    assert int(child.stdout.strip()) == workers


# Records per partition and step in the worker tests: more than a worker takes
# (tasks.MIN_PARALLEL_RECORDS), fewer than their 6,000 per partition.
STEP_RECORDS = 2500

JOIN_DDL = """
CREATE STREAM orders (itemid STRING KEY, orderid INT, units INT, note STRING)
    WITH (kafka_topic='orders', value_format='JSON', partitions=2);
CREATE TABLE items (id STRING PRIMARY KEY, make STRING, cost DOUBLE)
    WITH (kafka_topic='items', value_format='JSON', partitions=2);
"""
JOINS = [
    "SELECT o.itemid, o.orderid, i.make, o.units * i.cost AS total FROM orders o "
    "JOIN items i ON o.itemid = i.id",
    "SELECT o.itemid AS k, o.orderid, i.make, i.cost, i.ROWTIME AS t FROM orders o "
    "LEFT JOIN items i ON o.itemid = i.id WHERE i.cost IS NULL OR i.cost > 2.5",
]


def _join_run(
    tmp: Path, props: dict[str, str], n: int = 300
) -> tuple[list[list[tuple]], list[int], list[int]]:
    """The joins' sinks, batches run vectorized and batches run in workers, per query,
    over 12 steps of `n` orders."""
    rnd = random.Random(11)
    engine = Engine(tmp / "-".join(f"{k}={v}" for k, v in props.items()))
    engine.execute(JOIN_DDL)
    for i, query in enumerate(JOINS):
        engine.execute(f"CREATE STREAM j{i} AS {query};", props)

    def items(ids: range, ts: int) -> None:
        engine.log.append_batch(
            "items",
            [b"Item_%d" % i for i in ids],
            [orjson.dumps({"make": f"m{i}", "cost": i * 0.5}) for i in ids],
            [ts] * len(ids),
        )

    items(range(40), 0)
    engine.run_until_idle()
    for step in range(12):
        keys = [None if rnd.random() < 0.02 else b"Item_%d" % rnd.randint(0, 60) for _ in range(n)]
        values = [
            orjson.dumps({"orderid": step * n + j, "units": rnd.randint(1, 9), "note": "n"})
            for j in range(n)
        ]
        if step == 5:
            values[7] = b'{"orderid": "not a number"}'  # this step runs per record
        engine.log.append_batch("orders", keys, values, [step * 1000 + j for j in range(n)])
        if step % 4 == 3:  # the table changes: those steps read table records too
            items(range(30, 50), step * 1000 + 500)
        engine.run_until_idle()
    queries = engine.executor.running.values()  # type: ignore[attr-defined]
    in_workers = [0 if t is None else t.batches for _, t in map(_vectorized, queries)]
    return (*_sinks_and_runs(engine, [f"J{i}" for i in range(len(JOINS))]), in_workers)


def test_vectorized_lookup_join_equals_per_record_join(tmp_path: Path) -> None:
    rows, not_run, _ = _join_run(tmp_path, {"streamdb.vectorized": "false"})
    vectorized, ran, _ = _join_run(tmp_path, {"ksql.streams.num.stream.threads": "1"})
    assert not_run == [-1, -1]
    assert all(r >= 5 for r in ran), ran  # most steps ran vectorized, some per record
    assert all(rows) and vectorized == rows


def test_lookup_join_partitions_in_worker_processes(tmp_path: Path) -> None:
    """Steps large enough run a partition in a worker process, joining with a copy of the
    table as the step found it; the sinks hold what the per-record path writes."""
    rows, _, _ = _join_run(tmp_path, {"streamdb.vectorized": "false"}, n=5000)
    parallel, _, in_workers = _join_run(tmp_path, {"ksql.streams.num.stream.threads": "2"}, n=5000)
    assert all(b >= 5 for b in in_workers), in_workers
    assert all(rows) and parallel == rows


AGG_DDL = (
    "CREATE STREAM r (id STRING KEY, k STRING, i INT, big BIGINT, d DOUBLE, name STRING, "
    "b BOOLEAN) WITH (kafka_topic='r', value_format='JSON', partitions=2);"
)
# (query, key format): a STRING key in the KAFKA format has its updates encoded column-wise.
AGGREGATES = [
    (
        "SELECT k, COUNT(*) AS n, SUM(i) AS s, SUM(big) AS sb, AVG(d) AS a, MIN(name) AS mn, "
        "MAX(i) AS mx, COUNT(b) AS cb, COUNT(d) AS cd, AVG(i) AS ai FROM r GROUP BY k",
        "JSON",
    ),
    (
        "SELECT id, COUNT(*) AS n, SUM(d) AS s, MAX(i) AS mx FROM r "
        "WINDOW TUMBLING (SIZE 1 SECOND, GRACE PERIOD 2 SECONDS) WHERE i > 3 GROUP BY id",
        "JSON",
    ),
    (
        "SELECT k, i, COUNT(*) AS n, MIN(d) AS mn FROM r "
        "WINDOW TUMBLING (SIZE 5 SECONDS, GRACE PERIOD 0 SECONDS) GROUP BY k, i EMIT FINAL",
        "JSON",
    ),
    (
        "SELECT k + '!' AS kk, SUM(i * 2) AS s2 FROM r GROUP BY k + '!' HAVING SUM(i * 2) > 10",
        "JSON",
    ),
    (
        "SELECT k, COUNT(*) AS n, AVG(d) AS a, MAX(name) AS mx, SUM(i) + 1 AS s1 FROM r GROUP BY k",
        "KAFKA",
    ),
    (
        "SELECT id, COUNT(*) AS n, SUM(d) AS s, MIN(i) AS mn, COUNT(*) * 2 AS n2 FROM r "
        "WINDOW TUMBLING (SIZE 1 SECOND, GRACE PERIOD 2 SECONDS) GROUP BY id",
        "KAFKA",
    ),
]


def _agg_run(tmp: Path, vectorized: bool) -> tuple[list[list[tuple]], list[int], list[int]]:
    rnd = random.Random(5)
    engine = Engine(tmp / str(vectorized))
    engine.execute(AGG_DDL)
    props = {"streamdb.vectorized": str(vectorized).lower()}
    for i, (query, key_format) in enumerate(AGGREGATES):
        engine.execute(f"CREATE TABLE t{i} WITH (key_format='{key_format}') AS {query};", props)
    clock = 0
    for step in range(15):
        n = 200
        values = []
        for _ in range(n):
            row = {
                "k": rnd.choice(["a", "b", "c", None]),
                "i": rnd.choice([rnd.randint(-5, 20), None, 2**31 - 1]),
                "big": rnd.randint(2**62, 2**63 - 1),
                "d": rnd.choice([rnd.uniform(-100, 100), None, 0.1]),
                "name": rnd.choice(["x", "y", "zz", None]),
                "b": rnd.choice([True, False, None]),
            }
            values.append(orjson.dumps(row))
        if step == 6:
            values[3] = b'{"i": "12"}'  # a coercion: this step runs per record
        stamps = []
        for _ in range(n):  # mostly forward, some late beyond the grace period
            clock += rnd.randint(0, 40)
            stamps.append(clock - (rnd.randint(2500, 4000) if rnd.random() < 0.05 else 0))
        keys = [b"id%d" % rnd.randint(0, 7) for _ in range(n)]
        engine.log.append_batch("r", keys, values, stamps)
        engine.run_until_idle()
    encoders = [q.aggregation.update_encoder for q in engine.executor.running.values()]  # type: ignore[attr-defined]
    encoded = [-1 if e is None else e.batches for e in encoders]
    return (*_sinks_and_runs(engine, [f"T{i}" for i in range(len(AGGREGATES))]), encoded)


def test_vectorized_group_by_equals_per_record_group_by(tmp_path: Path) -> None:
    """With ksqlDB's record cache on (its default): one update per group and batch."""
    rows, not_run, _ = _agg_run(tmp_path, vectorized=False)
    vectorized, ran, encoded = _agg_run(tmp_path, vectorized=True)
    assert not_run == [-1] * len(AGGREGATES)
    assert all(r >= 10 for r in ran), ran
    # The KAFKA-keyed tables' updates were encoded column-wise, batch after batch.
    assert [e >= 10 for e in encoded] == [fmt == "KAFKA" for _, fmt in AGGREGATES], encoded
    for i, (expected, got) in enumerate(zip(rows, vectorized, strict=True)):
        assert got == expected, AGGREGATES[i // 2]
    assert sum(map(len, rows)) > 100


def test_a_new_groups_integer_sums_wrap_as_javas(tmp_path: Path) -> None:
    """A group a batch creates starts from its partials as they are: an INT sum (and an
    average's) past 32 bits within the batch is wrapped as Java wraps it, in the update
    and in the stored accumulator the next batch adds to."""
    outputs = []
    for vectorized in ("false", "true"):
        engine = Engine(tmp_path / vectorized)
        engine.execute(AGG_DDL)
        engine.execute(
            "CREATE TABLE t AS SELECT k, SUM(i) AS s, AVG(i) AS a, SUM(big) AS sb FROM r "
            "GROUP BY k;",
            {"streamdb.vectorized": vectorized},
        )
        row = orjson.dumps({"k": "a", "i": 2**31 - 1, "big": 2**62})
        for _ in range(2):
            engine.log.append_batch("r", [b"id"] * 3, [row] * 3, [0, 1, 2])
            engine.run_until_idle()
        (running,) = engine.executor.running.values()  # type: ignore[attr-defined]
        outputs.append((engine.log.read("T", 0, 0, 10).values, _vectorized(running)[0]))
        engine.close()
    (per_record, _), (batched, columnar) = outputs
    assert columnar.batches == 2
    assert batched == per_record
    assert orjson.loads(per_record[0]) == {"S": 2147483645, "A": 715827881.6666666, "SB": -(2**62)}


@pytest.mark.parametrize("grace", ["", ", GRACE PERIOD 0 SECONDS"])
def test_worker_processes_group_batches_as_this_process_would(tmp_path: Path, grace: str) -> None:
    """A GROUP BY's batches grouped in a worker process from the stream time their step
    started at: kept with the default grace, grouped again here with none (the step's
    earlier batch closed windows of theirs). Either way the table's records are the
    per-record path's."""
    rnd = random.Random(11)
    n = 12_000
    values = [
        orjson.dumps({"k": f"k{rnd.randint(0, 40)}", "i": rnd.randint(0, 9)}) for _ in range(n)
    ]
    stamps = [i * 10 - (rnd.randint(500, 3000) if rnd.random() < 0.02 else 0) for i in range(n)]
    keys = [b"id%d" % rnd.randint(0, 50) for _ in range(n)]
    query = (
        "CREATE TABLE t AS SELECT k, COUNT(*) AS n, SUM(i) AS s FROM r "
        f"WINDOW TUMBLING (SIZE 1 SECOND{grace}) GROUP BY k;"
    )
    rows, parallel, worker_batches = _rows_and_parallel(
        tmp_path, AGG_DDL, ("r", keys, values, stamps), query, "T"
    )
    assert worker_batches >= 1
    assert all(rows) and parallel == rows


def test_value_runs_add_each_groups_values_in_row_order() -> None:
    """A DOUBLE sum's partial: each group's sum is its values added left to right from 0.0,
    bit for bit, for small groups (added a position at a time across groups) and large ones
    alike; NULLs are left out of the runs and the counts."""
    rnd = random.Random(3)
    codes = [0] * 300 + [rnd.randrange(1, 60) for _ in range(4000)]  # group 0 is large
    rnd.shuffle(codes)
    magnitudes = [1e16, -1e16, 1.0, 0.1, -0.0, None]
    values = [rnd.choice([*magnitudes, rnd.uniform(-1, 1)]) for _ in codes]
    ordered = np.argsort(np.array(codes), kind="stable")
    runs = ValueRuns.of(
        pa.chunked_array([pa.array(values, pa.float64())]), ordered, np.array(codes)[ordered], 60
    )
    for group in range(60):
        run = [v for c, v in zip(codes, values, strict=True) if c == group and v is not None]
        assert runs.run(group) == run
        assert runs.counts[group] == len(run)
        assert struct.pack(">d", runs.sums[group]) == struct.pack(">d", reduce(add, run, 0.0))
    assert runs.counts[0] > ValueRuns._POSITIONS
