"""A worker process of `sqlengine.tasks`: reads (stage spec, batch) requests from stdin and
answers each with the batch's sink columns (None: the query's process runs it per record).
Exits when stdin closes."""

from __future__ import annotations

import pickle
import sys

from sqlengine.columnar.stateless import ColumnarStage, SinkColumns
from sqlengine.log.base import RecordBatch
from sqlengine.tasks import read_message, write_message


def _run(
    stages: dict[bytes, ColumnarStage | None], spec: bytes, batch: RecordBatch
) -> SinkColumns | None:
    if spec not in stages:
        plan, sink = pickle.loads(spec)  # noqa: S301 - sent by our own query process
        stages[spec] = ColumnarStage.build(plan, sink)
    stage = stages[spec]
    return None if stage is None else stage.run(batch)


def main() -> None:
    stages: dict[bytes, ColumnarStage | None] = {}  # built once per query
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            spec, batch = read_message(requests)
        except EOFError:
            return
        try:
            result = _run(stages, spec, batch)
        except Exception:  # noqa: BLE001 - the query's process runs the batch itself
            result = None
        write_message(answers, result)


if __name__ == "__main__":
    main()
