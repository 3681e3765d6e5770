"""Variable substitution as ksqlDB documents it: case-insensitive names, `$$` escapes, and a
DEFINE that belongs to its session (the engine's own, a REST request's, the CLI's)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sqlengine import results as R
from sqlengine.engine import Engine
from tests.test_repl import streamdb_cli
from tests.test_server import TIMEOUT, Server
from tests.test_server import server as server  # noqa: F401  (the fixture)

STREAM = (
    "CREATE STREAM ${name} (id INT KEY, v STRING) "
    "WITH (kafka_topic='${topic_name}', value_format='${FORMAT}', partitions=${Partitions});"
)


def test_names_are_case_insensitive_and_keep_their_first_spelling(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "DEFINE name = 's1'; DEFINE TOPIC_NAME = 't1'; DEFINE format = 'JSON'; "
        "DEFINE partitions = '2'; DEFINE Name = 'docs';"
    )
    engine.execute(STREAM)
    source = engine.catalog.sources["DOCS"]
    assert source.topic == "t1" and source.value_format.name == "JSON"
    assert engine.log.topic("t1").partitions == 2
    shown = engine.execute("SHOW VARIABLES;")[0]
    assert isinstance(shown, R.VariableList)
    assert shown.variables == {
        "name": "docs",
        "TOPIC_NAME": "t1",
        "format": "JSON",
        "partitions": "2",
    }
    engine.close()


def test_double_dollar_escapes_a_reference(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "DEFINE format = 'JSON';"
        "CREATE STREAM s (id INT KEY, v STRING) "
        "WITH (kafka_topic='s', value_format='${format}', partitions=1);"
        "INSERT INTO s (id, v) VALUES (1, '$${format} is ${format}');"
    )
    [row] = engine.log.read("s", 0, 0).values
    assert b'"${format} is JSON"' in row
    engine.close()


def test_undefine_and_a_script_see_defines_in_order(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    [defined, created, undefined, again] = engine.execute(
        "DEFINE kind = 'STREAM';"
        "CREATE ${kind} s (id INT KEY) WITH (kafka_topic='s', value_format='JSON', partitions=1);"
        "UNDEFINE KIND;"
        "UNDEFINE kind;"
    )
    assert isinstance(defined, R.Handled) and isinstance(undefined, R.Handled)
    assert isinstance(created, R.CommandStatus) and "S" in engine.catalog.sources
    assert isinstance(again, R.Warning)
    assert again.message == "Cannot undefine variable 'kind' which was never defined"
    assert engine.variables == {}
    engine.close()


def test_substitution_can_be_switched_off(tmp_path: Path) -> None:
    engine = Engine(tmp_path, config={"ksql.variable.substitution.enable": "false"})
    engine.execute("DEFINE topic_name = 'real';")
    with pytest.raises(R.StatementError, match=r"illegal topic name '\$\{topic_name\}'"):
        engine.execute(
            "CREATE STREAM s (id INT KEY) WITH (kafka_topic='${topic_name}', "
            "value_format='JSON', partitions=1);"
        )
    engine.close()


def _ksql(server: Server, sql: str, variables: dict[str, str] | None = None) -> httpx.Response:
    body = {"ksql": sql, "sessionVariables": variables or {}}
    return httpx.post(f"{server.url}/ksql", json=body, timeout=TIMEOUT)


def test_a_request_defines_for_itself_only(server: Server) -> None:
    first = _ksql(
        server,
        "DEFINE name = 'one'; " + STREAM + " SHOW VARIABLES;",
        {"TOPIC_NAME": "t_one", "format": "JSON", "partitions": "1"},
    )
    assert first.status_code == 200, first.text
    created, shown = first.json()  # a DEFINE answers with no entity, as ksqlDB's does
    assert created["commandId"] == "stream/ONE/create"
    assert {v["name"]: v["value"] for v in shown["variables"]} == {
        "TOPIC_NAME": "t_one",
        "format": "JSON",
        "partitions": "1",
        "name": "one",
    }
    assert server.engine.variables == {}  # the server's own session saw none of it
    later = _ksql(server, "SHOW VARIABLES; UNDEFINE name;")
    assert later.status_code == 200, later.text
    listed, warning = later.json()
    assert listed["variables"] == []
    assert warning["@type"] == "warning_entity"
    assert warning["message"] == "Cannot undefine variable 'name' which was never defined"


def test_the_cli_session_keeps_its_variables(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "DEFINE Format = 'JSON';",
            "DEFINE escaped = '$${format}';",
            "CREATE STREAM s (id INT KEY, v STRING) WITH (kafka_topic='s', "
            "value_format='${FORMAT}', partitions=1);",
            "INSERT INTO s (id, v) VALUES (1, '${escaped}');",
            "SELECT v FROM s EMIT CHANGES LIMIT 1;",
            "UNDEFINE nothing;",
            "SHOW VARIABLES;",
        ]
    )
    done = streamdb_cli(
        "--local",
        "--data-dir",
        str(tmp_path),
        stdin="SET 'auto.offset.reset'='earliest';\n" + script,
    )
    assert done.returncode == 0, done.stderr
    assert "|${format}" in done.stdout.replace(" ", "")
    assert "Cannot undefine variable 'nothing' which was never defined." in done.stdout
    assert " Format " in done.stdout and " escaped " in done.stdout
