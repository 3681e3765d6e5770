"""Joins end to end on the embedded log: results, ksqlDB's join rules, restarts mid-stream."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from sqlengine import results as R
from sqlengine.engine import Engine
from sqlengine.testing.compare import read_topic
from sqlengine.testing.runner import produce

STREAMS = [
    "CREATE STREAM L (ID BIGINT KEY, A VARCHAR) WITH (kafka_topic='l', value_format='JSON', partitions=1);",
    "CREATE STREAM R (ID BIGINT KEY, B VARCHAR) WITH (kafka_topic='r', value_format='JSON', partitions=1);",
]
OUTER_JOIN = (
    "CREATE STREAM OUT AS SELECT ROWKEY AS K, L.A, R.B FROM L FULL OUTER JOIN R "
    "WITHIN 10 SECONDS GRACE PERIOD 5 SECONDS ON L.ID = R.ID;"
)
TABLES = [
    "CREATE TABLE TL (ID BIGINT PRIMARY KEY, A VARCHAR) WITH (kafka_topic='tl', format='JSON', partitions=1);",
    "CREATE TABLE TR (ID BIGINT PRIMARY KEY, B VARCHAR) WITH (kafka_topic='tr', format='JSON', partitions=1);",
]
TABLE_JOIN = "CREATE TABLE OUT AS SELECT TL.ID, A, B FROM TL LEFT JOIN TR ON TL.ID = TR.ID;"


def _record(topic: str, key: int, value: dict[str, Any] | None, ts: int) -> dict[str, Any]:
    return {"topic": topic, "key": key, "value": value, "timestamp": ts}


STREAM_INPUTS = [
    _record("l", 1, {"A": "a1"}, 0),
    _record("r", 2, {"B": "b2"}, 1_000),
    _record("r", 1, {"B": "b1"}, 4_000),
    _record("l", 3, {"A": "a3"}, 9_000),
    _record("l", 2, {"A": "a2"}, 30_000),  # closes the windows of b2 and a3: null-joined
    _record("r", 4, {"B": "b4"}, 31_000),
    _record("l", 4, {"A": "a4"}, 33_000),
    _record("l", 9, {"A": "a9"}, 60_000),
]
TABLE_INPUTS = [
    _record("tl", 1, {"A": "a1"}, 0),
    _record("tr", 1, {"B": "b1"}, 10),
    _record("tr", 2, {"B": "b2"}, 20),
    _record("tl", 2, {"A": "a2"}, 30),
    _record("tl", 1, None, 40),
    _record("tr", 2, {"B": "b2'"}, 50),
    _record("tr", 2, None, 60),
]


def _run(data_dir: Path, statements: list[str], inputs: list[dict[str, Any]], split: int) -> list:
    """Feed `inputs` one at a time, restarting the engine after the first `split` of them;
    returns the output topic's (key, value, timestamp) records."""
    engine = Engine(data_dir)
    engine.execute("\n".join(statements))
    for i, record in enumerate(inputs):
        if i == split:
            engine.close()
            engine = Engine(data_dir)  # catalog, query and join state come back from the log
        produce(engine, record)
        engine.run_until_idle()
    records = [
        (r.key, None if r.value is None else orjson.loads(r.value), r.timestamp)
        for r in read_topic(engine, "OUT")
    ]
    engine.close()
    return records


def test_outer_join_with_grace_defers_unmatched_rows(tmp_path: Path) -> None:
    out = _run(tmp_path, [*STREAMS, OUTER_JOIN], STREAM_INPUTS, len(STREAM_INPUTS))
    rows = [(v, ts) for _, v, ts in out]
    assert rows == [
        ({"A": "a1", "B": "b1"}, 4_000),
        ({"A": None, "B": "b2"}, 1_000),
        ({"A": "a3", "B": None}, 9_000),
        ({"A": "a4", "B": "b4"}, 33_000),
        ({"A": "a2", "B": None}, 30_000),  # closed by a9; a9's own window is still open
    ]


@pytest.mark.parametrize("split", [2, 4, 5, 7])
def test_stream_join_restart_in_the_middle_gives_the_same_output(
    tmp_path: Path, split: int
) -> None:
    whole = _run(tmp_path / "whole", [*STREAMS, OUTER_JOIN], STREAM_INPUTS, len(STREAM_INPUTS))
    restarted = _run(tmp_path / "restarted", [*STREAMS, OUTER_JOIN], STREAM_INPUTS, split)
    assert restarted == whole


def test_table_left_join_updates_and_deletes(tmp_path: Path) -> None:
    out = _run(tmp_path, [*TABLES, TABLE_JOIN], TABLE_INPUTS, len(TABLE_INPUTS))
    assert [(v, ts) for _, v, ts in out] == [
        ({"A": "a1", "B": None}, 0),
        ({"A": "a1", "B": "b1"}, 10),
        ({"A": "a2", "B": "b2"}, 30),
        (None, 40),
        ({"A": "a2", "B": "b2'"}, 50),
        ({"A": "a2", "B": None}, 60),
    ]


@pytest.mark.parametrize("split", [1, 3, 5])
def test_table_join_restart_in_the_middle_gives_the_same_output(tmp_path: Path, split: int) -> None:
    whole = _run(tmp_path / "whole", [*TABLES, TABLE_JOIN], TABLE_INPUTS, len(TABLE_INPUTS))
    restarted = _run(tmp_path / "restarted", [*TABLES, TABLE_JOIN], TABLE_INPUTS, split)
    assert restarted == whole


ENRICH = (
    "CREATE STREAM OUT AS SELECT L.ID AS ID, L.A, TL.A AS LABEL FROM L LEFT JOIN TL "
    "ON L.ID = TL.ID WHERE L.A <> 'skip';"
)
ENRICH_INPUTS = [
    _record("tl", 1, {"A": "one"}, 0),
    _record("l", 1, {"A": "x"}, 10),
    _record("l", 2, {"A": "y"}, 20),  # no table row: NULL-joined (LEFT)
    _record("tl", 2, {"A": "two"}, 30),
    _record("l", 2, {"A": "skip"}, 40),  # dropped by WHERE
    _record("tl", 1, {"A": "uno"}, 50),
    _record("l", 1, {"A": "z"}, 60),
    _record("tl", 1, None, 70),
    _record("l", 1, {"A": "w"}, 80),  # the table row was deleted
]


def test_stream_table_join_enriches_in_order_and_restarts_cleanly(tmp_path: Path) -> None:
    statements = [STREAMS[0], TABLES[0], ENRICH]
    whole = _run(tmp_path / "whole", statements, ENRICH_INPUTS, len(ENRICH_INPUTS))
    assert [(v, ts) for _, v, ts in whole] == [
        ({"L_A": "x", "LABEL": "one"}, 10),
        ({"L_A": "y", "LABEL": None}, 20),
        ({"L_A": "z", "LABEL": "uno"}, 60),
        ({"L_A": "w", "LABEL": None}, 80),
    ]
    for split in (2, 5, 7):
        restarted = _run(tmp_path / f"restarted-{split}", statements, ENRICH_INPUTS, split)
        assert restarted == whole


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT * FROM L JOIN R ON L.ID = R.ID EMIT CHANGES;",
            "Stream-Stream joins must have a WITHIN clause specified.",
        ),
        (
            "SELECT * FROM L JOIN TL ON L.A = TL.A EMIT CHANGES;",
            "stream-table joins require to join on the table's primary key. Got L.A = TL.A.",
        ),
        (
            "SELECT * FROM TL JOIN L ON TL.ID = L.ID EMIT CHANGES;",
            "Invalid join order: table-stream joins are not supported; only stream-table joins. "
            "Got TL [INNER] JOIN L.",
        ),
        (
            "CREATE STREAM O AS SELECT L.A, R.B FROM L JOIN R WITHIN 1 SECOND ON L.ID = R.ID;",
            "must include the join expressions L.ID or R.ID in its projection",
        ),
    ],
)
def test_invalid_joins_are_refused_with_ksqldb_messages(
    tmp_path: Path, query: str, message: str
) -> None:
    engine = Engine(tmp_path)
    engine.execute("\n".join([*STREAMS, *TABLES]))
    with pytest.raises(R.StatementError, match=re.escape(message)):
        engine.execute(query)
    engine.close()


def test_rekeyed_stream_table_join_and_explain(tmp_path: Path) -> None:
    statements = [
        *TABLES,
        "CREATE STREAM S (K VARCHAR KEY, TID BIGINT) WITH (kafka_topic='s', format='JSON', partitions=1);",
        "CREATE STREAM OUT AS SELECT S.TID, K, A FROM S LEFT JOIN TL ON S.TID = TL.ID;",
    ]
    inputs = [
        {"topic": "tl", "key": 7, "value": {"A": "seven"}, "timestamp": 0},
        {"topic": "s", "key": "x", "value": {"TID": 7}, "timestamp": 5},
        {"topic": "s", "key": "y", "value": {"TID": 8}, "timestamp": 6},
    ]
    out = _run(tmp_path, statements, inputs, len(inputs))
    assert [(k, v, ts) for k, v, ts in out] == [
        (b"7", {"K": "x", "A": "seven"}, 5),
        (b"8", {"K": "y", "A": None}, 6),
    ]
    engine = Engine(tmp_path)
    plan = engine.execute("EXPLAIN CSAS_OUT_0;")[0]
    assert "JOIN LEFT stream-table ON S.TID = TL.ID" in str(plan)
    engine.close()
