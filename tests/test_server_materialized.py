"""Pull queries on materialized tables over REST, PRINT over /query, a restart that keeps
tables and queries, and the PyPI `ksqldb` client (HTTP/2) unmodified against the server."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx
import orjson
from ksqldb import KSQLdbClient

from server.serve import background_server
from sqlengine.engine import Engine
from tests.test_server import answering

TIMEOUT = httpx.Timeout(60.0)  # a bound for a loaded machine; answers come at once
SETUP = """
CREATE STREAM clicks (user_id VARCHAR KEY, page VARCHAR)
    WITH (kafka_topic='clicks', value_format='JSON', partitions=2);
CREATE TABLE clicks_per_user AS SELECT user_id, COUNT(*) AS n FROM clicks GROUP BY user_id;
CREATE TABLE clicks_per_minute AS SELECT user_id, COUNT(*) AS n FROM clicks
    WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY user_id;
"""
INSERTS = "".join(
    f"INSERT INTO clicks (user_id, page, ROWTIME) VALUES ('{u}', 'p', {t});"
    for u, t in [("ann", 1_000), ("bob", 2_000), ("ann", 61_000), ("cid", 3_000)]
)


def _query(url: str, sql: str, properties: dict[str, str] | None = None) -> list[dict]:
    body = {"ksql": sql, "streamsProperties": properties or {}}
    response = httpx.post(f"{url}/query", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return orjson.loads(response.content)


def _rows(url: str, sql: str) -> list[list]:
    return [e["row"]["columns"] for e in _query(url, sql) if "row" in e]


def _ready(tmp_path: Path) -> Engine:
    engine = Engine(tmp_path / "data")
    engine.execute(SETUP + INSERTS)
    engine.run_until_idle()
    return engine


def test_pull_queries_read_the_materialized_tables(tmp_path: Path) -> None:
    engine = _ready(tmp_path)
    try:
        with background_server(engine) as served:
            url = answering(served)
            assert _rows(url, "SELECT * FROM clicks_per_user WHERE user_id = 'ann';") == [
                ["ann", 2]
            ]
            lookup = "SELECT user_id, n FROM clicks_per_user WHERE user_id IN ('cid', 'bob');"
            assert sorted(_rows(url, lookup)) == [["bob", 1], ["cid", 1]]
            assert sorted(_rows(url, "SELECT * FROM clicks_per_user WHERE n > 1;")) == [["ann", 2]]
            windows = _query(
                url,
                "SELECT * FROM clicks_per_minute WHERE user_id = 'ann' AND WINDOWSTART >= 60000;",
            )
            assert windows[0]["header"]["schema"] == (
                "`USER_ID` STRING KEY, `WINDOWSTART` BIGINT KEY, `WINDOWEND` BIGINT KEY, `N` BIGINT"
            )
            assert [e["row"]["columns"] for e in windows[1:]] == [["ann", 60000, 120000, 1]]
            scan_off = {"ksql.query.pull.table.scan.enabled": "false"}
            body = {
                "ksql": "SELECT * FROM clicks_per_user WHERE n > 1;",
                "streamsProperties": scan_off,
            }
            refused = httpx.post(f"{url}/query", json=body, timeout=TIMEOUT)
            assert refused.status_code == 400
            assert "WHERE clause missing key column" in refused.json()["message"]
    finally:
        engine.close()


def test_restart_keeps_queries_running_and_tables_answering(tmp_path: Path) -> None:
    engine = _ready(tmp_path)
    query = "SELECT * FROM clicks_per_user;"
    before = sorted(engine.execute(query)[0].rows)  # type: ignore[attr-defined]
    engine.close()
    restarted = Engine(tmp_path / "data")
    try:
        queries = restarted.execute("SHOW QUERIES;")[0].queries  # type: ignore[attr-defined]
        assert {q.state for q in queries} == {"RUNNING"} and len(queries) == 2
        assert sorted(restarted.execute(query)[0].rows) == before  # type: ignore[attr-defined]
        restarted.execute("INSERT INTO clicks (user_id, page) VALUES ('bob', 'q');")
        restarted.run_until_idle()
        rows = restarted.execute("SELECT n FROM clicks_per_user WHERE user_id = 'bob';")[0]
        assert rows.rows == [[2]]  # type: ignore[attr-defined]
    finally:
        restarted.close()


def test_print_over_rest_follows_new_records_until_limit(tmp_path: Path) -> None:
    engine = _ready(tmp_path)
    engine.start()
    try:
        with background_server(engine) as served:
            url = answering(served)
            body = {"ksql": "PRINT 'clicks' LIMIT 2;"}
            inserter = threading.Timer(
                0.5, engine.execute, ["INSERT INTO clicks (user_id, page) VALUES ('dan', 'x');" * 2]
            )
            with httpx.stream("POST", f"{url}/query", json=body, timeout=TIMEOUT) as response:
                assert response.status_code == 200
                inserter.start()  # while idle, the server writes blank keep-alive lines
                lines = [line for line in response.iter_lines() if line]
                inserter.join()
            assert lines[0].startswith("Key format:") and lines[1].startswith("Value format:")
            printed = lines[2:]
            assert len(printed) == 2 and all('"PAGE":"x"' in line for line in printed)
            assert re.match(r"rowtime: \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3} Z, key: ", printed[0])
    finally:
        engine.close()


def test_pypi_ksqldb_client_runs_unmodified(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        with background_server(engine) as served:
            url = answering(served)
            client = KSQLdbClient(url)
            created = client.ksql(SETUP)
            assert created[0]["@type"] == "currentStatus"
            acks = client.inserts_stream(
                "clicks", [{"USER_ID": "ann", "PAGE": "a"}, {"USER_ID": "ann", "PAGE": "b"}]
            )
            assert [a["status"] for a in acks] == ["ok", "ok"]
            engine.run_until_idle()
            result = client.query_sync(
                "SELECT * FROM clicks_per_user WHERE user_id = 'ann';", timeout=60
            )
            assert result[0]["columnNames"] == ["USER_ID", "N"]
            assert result[1:] == [["ann", 2]]
    finally:
        engine.close()
