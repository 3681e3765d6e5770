"""INSERT INTO ... WITH (QUERY_ID='...'): the query takes the id asked for, upper-cased, checked
as ksqlDB checks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlengine import results as R
from sqlengine.engine import Engine

STREAMS = (
    "CREATE STREAM a (id INT KEY, v STRING) WITH (kafka_topic='a', format='JSON', partitions=1);"
    "CREATE STREAM b (id INT KEY, v STRING) WITH (kafka_topic='b', format='JSON', partitions=1);"
)


def test_insert_into_takes_the_query_id_asked_for(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(STREAMS)
    [created] = engine.execute("INSERT INTO b WITH (QUERY_ID='copy_a') SELECT * FROM a;")
    assert isinstance(created, R.CommandStatus)
    assert created.message == "Created query with ID COPY_A"
    engine.execute("INSERT INTO a (id, v) VALUES (1, 'x');")
    engine.run_until_idle()
    assert engine.log.end_offset("b", 0) == 1
    engine.execute("TERMINATE copy_a;")
    assert engine.catalog.queries == {}
    engine.close()


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        (
            "csas_mine",
            "Query IDs must not start with a reserved query ID prefix "
            "(INSERTQUERY_, CTAS_, CSAS_, CST_). Got 'CSAS_MINE'.",
        ),
        (
            "with space",
            "Query IDs may contain only alphanumeric characters and '_'. Got: 'WITH SPACE'",
        ),
        ("taken", "Query ID 'TAKEN' already exists."),
    ],
)
def test_a_query_id_is_checked(tmp_path: Path, chosen: str, message: str) -> None:
    engine = Engine(tmp_path)
    engine.execute(STREAMS + "INSERT INTO b WITH (QUERY_ID='taken') SELECT * FROM a;")
    with pytest.raises(R.StatementError) as refused:
        engine.execute(f"INSERT INTO b WITH (QUERY_ID='{chosen}') SELECT * FROM a;")
    assert refused.value.message == message
    engine.close()
