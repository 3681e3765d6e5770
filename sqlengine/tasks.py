"""Worker processes that run queries' vectorized stages on every core.

Kafka Streams runs a query's partitions as tasks on `num.stream.threads` threads; Python's
GIL rules threads out, so streamdb runs them in worker processes instead
(`ksql.streams.num.stream.threads`, default: the number of cores). A worker only computes:
it gets a partition's batch, runs the query's stage on it and sends the sink's columns back.
The query's own process keeps reading, appending and committing offsets in order, so a
worker changes nothing about ordering or restarts, and a worker that dies only sends its
batches back to the per-record path.

The pool is one per process, started on first use (the forkserver start method: the
server's threads are never forked).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from planner.builder import QueryPlan
from planner.logical import SinkSpec
from sqlengine.columnar.stateless import ColumnarStage, SinkColumns
from sqlengine.log.base import RecordBatch

# A batch smaller than this runs in the query's process: shipping it costs more than it saves.
MIN_PARALLEL_RECORDS = 2000

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_stages: dict[bytes, ColumnarStage | None] = {}  # in a worker: stages built so far


def default_threads() -> int:
    return os.cpu_count() or 1


def _shared_pool(processes: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < processes:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            context = multiprocessing.get_context("forkserver")
            _pool = ProcessPoolExecutor(processes, mp_context=context)
            _pool_size = processes
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    """Forgets a broken pool: the next batch starts new workers."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def _shutdown() -> None:
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)


def _run_stage(spec: bytes, batch: RecordBatch) -> SinkColumns | None:
    """In a worker: the stage `spec` describes (built once per worker), run on `batch`."""
    if spec not in _stages:
        plan, sink = pickle.loads(spec)  # noqa: S301 - sent by our own query process
        _stages[spec] = ColumnarStage.build(plan, sink)
    stage = _stages[spec]
    return None if stage is None else stage.run(batch)


class StageTasks:
    """Runs one query's vectorized stage on partitions' batches in worker processes."""

    def __init__(self, plan: QueryPlan, sink: SinkSpec, processes: int) -> None:
        self.spec = pickle.dumps((plan, sink), protocol=5)
        self.processes = processes
        self.batches = 0  # batches run in a worker

    def submit(self, batch: RecordBatch) -> Future[SinkColumns | None] | None:
        """Starts `batch` on a worker; None when it is better run here (small) or the
        workers are gone."""
        if len(batch) < MIN_PARALLEL_RECORDS:
            return None
        pool = _shared_pool(self.processes)
        try:
            future = pool.submit(_run_stage, self.spec, batch)
        except (BrokenProcessPool, RuntimeError):
            _discard(pool)
            return None
        self.batches += 1
        return future


def result(future: Future[SinkColumns | None]) -> SinkColumns | None:
    """A worker's result; None (run the batch here) if the worker died."""
    try:
        return future.result()
    except BrokenProcessPool:
        return None
