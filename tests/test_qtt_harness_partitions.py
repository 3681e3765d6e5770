"""`post` topic partitions as upstream's test harness reports them: a topic a CREATE statement
names has its PARTITIONS, else ksqlDB's legacy default of 4; a query's sink always 4 (the
harness records every sink so), whatever the query created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlengine.testing.cases import Case
from sqlengine.testing.runner import FAILED, PASSED, run_case

CASE = {
    "statements": [
        "CREATE STREAM INPUT (K STRING KEY, V INT) WITH (kafka_topic='input', value_format='JSON');",
        "CREATE STREAM LEFT_IN (K STRING KEY, V INT) WITH (kafka_topic='left_in', "
        "value_format='JSON', partitions=1);",
        "CREATE STREAM OUTPUT AS SELECT * FROM LEFT_IN;",
    ],
    "inputs": [{"topic": "left_in", "key": "a", "value": {"V": 1}}],
    "outputs": [{"topic": "OUTPUT", "key": "a", "value": {"V": 1}}],
}


def _post(name: str, partitions: int) -> dict[str, Any]:
    return {"topics": {"topics": [{"name": name, "partitions": partitions}]}}


def _run(post: dict[str, Any]) -> tuple[str, str]:
    result = run_case(Case(Path("harness.json"), "case", None, {**CASE, "post": post}))
    return result.status, result.reason


def test_statement_topics_default_to_four_partitions() -> None:
    assert _run(_post("input", 4))[0] == PASSED
    status, reason = _run(_post("input", 1))
    assert status == FAILED and "has 4 partitions, expected 1" in reason


def test_statement_partitions_are_kept() -> None:
    assert _run(_post("left_in", 1))[0] == PASSED


def test_a_query_sink_reports_four_partitions() -> None:
    """The sink itself has its source's single partition; the harness reports 4."""
    assert _run(_post("OUTPUT", 4))[0] == PASSED
    assert _run(_post("OUTPUT", 1))[0] == FAILED
