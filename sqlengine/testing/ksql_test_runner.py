"""`streamdb test-runner -s statements.sql -i input.json -o output.json`: ksqlDB's
ksql-test-runner. The statements run in order on a fresh engine, then the input records (file
`{"inputs": [{"topic", "key", "value", "timestamp", "window"?}]}`) one at a time, each
processed fully; the expected records (`{"outputs": [...]}`, the same shape) are compared
topic by topic, in order. It prints `>>> Test passed!` or `>>>>> Test failed: <cause>` as
ksqlDB's tool does and exits 0 or 1.

ksqlDB's test-only functions load as for every conformance case; `--extension-dir` adds a
directory of the user's functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlengine.testing.cases import Case, read_corpus_json
from sqlengine.testing.runner import PASSED, run_case
from sqlengine.udf import load_extensions

PASSED_LINE = "\t >>> Test passed!"
FAILED_PREFIX = "\t >>>>> Test failed: "


class TestFileError(Exception):
    """A test file that cannot be read or lacks what it must hold (named with the fix)."""


def _records(path: str | None, field: str) -> list[dict[str, Any]]:
    if path is None:
        return []
    try:
        document = read_corpus_json(Path(path).read_bytes())
    except (OSError, json.JSONDecodeError) as exc:
        raise TestFileError(f"cannot read {path}: {exc}") from exc
    records = document.get(field) if isinstance(document, dict) else None
    if not isinstance(records, list) or not records:
        raise TestFileError(f'{path}: expected a JSON object with a non-empty "{field}" array')
    for number, record in enumerate(records):
        if not isinstance(record, dict) or "topic" not in record:
            raise TestFileError(f'{path}: {field}[{number}] needs a "topic"')
    return records


def test_case(statements_file: str, input_file: str | None, output_file: str) -> Case:
    """The three files as one query-validation case."""
    try:
        sql = Path(statements_file).read_text()
    except OSError as exc:
        raise TestFileError(f"cannot read {statements_file}: {exc.strerror}") from exc
    spec = {
        "name": Path(statements_file).stem,
        "statements": [sql],
        "inputs": _records(input_file, "inputs"),
        "outputs": _records(output_file, "outputs"),
    }
    return Case(Path(statements_file), spec["name"], None, spec)


def run_test_runner(
    statements_file: str,
    input_file: str | None,
    output_file: str,
    extension_dir: str | None = None,
) -> int:
    try:
        case = test_case(statements_file, input_file, output_file)
    except TestFileError as exc:
        print(f"{FAILED_PREFIX}{exc}")
        return 1
    load_extensions(extension_dir)
    result = run_case(case)
    if result.status == PASSED:
        print(PASSED_LINE)
        return 0
    print(f"{FAILED_PREFIX}{result.reason}")
    return 1
