"""The `streamdb` command (repl/command.py), run as installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

STREAMDB = str(Path(sys.executable).with_name("streamdb"))


def streamdb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STREAMDB, *args], capture_output=True, text=True, timeout=120)


def test_only_streamdb_test_has_the_test_only_functions(tmp_path: Path) -> None:
    """ksqlDB's test-only functions (BAD_UDF) exist for `streamdb test`, whose runner
    registers them, and for no other command."""
    scripts = {"1_abs.sql": "DESCRIBE FUNCTION ABS;", "2_bad.sql": "DESCRIBE FUNCTION BAD_UDF;"}
    for name, sql in scripts.items():
        (tmp_path / name).write_text(sql)
    run = streamdb("run", "--data-dir", str(tmp_path / "data"), "--queries", str(tmp_path))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "DESCRIBE FUNCTION ABS... -> ok" in run.stdout
    assert "Can't find any functions with the name 'BAD_UDF'" in run.stderr

    case = {
        "name": "a test-only function",
        "statements": [
            "CREATE STREAM INPUT (ID INT KEY, B BOOLEAN) "
            "WITH (kafka_topic='input', value_format='JSON');",
            "CREATE STREAM OUTPUT AS SELECT ID, BAD_UDF(B) AS X FROM INPUT;",
        ],
        "inputs": [{"topic": "input", "key": 1, "value": {"B": False}}],
        "outputs": [{"topic": "OUTPUT", "key": 1, "value": {"X": 0}}],
    }
    qtt = tmp_path / "bad_udf.json"
    qtt.write_bytes(orjson.dumps({"tests": [case]}))
    run = streamdb("test", str(qtt))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 0 failed, 0 skipped" in run.stdout
