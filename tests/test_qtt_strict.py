"""The QTT runner compares as upstream's does: DECIMAL by value and scale, a windowed record's
window and a record's headers exactly, post schemas in column order, expectedException.type
as an instance check, and a `config` list as one run per entry."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from sqlengine.testing.cases import Case, load_cases
from sqlengine.testing.runner import FAILED, PASSED, run_case

DECIMALS = {
    "statements": [
        "CREATE STREAM INPUT (ID BIGINT KEY, F0 DECIMAL(3,2)) "
        "WITH (kafka_topic='test_topic', value_format='JSON');",
        "CREATE STREAM OUTPUT AS SELECT ID, F0 FROM INPUT;",
    ],
    "inputs": [{"topic": "test_topic", "key": 0, "value": {"F0": "3.4"}}],
}
WINDOWED = {
    "statements": [
        "CREATE STREAM INPUT (ID INT KEY, V INT) WITH (kafka_topic='test_topic', value_format='JSON');",
        "CREATE TABLE OUTPUT AS SELECT ID, COUNT(*) AS N FROM INPUT "
        "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY ID;",
    ],
    "inputs": [{"topic": "test_topic", "key": 1, "value": {"V": 1}, "timestamp": 0}],
}


def _run(spec: dict[str, Any], **changes: Any) -> tuple[str, str]:
    result = run_case(Case(Path("strict.json"), "case", None, {**spec, **changes}))
    return result.status, result.reason


def _output(value: dict[str, Any], **extra: Any) -> list[dict[str, Any]]:
    return [{"topic": "OUTPUT", "key": 0, "value": value, **extra}]


def test_decimals_compare_by_value_and_scale() -> None:
    assert _run(DECIMALS, outputs=_output({"F0": "3.40"}))[0] == PASSED
    assert _run(DECIMALS, outputs=_output({"F0": Decimal("3.40")}))[0] == PASSED
    for wrong in ("3.4", Decimal("3.4"), 3):
        status, reason = _run(DECIMALS, outputs=_output({"F0": wrong}))
        assert status == FAILED and "value" in reason


def test_doubles_compare_as_java_prints_them() -> None:
    """A JSON record's DOUBLE is written as Jackson writes it (Double.toString), and the
    corpus's text of it must match that text's value and scale."""
    spec = {
        "statements": [
            "CREATE STREAM INPUT (ID BIGINT KEY, D DOUBLE) "
            "WITH (kafka_topic='test_topic', value_format='JSON');",
            "CREATE STREAM OUTPUT AS SELECT ID, D FROM INPUT;",
        ],
        "inputs": [{"topic": "test_topic", "key": 0, "value": {"D": Decimal("1E12")}}],
    }
    assert _run(spec, outputs=_output({"D": Decimal("1.0E12")}))[0] == PASSED
    for wrong in (Decimal("1000000000000.0"), Decimal("1E12")):
        status, reason = _run(spec, outputs=_output({"D": wrong}))
        assert status == FAILED and "value" in reason


def test_corpus_numbers_are_read_exactly(tmp_path: Path) -> None:
    text = '{"tests": [{"name": "n", "inputs": [{"value": {"V": 12345678987654321.2345678987654321}}]}]}'
    (tmp_path / "numbers.json").write_text(text)
    [case] = load_cases([tmp_path])
    assert case.spec["inputs"][0]["value"]["V"] == Decimal("12345678987654321.2345678987654321")


def test_headers_and_windows_are_compared_when_not_listed() -> None:
    status, reason = _run(
        DECIMALS, outputs=_output({"F0": "3.40"}, headers=[{"KEY": "a", "VALUE": "AA=="}])
    )
    assert status == FAILED and "headers" in reason
    window = {"start": 0, "end": 1000, "type": "time"}
    counted = [{"topic": "OUTPUT", "key": 1, "value": {"N": 1}, "timestamp": 0}]
    assert _run(WINDOWED, outputs=[{**counted[0], "window": window}])[0] == PASSED
    status, reason = _run(WINDOWED, outputs=counted)
    assert status == FAILED and "window" in reason


def test_post_schema_in_column_order_and_the_exception_type() -> None:
    post = {
        "sources": [
            {"name": "OUTPUT", "type": "stream", "schema": "F0 DECIMAL(3,2), ID BIGINT KEY"}
        ]
    }
    status, reason = _run(DECIMALS, outputs=_output({"F0": "3.40"}), post=post)
    assert status == FAILED and "schema" in reason
    refused = {
        "statements": ["CREATE STREAM S (ID INT KEY) WITH (kafka_topic='t', value_format='JSON');"]
        + ["SELECT * FROM NOWHERE EMIT CHANGES;"],
    }
    wrong = {"type": "io.confluent.ksql.parser.exception.ParseFailedException", "message": ""}
    status, reason = _run(refused, expectedException=wrong)
    assert (
        status == FAILED
        and "expected a ParseFailedException, got a KsqlStatementException" in reason
    )
    right = {"type": "io.confluent.ksql.util.KsqlException", "message": "NOWHERE"}
    assert _run(refused, expectedException=right)[0] == PASSED


def test_a_config_list_runs_once_per_entry(tmp_path: Path) -> None:
    spec = {"name": "per config", "config": ["true", "false"], "properties": {"p": "{CONFIG}"}}
    (tmp_path / "configs.json").write_bytes(orjson.dumps({"tests": [spec]}))
    cases = load_cases([tmp_path])
    assert [c.spec["properties"]["p"] for c in cases] == ["true", "false"]
    assert {c.label for c in cases} == {"configs.json::per config"}
