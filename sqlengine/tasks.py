"""Worker processes that run queries' vectorized stages on every core.

Kafka Streams runs a query's partitions as tasks on `num.stream.threads` threads; Python's
GIL rules threads out, so streamdb runs them in worker processes instead
(`ksql.streams.num.stream.threads`, default: the number of cores). A worker only computes:
it gets a partition's batch, runs the query's stage on it (a stateless query's: the sink's
columns; a GROUP BY's: the batch's groups) and sends the result back.
The query's own process keeps reading, appending and committing offsets in order, so a
worker changes nothing about ordering or restarts, and a worker that dies only sends its
batches back to the per-record path.

Workers are `python -m sqlengine.task_worker` processes fed through pipes, one request at
a time each (length-prefixed pickles), shared by every query of the process and started on
first use. They are plain subprocesses rather than `multiprocessing` ones so that they never
import the embedding program's main module again, and they exit when their pipe closes
(their parent ended, however it ended).
"""

from __future__ import annotations

import atexit
import fcntl
import gc
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from sqlengine.log.base import RecordBatch

# A batch smaller than this runs in the query's process: shipping it costs more than it saves.
MIN_PARALLEL_RECORDS = 2000
_LENGTH = 8
_PIPE_BYTES = 1 << 20
_DEFAULT_GC_THRESHOLDS = (700, 10, 10)


def tune_gc() -> None:
    """A process running queries holds hundreds of thousands of long-lived containers (the
    record caches' group entries, batches' rows): with Python's default first threshold
    (a collection every 700 allocations) it spent a quarter of its time in collections that
    free nothing. Raised once per process, and only from the default (a program that set its
    own keeps it)."""
    if gc.get_threshold() == _DEFAULT_GC_THRESHOLDS:
        gc.set_threshold(50_000, 20, 10)


def default_threads() -> int:
    return os.cpu_count() or 1


def write_message(stream: Any, message: object) -> None:
    data = pickle.dumps(message, protocol=5)
    stream.write(len(data).to_bytes(_LENGTH, "little"))
    stream.write(data)
    stream.flush()


def read_message(stream: Any) -> Any:
    """The next message, or raises EOFError when the other side is gone."""
    header = stream.read(_LENGTH)
    if len(header) < _LENGTH:
        raise EOFError
    size = int.from_bytes(header, "little")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - our own processes' messages


class Worker:
    """One worker process with at most one request in flight."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sqlengine.task_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for pipe in (self.process.stdin, self.process.stdout):
            _widen(pipe)
        self.busy = False

    def send(self, message: object) -> bool:
        try:
            write_message(self.process.stdin, message)
        except (BrokenPipeError, OSError):
            return False
        self.busy = True
        return True

    def receive(self) -> Any:
        self.busy = False
        return read_message(self.process.stdout)

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=5)


def _widen(pipe: Any) -> None:
    """A batch passes in one write where the system lets a pipe hold one (Linux): a writer
    then need not wait for the reader to drain it 64 KiB at a time."""
    if pipe is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
        try:
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        except OSError:
            pass  # above the system's limit: the default size works, only slower


_lock = threading.Lock()
_workers: list[Worker] = []


def _idle_worker(limit: int) -> Worker | None:
    """An idle live worker among the first `limit`, started if need be."""
    with _lock:
        for worker in _workers[:limit]:
            if not worker.busy and worker.process.poll() is None:
                return worker
        _workers[:] = [w for w in _workers if w.process.poll() is None]
        if len(_workers) < limit:
            worker = Worker()
            _workers.append(worker)
            return worker
        return None


@atexit.register
def _stop_workers() -> None:
    for worker in _workers:
        worker.stop()


def _forget_workers() -> None:
    """In a child forked from a process with workers: they are the parent's. Its copies of
    their pipes are closed (so a worker still sees EOF when the parent ends) and it starts
    workers of its own if it needs any."""
    global _lock
    _lock = threading.Lock()
    for worker in _workers:
        for pipe in (worker.process.stdin, worker.process.stdout):
            if pipe is not None:
                pipe.close()
    _workers.clear()


os.register_at_fork(after_in_child=_forget_workers)


class StageTasks:
    """Runs one query's vectorized stage on partitions' batches in worker processes. The
    stage is what `build(*args)` returns in the worker (built once there; `build` and its
    arguments are pickled, so `build` is a module-level function or a class's method);
    each batch runs as `stage.run(batch, *extra)`."""

    def __init__(self, build: Callable[..., Any], args: tuple[Any, ...], processes: int) -> None:
        self.spec = pickle.dumps((build, args), protocol=5)
        self.processes = processes
        self.batches = 0  # batches run in a worker
        self.failed = False  # a worker died: this query runs in its own process from now on
        self.started: dict[int, Worker] = {}  # partition -> the worker running its batch

    def start(self, batches: list[RecordBatch], *extra: Any) -> None:
        """Starts each batch on an idle worker, unless it is better run here (small, or no
        worker idle) or the workers are gone."""
        for batch in batches:
            if self.failed or len(batch) < MIN_PARALLEL_RECORDS:
                continue
            worker = _idle_worker(self.processes)
            if worker is None:
                return
            if not worker.send((self.spec, batch, extra)):
                self.failed = True
                return
            self.batches += 1
            self.started[batch.partition] = worker

    def result(self, partition: int) -> tuple[bool, Any]:
        """(False, None) if no worker runs the partition's batch; else (True, the stage's
        result), the result None if the worker died (the caller runs the batch itself)."""
        worker = self.started.pop(partition, None)
        if worker is None:
            return False, None
        try:
            return True, worker.receive()
        except EOFError:
            self.failed = True
            return True, None
