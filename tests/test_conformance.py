"""The conformance ratchet: every QTT case listed in conformance/qtt_passing.txt must pass.

The list only grows: when more cases pass, regenerate it with
`python -m tests.conformance.update` (see that module) and commit it.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from sqlengine.testing.cases import load_cases
from sqlengine.testing.runner import PASSED, run_case

QTT = Path(__file__).resolve().parents[2] / "shared" / "qtt"
RATCHET = Path(__file__).parent / "conformance" / "qtt_passing.txt"


def _failures(labels: set[str]) -> list[str]:
    cases = [c for c in load_cases([QTT / "query-validation-tests"]) if c.label in labels]
    # Fresh processes, not forks: this one has had state stores (RocksDB) open, and a fork
    # inherits their locks held by threads it does not have.
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
        results = list(pool.map(run_case, cases, chunksize=8))
    missing = labels - {c.label for c in cases}
    failed = [f"{r.case.label}: {r.reason}" for r in results if r.status != PASSED]
    return sorted(failed) + [f"{label}: case not found" for label in sorted(missing)]


def test_ratchet_cases_still_pass() -> None:
    if not QTT.is_dir():
        pytest.skip(f"conformance corpus not found at {QTT}; the ratchet needs ../shared/qtt")
    labels = {line for line in RATCHET.read_text().splitlines() if line.strip()}
    assert labels, "the ratchet list is empty"
    failures = _failures(labels)
    assert not failures, f"{len(failures)} ratcheted cases fail:\n" + "\n".join(failures[:50])
