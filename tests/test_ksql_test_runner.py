"""`streamdb test-runner` (ksqlDB's ksql-test-runner, its docs' own example files) and
`streamdb test` over ksqlDB's SQL test files (`--@test:` sections, ASSERT VALUES ...)."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from sqlengine.testing.ksql_test_runner import run_test_runner
from sqlengine.testing.sql_tests import load_sql_tests, run_sql_test
from tests.live_server import streamdb

FILES = Path(__file__).parent / "ksql_test_runner"


def test_test_runner_passes_and_fails_as_ksqldb_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(FILES, tmp_path / "files")
    files = tmp_path / "files"
    passing = run_test_runner(
        str(files / "statements.sql"), str(files / "input.json"), str(files / "output.json")
    )
    assert passing == 0
    assert capsys.readouterr().out.strip() == ">>> Test passed!"

    expected = orjson.loads((files / "output.json").read_bytes())
    expected["outputs"][4]["value"]["ORDERUNITS"] = 18.0
    (files / "wrong.json").write_bytes(orjson.dumps(expected))
    failing = streamdb(
        "test-runner",
        *("-s", str(files / "statements.sql")),
        *("-i", str(files / "input.json")),
        *("-o", str(files / "wrong.json")),
    )
    assert failing.returncode == 1
    assert failing.stdout.strip().startswith(
        ">>>>> Test failed: Topic 'S1', message 4: Expected <101, "
        '{"ORDERUNITS":18.0,"CASE_RESULT":"small"}> with timestamp=0 but was <101, '
        '{"ORDERUNITS":1.0,"CASE_RESULT":"small"}> with timestamp=0'
    )


def test_sql_test_file_sections_and_directives() -> None:
    tests = load_sql_tests(FILES / "app.sql")
    assert [t.name for t in tests] == [
        "a join emits",
        "a replacement that drops a column is refused",
        "a filtered table deletes",
    ]
    assert tests[1].expected_message == "The following columns are changed, missing or reordered"
    assert [run_sql_test(t) for t in tests] == [None, None, None]


def test_sql_test_failures_name_the_assert(tmp_path: Path) -> None:
    file = tmp_path / "wrong.sql"
    file.write_text(
        "--@test: wrong value\n"
        "CREATE STREAM s (id INT KEY, foo INT) WITH (kafka_topic='s', value_format='JSON');\n"
        "INSERT INTO s (id, foo) VALUES (1, 2);\n"
        "ASSERT VALUES s (id, foo) VALUES (1, 3);\n"
        "--@test: no error\n"
        "--@expected.message: boom\n"
        "CREATE STREAM s (id INT KEY, foo INT) WITH (kafka_topic='s', value_format='JSON');\n"
        "--@test: missing record\n"
        "CREATE STREAM s (id INT KEY, foo INT) WITH (kafka_topic='s', value_format='JSON');\n"
        "ASSERT VALUES s (id, foo) VALUES (1, 3);\n"
    )
    wrong, no_error, missing = (run_sql_test(t) for t in load_sql_tests(file))
    assert wrong is not None and "`ASSERT VALUES s (id, foo) VALUES (1, 3)` (Line: 4)" in wrong
    assert "FOO: expected 3, actual 2" in wrong
    assert no_error is not None and "Expected an error (boom)" in no_error
    assert missing is not None and "Expected another record" in missing

    run = streamdb("test", str(file), str(FILES / "app.sql"))
    assert run.returncode == 1
    assert run.stdout.count(">>> Test passed!") == 3
    assert "3 passed, 3 failed, 0 skipped" in run.stdout


def test_test_runner_loads_an_extension_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "shout.py").write_text(
        "from sqlengine.udf import udf\n\n\n"
        "@udf()\ndef runner_shout(text: str) -> str:\n    return text.upper() + '!'\n"
    )
    (tmp_path / "s.sql").write_text(
        "CREATE STREAM words (k INT KEY, w STRING) WITH (kafka_topic='w', value_format='JSON');\n"
        "CREATE STREAM loud AS SELECT k, RUNNER_SHOUT(w) AS w FROM words;\n"
    )
    (tmp_path / "in.json").write_text(
        '{"inputs": [{"topic": "w", "key": 1, "value": {"W": "hi"}, "timestamp": 0}]}'
    )
    (tmp_path / "out.json").write_text(
        '{"outputs": [{"topic": "LOUD", "key": 1, "value": {"W": "HI!"}, "timestamp": 0}]}'
    )
    files = [str(tmp_path / n) for n in ("s.sql", "in.json", "out.json")]
    assert run_test_runner(*files, extension_dir=str(tmp_path / "ext")) == 0
    assert capsys.readouterr().out.strip() == ">>> Test passed!"
