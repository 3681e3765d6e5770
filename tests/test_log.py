"""The embedded log on real files: round trips, partitioning, reopen, recovery, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sqlengine.log import (
    EmbeddedLog,
    MemoryLog,
    ProducerRecord,
    TopicExistsError,
    UnknownTopicError,
    default_partition,
    murmur2,
    open_log,
)

ROOT = Path(__file__).resolve().parent.parent

# Kafka's own test vectors (UtilsTest.testMurmur2) plus akka's Murmur2Spec (same function).
MURMUR2_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
    b"1": -1993445489,
    b"12": 126087238,
    b"123": -267702483,
    b"1234": -1614185708,
    b"12345": -1188365604,
}


def segment_files(data_dir: Path, topic: str, partition: int = 0) -> list[Path]:
    return sorted((data_dir / "topics" / topic / str(partition)).glob("*.log"))


@pytest.fixture
def log(tmp_path: Path):
    log = EmbeddedLog(tmp_path)
    yield log
    log.close()


@pytest.mark.parametrize("make", [lambda p: EmbeddedLog(p), lambda p: MemoryLog()])
def test_round_trip_with_headers_nulls_and_timestamps(tmp_path: Path, make) -> None:
    log = make(tmp_path)
    log.create_topic("t", partitions=2)
    records = [
        ProducerRecord(b"k", b"v", 1000, (("h1", b"x"), ("h2", None)), partition=0),
        ProducerRecord(None, b"no key", 2000, partition=0),
        ProducerRecord(b"tombstone", None, 3000, partition=0),
        ProducerRecord(None, None, -5, partition=0),
        ProducerRecord(b"", b"", 2**62, (("", b""),), partition=1),
    ]
    assert log.append("t", records) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    got = log.read("t", 0, 0).records()
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in got] == [
        (0, 1000, b"k", b"v", (("h1", b"x"), ("h2", None))),
        (1, 2000, None, b"no key", ()),
        (2, 3000, b"tombstone", None, ()),
        (3, -5, None, None, ()),
    ]
    (one,) = log.read("t", 1, 0).records()
    assert (one.partition, one.key, one.value, one.timestamp, one.headers) == (
        1,
        b"",
        b"",
        2**62,
        (("", b""),),
    )
    assert log.read("t", 0, 2, max_records=1).offsets == [2]
    assert len(log.read("t", 0, 4)) == 0
    assert (log.start_offset("t", 0), log.end_offset("t", 0), log.end_offset("t", 1)) == (0, 4, 1)
    log.close()


def test_reads_span_frames_and_segments(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path, segment_bytes=4096)
    log.create_topic("t")
    for start in range(0, 1000, 100):
        values = [b"v%04d" % i for i in range(start, start + 100)]
        assert log.append_batch("t", [None] * 100, values, list(range(100))) == {
            0: range(start, start + 100)
        }
    assert len(segment_files(tmp_path, "t")) > 2
    batch = log.read("t", 0, 150, max_records=700)
    assert batch.offsets == list(range(150, 850))
    assert batch.values == [b"v%04d" % i for i in range(150, 850)]
    log.close()
    reopened = EmbeddedLog(tmp_path, segment_bytes=4096)
    assert reopened.read("t", 0, 0, 5000).values == [b"v%04d" % i for i in range(1000)]
    reopened.close()


def test_murmur2_matches_kafka() -> None:
    assert {key: murmur2(key) for key in MURMUR2_VECTORS} == MURMUR2_VECTORS


def test_keyed_records_go_to_kafkas_partition(log: EmbeddedLog) -> None:
    log.create_topic("t", partitions=5)
    keys = list(MURMUR2_VECTORS)
    placed = log.append("t", [ProducerRecord(k, b"v", 0) for k in keys])
    expected = [(MURMUR2_VECTORS[k] & 0x7FFFFFFF) % 5 for k in keys]
    assert [p for p, _ in placed] == expected
    ranges = log.append_batch("t", keys, [b"v"] * len(keys), [0] * len(keys))
    for p in range(5):
        got = log.read("t", p, 0).keys
        mine = [k for k, e in zip(keys, expected, strict=True) if e == p]
        assert got == mine + mine
        if mine:
            assert ranges[p] == range(len(mine), 2 * len(mine))
    assert default_partition(b"21", 5) == (-973932308 & 0x7FFFFFFF) % 5


def test_null_keys_round_robin(log: EmbeddedLog) -> None:
    log.create_topic("t", partitions=3)
    placed = log.append("t", [ProducerRecord(None, b"v", 0) for _ in range(6)])
    assert [p for p, _ in placed] == [0, 1, 2, 0, 1, 2]


def test_topics_metadata_and_errors(log: EmbeddedLog) -> None:
    info = log.create_topic("orders", partitions=3, replicas=2, config={"cleanup.policy": "x"})
    assert log.topic("orders") == info and log.topics() == [info]
    with pytest.raises(TopicExistsError):
        log.create_topic("orders")
    with pytest.raises(ValueError):
        log.create_topic("../escape")
    with pytest.raises(UnknownTopicError):
        log.read("missing", 0, 0)
    with pytest.raises(UnknownTopicError):
        log.read("orders", 3, 0)
    log.append_batch("orders", [b"k"], [b"v"], [1])
    log.delete_topic("orders")
    assert log.topic("orders") is None
    assert not (log.data_dir / "topics" / "orders").exists()
    log.create_topic("orders")
    assert log.end_offset("orders", 0) == 0


def test_reopen_keeps_topics_records_and_committed_offsets(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.create_topic("a", partitions=2, config={"retention.ms": "1000"})
    log.create_topic("b")
    log.append_batch("a", [b"x", b"y", b"z"], [b"1", b"2", b"3"], [1, 2, 3])
    log.append_batch("b", [None], [b"only"], [7], headers=[(("h", b"1"),)])
    group = "_confluent-ksql-default_query_CSAS_X/1 ü" + "x" * 300  # needs a hashed file name
    log.commit(group, {("a", 0): 2, ("a", 1): 1})
    log.commit(group, {("a", 1): 5})
    log.commit("other", {("b", 0): 1})
    before = {(t, p): log.read(t, p, 0).records() for t, p in [("a", 0), ("a", 1), ("b", 0)]}
    log.close()
    with pytest.raises(ValueError):
        log.read("a", 0, 0)

    reopened = open_log(tmp_path)
    assert [t.name for t in reopened.topics()] == ["a", "b"]
    assert reopened.topic("a").config == {"retention.ms": "1000"}
    assert {k: reopened.read(*k, 0).records() for k in before} == before
    assert reopened.committed(group) == {("a", 0): 2, ("a", 1): 5}
    assert reopened.committed("other") == {("b", 0): 1}
    assert reopened.committed("nobody") == {}
    assert reopened.append_batch("b", [None], [b"next"], [8]) == {0: range(1, 2)}
    reopened.close()


def test_second_open_of_same_dir_is_refused(log: EmbeddedLog) -> None:
    with pytest.raises(RuntimeError):
        EmbeddedLog(log.data_dir)


def _write_three_batches(data_dir: Path) -> int:
    """Three frames of 10 records; returns the file position where the last one starts."""
    log = EmbeddedLog(data_dir)
    log.create_topic("t")
    last_frame = 0
    for b in range(3):
        (path,) = segment_files(data_dir, "t")
        last_frame = path.stat().st_size
        log.append_batch("t", [None] * 10, [b"v%d" % (b * 10 + i) for i in range(10)], [0] * 10)
    log.close()
    return last_frame


@pytest.mark.parametrize("damage", ["truncate", "flip_payload", "flip_header", "zeros"])
def test_torn_or_corrupt_tail_is_cut_on_reopen(tmp_path: Path, damage: str) -> None:
    last_frame = _write_three_batches(tmp_path)
    (path,) = segment_files(tmp_path, "t")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 7]
    elif damage == "flip_payload":
        data[-20] ^= 0xFF
    elif damage == "flip_header":
        data[last_frame + 12] ^= 0x01  # the record count
    else:  # a crashed machine can leave a zero-filled tail
        data += b"\0" * 100
    path.write_bytes(bytes(data))

    log = EmbeddedLog(tmp_path)
    kept = 30 if damage == "zeros" else 20
    assert log.end_offset("t", 0) == kept
    assert log.read("t", 0, 0).values == [b"v%d" % i for i in range(kept)]
    assert log.append_batch("t", [None], [b"after"], [0]) == {0: range(kept, kept + 1)}
    log.close()
    reopened = EmbeddedLog(tmp_path)
    assert reopened.read("t", 0, kept - 1).values == [b"v%d" % (kept - 1), b"after"]
    reopened.close()


def test_corruption_found_by_a_read_raises_instead_of_returning_data(log: EmbeddedLog) -> None:
    from sqlengine.log import CorruptFrameError

    log.create_topic("t")
    log.append_batch("t", [None] * 3, [b"aaaa", b"bbbb", b"cccc"], [0] * 3)
    (path,) = segment_files(log.data_dir, "t")
    with open(path, "r+b") as f:  # bit rot under an open log
        f.seek(-12, os.SEEK_END)
        f.write(b"X")
    with pytest.raises(CorruptFrameError):
        log.read("t", 0, 0)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from sqlengine.log import EmbeddedLog

    log = EmbeddedLog(sys.argv[1])
    log.create_topic("t", partitions=2)
    n = 0
    while True:
        values = [b"%d:" % (n + i) + b"x" * 200 for i in range(2000)]
        keys = [b"%d" % ((n + i) % 7) for i in range(2000)]
        ranges = log.append_batch("t", keys, values, list(range(n, n + 2000)))
        n += 2000
        print(n, *(f"{p}={r.stop}" for p, r in sorted(ranges.items())), flush=True)
    """
)


def test_acknowledged_records_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(data_dir)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    acked = {0: 0, 1: 0}
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().split()
        assert line, "the writer died early"
        for item in line[1:]:
            p, end = item.split(b"=")
            acked[int(p)] = int(end)
        if int(line[0]) >= 200_000:
            break
    os.kill(proc.pid, signal.SIGKILL)  # mid-run: it never stops appending by itself
    proc.wait()
    for line in proc.stdout:  # acknowledged after our last readline, before the kill
        for item in line.split()[1:]:
            p, end = item.split(b"=")
            acked[int(p)] = int(end)

    log = EmbeddedLog(data_dir)
    seen = set()
    for p in (0, 1):
        assert log.end_offset("t", p) >= acked[p] > 0
        batch = log.read("t", p, 0, max_records=10**7)
        assert batch.offsets == list(range(log.end_offset("t", p)))
        for key, value, stamp in zip(batch.keys, batch.values, batch.timestamps, strict=True):
            n = int(value.split(b":")[0])
            assert value == b"%d:" % n + b"x" * 200
            assert key == b"%d" % (n % 7) and stamp == n
            assert default_partition(key, 2) == p
            seen.add(n)
    assert seen == set(range(len(seen)))  # every record up to the last stored one, once
    log.close()


def test_wait_for_data_wakes_on_append_from_another_thread(log: EmbeddedLog) -> None:
    log.create_topic("t", partitions=2)
    positions = {("t", 0): 0, ("t", 1): 0}
    start = time.monotonic()
    assert log.wait_for_data(positions, timeout=0.05) is False
    assert time.monotonic() - start >= 0.05

    timer = threading.Timer(0.1, lambda: log.append_batch("t", [None], [b"v"], [0], partition=1))
    timer.start()
    start = time.monotonic()
    # Woken by the append, not by the (generous) deadline, however slow the machine is.
    assert log.wait_for_data(positions, timeout=120) is True
    assert time.monotonic() - start < 100
    timer.join()
    assert log.wait_for_data({("t", 1): 0}, timeout=0) is True
    assert log.wait_for_data({("t", 1): 1}, timeout=0) is False


def test_concurrent_appends_get_distinct_contiguous_offsets(log: EmbeddedLog) -> None:
    log.create_topic("t")

    def writer(w: int) -> None:
        for b in range(50):
            values = [b"%d-%d-%d" % (w, b, i) for i in range(20)]
            log.append_batch("t", [None] * 20, values, [w] * 20)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batch = log.read("t", 0, 0, max_records=10**6)
    assert batch.offsets == list(range(4 * 50 * 20))
    assert sorted(batch.values) == sorted(
        b"%d-%d-%d" % (w, b, i) for w in range(4) for b in range(50) for i in range(20)
    )
    for w in range(4):  # each writer's records keep their order
        mine = [v for v in batch.values if v.startswith(b"%d-" % w)]
        assert mine == [b"%d-%d-%d" % (w, b, i) for b in range(50) for i in range(20)]


def test_fsync_mode_round_trip(tmp_path: Path) -> None:
    log = open_log(tmp_path, fsync=True)
    log.create_topic("t")
    log.append_batch("t", [b"k"], [b"v"], [1])
    log.commit("g", {("t", 0): 1})
    log.close()
    reopened = open_log(tmp_path, fsync=True)
    assert reopened.read("t", 0, 0).values == [b"v"]
    assert reopened.committed("g") == {("t", 0): 1}
    reopened.close()
