"""PAUSE / RESUME of persistent queries as ksqlDB has them: a paused query keeps its state and
offsets, SHOW QUERIES says PAUSED, RESUME goes on from where it stopped, and a restarted
server keeps it paused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sqlengine import results as R
from sqlengine.engine import Engine
from tests.test_server import Server
from tests.test_server import server as server  # noqa: F401  (the fixture)

SETUP = (
    "CREATE STREAM clicks (user VARCHAR KEY, page VARCHAR) "
    "WITH (kafka_topic='clicks', value_format='JSON', partitions=1);"
    "CREATE TABLE per_user AS SELECT user, COUNT(*) AS n FROM clicks GROUP BY user;"
    "CREATE STREAM copies AS SELECT * FROM clicks;"
)


def _click(engine: Engine, user: str) -> None:
    engine.execute(f"INSERT INTO clicks (user, page) VALUES ('{user}', 'home');")


def _counts(engine: Engine) -> list[int]:
    return [orjson.loads(v)["N"] for v in engine.log.read("PER_USER", 0, 0).values]


def _states(engine: Engine) -> dict[str, str]:
    listed = engine.execute("SHOW QUERIES;")[0]
    assert isinstance(listed, R.QueryList)
    return {q.query_id: q.state for q in listed.queries}


def test_a_paused_query_keeps_its_state_and_offsets(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(SETUP)
    csas, ctas = sorted(engine.catalog.queries)  # CSAS_COPIES_1, CTAS_PER_USER_0
    _click(engine, "ann")
    engine.run_until_idle()
    assert _counts(engine) == [1]

    paused = engine.execute(f"PAUSE {ctas};")[0]
    assert isinstance(paused, R.CommandStatus) and paused.message == "Query paused."
    assert paused.command_id == f"pause/{ctas}/execute"
    assert _states(engine) == {ctas: "PAUSED", csas: "RUNNING"}
    _click(engine, "ann")
    _click(engine, "ann")
    engine.run_until_idle()
    assert _counts(engine) == [1]  # nothing new while paused
    assert engine.log.end_offset("COPIES", 0) == 3  # the other query went on

    resumed = engine.execute(f"RESUME {ctas.lower()};")[0]
    assert isinstance(resumed, R.CommandStatus) and resumed.message == "Query resumed."
    engine.run_until_idle()
    assert _counts(engine)[-1] == 3  # from its offset, counting on from its state
    assert _states(engine) == {ctas: "RUNNING", csas: "RUNNING"}
    engine.close()


def test_pause_all_survives_a_restart_and_resume_all_goes_on(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(SETUP)
    engine.execute("PAUSE ALL;")
    _click(engine, "bob")
    engine.run_until_idle()
    assert engine.log.end_offset("COPIES", 0) == 0
    engine.close()

    again = Engine(tmp_path)
    assert set(_states(again).values()) == {"PAUSED"}
    again.run_until_idle()
    assert again.log.end_offset("COPIES", 0) == 0
    again.execute("RESUME ALL;")
    again.run_until_idle()
    assert again.log.end_offset("COPIES", 0) == 1 and _counts(again) == [1]
    again.close()


def test_an_unknown_query_is_named(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    with pytest.raises(R.StatementError, match="Unknown queryId: CSAS_NOPE_7"):
        engine.execute("PAUSE csas_nope_7;")
    engine.close()


def test_rest_answers_with_the_command_status(server: Server) -> None:
    assert server.ksql(SETUP).status_code == 200
    query_id = sorted(server.engine.catalog.queries)[1]
    paused = server.ksql(f"PAUSE {query_id};")
    assert paused.status_code == 200, paused.text
    [status] = paused.json()
    assert status["@type"] == "currentStatus"
    assert status["commandId"] == f"pause/{query_id}/execute"
    assert status["commandStatus"]["message"] == "Query paused."
    [listed] = server.ksql("SHOW QUERIES;").json()
    states = {q["id"]: (q["state"], q["statusCount"]) for q in listed["queries"]}
    assert states[query_id] == ("PAUSED", {"PAUSED": 1})
    resumed = server.ksql("RESUME ALL;").json()[0]
    assert resumed["commandId"] == "resume/ALL/execute"
    assert resumed["commandStatus"]["message"] == "Query resumed."
