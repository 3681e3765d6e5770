"""`streamdb test PATH...`: run QTT files and report as ksql-test-runner does."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson

from sqlengine.testing.cases import Case, load_cases
from sqlengine.testing.rest import is_rest_case, run_rest
from sqlengine.testing.runner import FAILED, CaseResult, run_case


def _run_one(case: Case) -> CaseResult:
    return run_case(case, run_rest if is_rest_case(case) else None)


def _run_chunk(cases: list[Case]) -> list[tuple[str, str, str]]:
    return [(r.case.label, r.status, r.reason) for r in map(_run_one, cases)]


def run_cases(cases: list[Case], jobs: int | None = None) -> list[tuple[str, str, str]]:
    """(label, status, reason) of every case, in the cases' order; runs in worker processes."""
    jobs = jobs or min(4, os.cpu_count() or 1)
    if jobs <= 1 or len(cases) <= 20:
        return _run_chunk(cases)
    chunks = [list(range(i, len(cases), jobs * 4)) for i in range(jobs * 4)]
    results: list[tuple[str, str, str] | None] = [None] * len(cases)
    with ProcessPoolExecutor(jobs) as pool:
        for indexes, part in zip(
            chunks, pool.map(_run_chunk, [[cases[i] for i in c] for c in chunks]), strict=True
        ):
            for i, r in zip(indexes, part, strict=True):
                results[i] = r
    return [r for r in results if r is not None]


def run_tests(paths: list[str], json_out: str | None = None, jobs: int | None = None) -> int:
    results = run_cases(load_cases(paths), jobs)
    counts: Counter[str] = Counter()
    for label, status, reason in results:
        counts[status] += 1
        if status == FAILED:
            print(f"FAIL {label}: {reason.splitlines()[0] if reason else ''}")
    if json_out:
        Path(json_out).write_bytes(
            orjson.dumps(
                [
                    {"case": label, "status": status, "reason": reason}
                    for label, status, reason in results
                ],
                option=orjson.OPT_INDENT_2,
            )
        )
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts[FAILED] else 0
