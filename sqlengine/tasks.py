"""Worker processes that run queries' vectorized stages on every core.

Kafka Streams runs a query's partitions as tasks on `num.stream.threads` threads; Python's
GIL rules threads out, so streamdb runs them in worker processes instead
(`ksql.streams.num.stream.threads`, default: the number of cores). A worker only computes:
it gets a partition's batch, runs the query's stage on it (a stateless query's: the sink's
columns; a GROUP BY's: the batch's groups) and sends the result back.
The query's own process keeps reading, appending and committing offsets in order, so a
worker changes nothing about ordering or restarts, and a worker that dies only sends its
batches back to the per-record path.

Workers are `python -m sqlengine.task_worker` processes fed through pipes (length-prefixed
pickles), shared by every query of the process and started with the engine (`prestart`)
or on first use. A query may queue a second batch on a worker while the first runs (the
next step's, read ahead: the worker computes while the query's process merges and
appends), so a large message goes through a file in the worker's spill directory and the
pipe only carries its name: neither side ever waits to write. Requests carry ids; an
answer nobody waits for any more (a query that ended with a batch queued) is read and
dropped before the worker serves another query. They are plain subprocesses rather than
`multiprocessing` ones so that they never import the embedding program's main module
again, and they exit when their pipe closes (their parent ended, however it ended).
"""

from __future__ import annotations

import atexit
import fcntl
import gc
import itertools
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlengine.log.base import RecordBatch

# A batch smaller than this runs in the query's process: shipping it costs more than it saves.
MIN_PARALLEL_RECORDS = 2000
# Requests a query may have queued on one worker: the one running and the next.
QUEUE_DEPTH = 2
_HEADER = struct.Struct("<?Q")  # (the payload is a file name, payload length)
_COUNT = struct.Struct("<I")  # a message's parts: the pickle, then its buffers
_INLINE_BYTES = 1 << 16
_PIPE_BYTES = 1 << 20
_DEFAULT_GC_THRESHOLDS = (700, 10, 10)
_request_ids = itertools.count()
SPILL_PREFIX = "streamdb-worker-"


def tune_gc() -> None:
    """A process running queries holds hundreds of thousands of long-lived containers (the
    record caches' group entries, batches' rows): with Python's default first threshold
    (a collection every 700 allocations) it spent a quarter of its time in collections that
    free nothing. At 50,000 a 5M-event windowed GROUP BY still spent 0.35-0.4 s of its 6 s
    in young collections, each a scan of the new group entries (which all live on); at
    500,000 about 0.05 s. Raised once per process, and only from the default (a program
    that set its own keeps it)."""
    if gc.get_threshold() == _DEFAULT_GC_THRESHOLDS:
        gc.set_threshold(500_000, 20, 10)


def default_threads() -> int:
    return os.cpu_count() or 1


def write_message(stream: Any, message: object, spill_dir: str) -> None:
    """A message is its pickle and its arrays' buffers (pickle's out-of-band buffers, not
    copied into the pickle), framed as one: a small one goes through the pipe, a large
    one through a spill file."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    parts = [memoryview(data), *(b.raw() for b in buffers)]
    lengths = struct.pack(f"<I{len(parts)}Q", len(parts), *map(len, parts))
    size = len(lengths) + sum(map(len, parts))
    if size > _INLINE_BYTES:
        fd, path = tempfile.mkstemp(dir=spill_dir)
        with os.fdopen(fd, "wb") as spill:
            for part in (lengths, *parts):
                spill.write(part)
        name = path.encode()
        stream.write(_HEADER.pack(True, len(name)))
        stream.write(name)
    else:
        stream.write(_HEADER.pack(False, size))
        for part in (lengths, *parts):
            stream.write(part)
    stream.flush()


def read_message(stream: Any) -> Any:
    """The next message, or raises EOFError when the other side is gone."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    spilled, size = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    if spilled:
        path = data.decode()
        with open(path, "rb") as spill:
            data = spill.read()
        os.unlink(path)
    content = memoryview(data)
    (count,) = _COUNT.unpack_from(content)
    lengths = struct.unpack_from(f"<{count}Q", content, _COUNT.size)
    parts, at = [], _COUNT.size + 8 * count
    for length in lengths:
        parts.append(content[at : at + length])
        at += length
    return pickle.loads(parts[0], buffers=parts[1:])  # noqa: S301 - our own processes' messages


class Worker:
    """One worker process and the requests it has queued, answered in order."""

    def __init__(self) -> None:
        # Named after the query's process, so that a later one can tell it is left over.
        self.spill_dir = tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sqlengine.task_worker", self.spill_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for pipe in (self.process.stdin, self.process.stdout):
            _widen(pipe)
        self.pending: deque[int] = deque()  # ids of the requests not answered yet
        self.abandoned: set[int] = set()  # ... of which nobody waits for the answer
        self.owner: StageTasks | None = None  # whose requests are pending

    def send(self, request_id: int, message: tuple[Any, ...]) -> bool:
        try:
            write_message(self.process.stdin, (request_id, *message), self.spill_dir)
        except (BrokenPipeError, OSError):
            return False
        self.pending.append(request_id)
        return True

    def receive(self, request_id: int) -> Any:
        """The answer to a request, after those to the requests sent before it."""
        while True:
            answered, answer = read_message(self.process.stdout)
            self.pending.popleft()
            self.abandoned.discard(answered)
            if not self.pending:
                self.owner = None
            if answered == request_id:
                return answer

    def settle(self) -> None:
        """Read and drop the answers nobody waits for, if they are all that is pending."""
        if self.pending and all(r in self.abandoned for r in self.pending):
            try:
                self.receive(self.pending[-1])
            except EOFError:
                self.pending.clear()
                self.owner = None

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=5)
        shutil.rmtree(self.spill_dir, ignore_errors=True)


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
_swept = False  # has this process swept left-over spill directories yet?


def _free_worker(tasks: StageTasks) -> Worker | None:
    """A live worker among the first `tasks.processes` that can take a request of `tasks`
    (idle, or running only requests of `tasks` and fewer than QUEUE_DEPTH), the least
    loaded, started if need be. A worker serves one query at a time: a query steps on one
    thread, so it alone reads its workers' answers."""
    with _lock:
        _workers[:] = [w for w in _workers if w.process.poll() is None]
        candidates = []
        for worker in _workers[: tasks.processes]:
            worker.settle()
            if worker.owner in (None, tasks) and len(worker.pending) < QUEUE_DEPTH:
                candidates.append(worker)
        if len(_workers) < tasks.processes and not any(not w.pending for w in candidates):
            candidates.append(_start_worker())
        if not candidates:
            return None
        chosen = min(candidates, key=lambda w: len(w.pending))
        chosen.owner = tasks
        return chosen


def _start_worker() -> Worker:
    """A new worker (the caller holds `_lock`); the first of the process sweeps first."""
    global _swept
    if not _swept:
        _swept = True
        sweep_spill_dirs()
    worker = Worker()
    _workers.append(worker)
    return worker


def sweep_spill_dirs() -> None:
    """Removes the spill directories of query processes that are gone. A worker removes its
    own when its query's process ends, however it ends, unless it dies too (killed with
    it): what they held then stays behind, up to a few batches each."""
    for directory in Path(tempfile.gettempdir()).glob(f"{SPILL_PREFIX}*-*"):
        owner = directory.name.removeprefix(SPILL_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def prestart(processes: int) -> None:
    """Starts workers up to `processes` now, so that a query's first step does not wait
    while they start (each imports the engine: about half a second of CPU), as Kafka
    Streams starts its stream threads with the application."""
    with _lock:
        _workers[:] = [w for w in _workers if w.process.poll() is None]
        while len(_workers) < processes:
            _start_worker()


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
        # The batches sent, by (partition, first offset): their worker and request id.
        self.started: dict[tuple[int, int], tuple[Worker, int]] = {}

    def start(self, batches: list[RecordBatch], *extra: Any) -> None:
        """Starts each batch on a free worker, unless it is better run here (small, or no
        worker free), the workers are gone or it was started already (read ahead)."""
        for batch in batches:
            if self.failed or len(batch) < MIN_PARALLEL_RECORDS or _id(batch) in self.started:
                continue
            worker = _free_worker(self)
            if worker is None:
                return
            request_id = next(_request_ids)
            if not worker.send(request_id, (self.spec, batch, extra)):
                self.failed = True
                return
            self.batches += 1
            self.started[_id(batch)] = (worker, request_id)

    def result(self, batch: RecordBatch) -> tuple[bool, Any]:
        """(False, None) if no worker runs the batch; else (True, the stage's result), the
        result None if the worker died (the caller runs the batch itself)."""
        started = self.started.pop(_id(batch), None)
        if started is None:
            return False, None
        worker, request_id = started
        try:
            return True, worker.receive(request_id)
        except EOFError:
            self.failed = True
            return True, None

    def abandon(self) -> None:
        """Nobody will ask for the results of the batches started: their answers are
        dropped when they come."""
        with _lock:
            for worker, request_id in self.started.values():
                worker.abandoned.add(request_id)
        self.started.clear()


def _id(batch: RecordBatch) -> tuple[int, int]:
    return (batch.partition, batch.first_offset)
