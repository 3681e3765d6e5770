"""Conformance on the Kafka backend: QTT files run as `streamdb test --bootstrap-servers` runs
them, every case on a real broker (Tansu), each with a service id of its own."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from server.qtt import run_cases
from sqlengine.testing.cases import load_cases
from sqlengine.testing.kafka_broker import TansuBroker
from sqlengine.testing.runner import BACKEND_CONFIG

QTT = Path(__file__).resolve().parents[2] / "shared" / "qtt" / "query-validation-tests"
# Filters and projections and the three window kinds: 52 cases, all passing on both logs.
FILES = [
    "filter.json",
    "project-filter.json",
    "tumbling-windows.json",
    "hopping-windows.json",
    "session-windows.json",
]
EXPECTED_PASSED = 52


def test_conformance_files_pass_on_kafka(kafka_broker: TansuBroker) -> None:
    if not QTT.is_dir():
        pytest.skip(f"conformance corpus not found at {QTT}; it needs ../shared/qtt")
    cases = load_cases([QTT / name for name in FILES])
    backend = {"bootstrap.servers": kafka_broker.bootstrap_servers}
    results = run_cases(cases, backend=backend)
    counts = Counter(status for _, status, _ in results)
    failures = [f"{label}: {reason}" for label, status, reason in results if status == "failed"]
    assert counts["passed"] == EXPECTED_PASSED, "\n".join(failures[:20])
    assert BACKEND_CONFIG == {}, "the backend must not outlive the run"
