"""A worker process of `sqlengine.tasks`: reads (request id, stage spec, batch, extra
arguments) requests from stdin and answers each, in order, with (request id, the stage's
result for the batch) (None: the query's process runs the batch itself). Large messages
pass through files in the spill directory its one argument names. Exits when stdin
closes."""

from __future__ import annotations

import pickle
import shutil
import sys
from typing import Any

from sqlengine.log.base import RecordBatch
from sqlengine.tasks import read_message, tune_gc, write_message


def _run(stages: dict[bytes, Any], spec: bytes, batch: RecordBatch, extra: tuple[Any, ...]) -> Any:
    if spec not in stages:
        build, args = pickle.loads(spec)  # noqa: S301 - sent by our own query process
        stages[spec] = build(*args)
    stage = stages[spec]
    return None if stage is None else stage.run(batch, *extra)


def main() -> None:
    tune_gc()
    stages: dict[bytes, Any] = {}  # built once per query
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    spill_dir = sys.argv[1]
    while True:
        try:
            request_id, spec, batch, extra = read_message(requests)
        except EOFError:
            # The query's process is gone (however it ended): so are the spill files' readers.
            shutil.rmtree(spill_dir, ignore_errors=True)
            return
        try:
            result = _run(stages, spec, batch, extra)
        except Exception:  # noqa: BLE001 - the query's process runs the batch itself
            result = None
        try:
            write_message(answers, (request_id, result), spill_dir)
        except OSError:  # the query's process died while this one computed (BrokenPipeError)
            shutil.rmtree(spill_dir, ignore_errors=True)
            return


if __name__ == "__main__":
    main()
