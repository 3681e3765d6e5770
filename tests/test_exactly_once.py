"""kill -9 of an engine running queries (vectorized, on worker processes) while records
arrive: after restarts, no acknowledged input is lost, the CSAS sink and a stream-table
join's hold each input's output exactly once, and the GROUP BY table's counts are exact.

The engine runs in a child process as the server runs it (queries on a background thread,
`Engine.start`) while its main thread appends batches to a 2-partition topic, printing each
acknowledged batch; the test kills it at a random moment, five times, then lets a last
engine catch up and reads everything back from the log on disk."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

from sqlengine.engine import Engine
from sqlengine.testing.kafka_broker import TansuBroker

SETUP = """
CREATE STREAM src (id STRING KEY, n BIGINT, w INT)
    WITH (kafka_topic='src', value_format='JSON', partitions=2);
CREATE STREAM out AS SELECT id, n, w * 2 AS w2 FROM src WHERE w >= 0;
CREATE TABLE counts AS SELECT id, COUNT(*) AS c FROM src GROUP BY id;
CREATE STREAM joined AS SELECT s.id, s.n, c.c FROM src s LEFT JOIN counts c ON s.id = c.id;
"""
BATCH = 6000  # over 2 partitions: large enough for the worker processes

_CHILD = textwrap.dedent(
    """
    import sys, time, orjson
    from sqlengine.engine import Engine

    data_dir, start, setup, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    config = orjson.loads(sys.argv[5])
    engine = Engine(data_dir, {"ksql.streams.num.stream.threads": "2", **config})
    if not engine.catalog.queries:
        engine.execute(setup)
    src = engine.catalog.source("SRC").topic
    engine.start(poll_interval=0.01)
    n = start
    while True:
        ids = range(n, n + batch)
        engine.log.append_batch(
            src,
            [f"k{i % 53}".encode() for i in ids],
            [orjson.dumps({"n": i, "w": i % 7}) for i in ids],
            list(ids),
        )
        n += batch
        print(n, flush=True)  # every record below n is acknowledged
        time.sleep(0.05)
    """
)


def _run_and_kill(
    data_dir: Path,
    start: int,
    rnd: random.Random,
    config: dict[str, str],
    setup: str,
    batches: tuple[int, int],
) -> int:
    """Starts an engine (`config`: its log) appending from `start`, kills it at a random
    moment after between `batches` acknowledged batches; returns the end of what it
    acknowledged."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(data_dir),
            str(start),
            setup,
            str(BATCH),
            orjson.dumps(config).decode(),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert child.stdout is not None
    acked = start
    deadline = time.monotonic() + 60
    wanted = rnd.randint(*batches)  # acknowledged batches before the kill
    while acked < start + wanted * BATCH and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acked = int(line)
    time.sleep(rnd.uniform(0.0, 0.3))  # somewhere in a query step, or between steps
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert acked > start, "the engine acknowledged nothing before the kill"
    return acked


def _values(engine: Engine, topic: str) -> list[dict[str, object]]:
    out = []
    for p in range(engine.log.topic(topic).partitions):  # type: ignore[union-attr]
        offset = 0
        while True:
            batch = engine.log.read(topic, p, offset, 50_000)
            if not len(batch):
                break
            out += [orjson.loads(v) for v in batch.values if v is not None]
            offset = batch.next_offset
    return out


def test_kill_9_mid_ingest_loses_and_doubles_nothing(tmp_path: Path) -> None:
    kill_9_mid_ingest(tmp_path, {}, SETUP)


def test_kill_9_mid_ingest_on_kafka_loses_and_doubles_nothing(
    tmp_path: Path, kafka_broker: TansuBroker
) -> None:
    """The same on a Kafka broker: the data dir keeps only local state."""
    suffix = uuid.uuid4().hex[:8]
    config = {
        "bootstrap.servers": kafka_broker.bootstrap_servers,
        "ksql.service.id": f"eos_{suffix}_",
    }
    kill_9_mid_ingest(tmp_path, config, setup_on_topics_of(suffix))


def setup_on_topics_of(suffix: str) -> str:
    """SETUP with topics named after `suffix` (tests share one broker)."""
    return (
        SETUP.replace("kafka_topic='src'", f"kafka_topic='src_{suffix}'")
        .replace("CREATE STREAM out AS", f"CREATE STREAM out WITH (kafka_topic='out_{suffix}') AS")
        .replace(
            "CREATE TABLE counts AS", f"CREATE TABLE counts WITH (kafka_topic='c_{suffix}') AS"
        )
        .replace(
            "CREATE STREAM joined AS", f"CREATE STREAM joined WITH (kafka_topic='j_{suffix}') AS"
        )
    )


@dataclass
class KillOutcome:
    """What the log holds after the kills and a last engine's catch-up."""

    source: list[int]  # the `n` of each source record
    lost: set[int]  # acknowledged inputs not in the source
    sinks: dict[str, Counter[int]]  # per sink stream, how often it holds each input's output
    counts: dict[str, int]  # the table's rows
    expected_counts: dict[str, int]


def kill_9_mid_ingest(tmp_path: Path, config: dict[str, str], setup: str) -> None:
    outcome = kill_9_outcome(tmp_path, config, setup)
    assert len(outcome.source) == len(set(outcome.source)), "the source holds a record twice"
    assert not outcome.lost, f"{len(outcome.lost)} acknowledged records lost"
    for sink, outputs in outcome.sinks.items():
        doubled = [n for n, k in outputs.items() if k > 1]
        assert not doubled, f"{sink}: {len(doubled)} outputs written twice, e.g. {doubled[:5]}"
        assert set(outputs) == set(outcome.source), sink
    assert outcome.counts == outcome.expected_counts


def kill_9_outcome(
    tmp_path: Path, config: dict[str, str], setup: str, batches: tuple[int, int] = (2, 6)
) -> KillOutcome:
    """Five engines killed mid-stream (`config`: their log and settings), then one that
    catches up: what the log holds."""
    rnd = random.Random(9)
    next_n = 0
    acknowledged: list[range] = []
    for _ in range(5):
        end = _run_and_kill(tmp_path, next_n, rnd, config, setup, batches)
        acknowledged.append(range(next_n, end))
        next_n = end
        # The next run appends after whatever the log holds (acknowledged or not).
        engine = Engine(tmp_path, config)
        src = engine.catalog.source("SRC").topic  # type: ignore[union-attr]
        next_n = max([next_n] + [int(v["n"]) + 1 for v in _values(engine, src)])
        engine.close()

    engine = Engine(tmp_path, {"ksql.streams.num.stream.threads": "2", **config})
    engine.run_until_idle()
    source = [int(v["n"]) for v in _values(engine, src)]
    sinks = {}
    for sink in ("OUT", "JOINED"):  # a stateless query's output, a stream-table join's
        topic = engine.catalog.source(sink).topic  # type: ignore[union-attr]
        sinks[sink] = Counter(int(v["N"]) for v in _values(engine, topic))
    rows = engine.execute("SELECT id, c FROM counts;")[0].rows
    engine.close()
    return KillOutcome(
        source,
        {n for acked in acknowledged for n in acked} - set(source),
        sinks,
        {r[0]: r[1] for r in rows},
        dict(Counter(f"k{n % 53}" for n in source)),
    )


# Steps of 10,000 records per partition, as the crash below counts them.
STEP_CONFIG = {"ksql.streams.num.stream.threads": "1", "ksql.streams.max.poll.records": "10000"}
_CRASH_BETWEEN_PARTITIONS = textwrap.dedent(
    """
    import os, sys
    from sqlengine.engine import Engine
    from sqlengine.log import topics

    data_dir, sink = sys.argv[1], sys.argv[2]
    engine = Engine(
        data_dir,
        {"ksql.streams.num.stream.threads": "1", "ksql.streams.max.poll.records": "10000"},
    )
    write = topics.TopicLog._write
    appends = []

    def write_then_die(self, store, *args):
        written = write(self, store, *args)
        if store in self._topic(sink).partitions:
            appends.append(store)
            if len(appends) == 3:  # the second step's first partition: the process dies
                os._exit(9)
        return written

    topics.TopicLog._write = write_then_die
    engine.run_until_idle(max_rounds=5)
    """
)


def test_a_crash_between_two_sink_partitions_writes_nothing_twice(tmp_path: Path) -> None:
    """The process dies after a step appended to one sink partition and before the other:
    the replay writes only what the second partition lacks, for a CSAS and for a join."""
    setup = (
        "CREATE STREAM src (id STRING KEY, n BIGINT, w INT) "
        "WITH (kafka_topic='src', value_format='JSON', partitions=2);"
        "CREATE TABLE names (id STRING PRIMARY KEY, name STRING) "
        "WITH (kafka_topic='names', value_format='JSON', partitions=2);"
    )
    queries = {
        "OUT": "CREATE STREAM out AS SELECT id, n FROM src;",
        "JOINED": "CREATE STREAM joined AS SELECT s.id, s.n, t.name FROM src s "
        "LEFT JOIN names t ON s.id = t.id;",
    }
    for sink, query in queries.items():
        data_dir = tmp_path / sink
        engine = Engine(data_dir, STEP_CONFIG)
        engine.execute(setup)
        engine.log.append_batch("names", [b"k1"], [b'{"name": "one"}'], [0])
        for start in range(0, 30_000, 10_000):  # steps of 10,000 records per partition
            ids = range(start, start + 10_000)
            keys = [f"k{i % 11}".encode() for i in ids]
            engine.log.append_batch("src", keys, [orjson.dumps({"n": i}) for i in ids], list(ids))
        engine.execute(query)
        engine.close()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        child = subprocess.run(
            [sys.executable, "-c", _CRASH_BETWEEN_PARTITIONS, str(data_dir), sink],
            env=env,
            timeout=120,
        )
        assert child.returncode == 9  # it died where it should have
        engine = Engine(data_dir)
        engine.run_until_idle()
        outputs = Counter(int(v["N"]) for v in _values(engine, sink))
        assert max(outputs.values()) == 1, f"{sink}: a record written twice"
        assert set(outputs) == set(range(30_000)), sink
        engine.close()
