"""Third-party ksqlDB clients, unmodified, against a real `streamdb server` on 127.0.0.1:
PyPI `ksqldb` (every method), PyPI `ksql` (push rows as they arrive, inserts_stream) and npm
`ksqldb-client` under Node (connect, query, streamQuery over existing and live rows,
insertInto, terminatePushQuery). `scripts/setup.sh` installs the last two beside the venv."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from ksqldb import KSQLdbClient

from tests.test_repl import start_server_on_a_free_port, stop

CLIENTS = Path(__file__).parent / "clients"
# PyPI `ksql` with its own dependencies (hyper 0.7 needs h2 2.x; the server runs on h2 4.x).
PYPI_KSQL = Path(sys.executable).parents[1] / "clients" / "pypi-ksql"
WAIT_SECONDS = 120  # a bound for a loaded machine; each client run takes a few seconds
EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}
CLICKS = (
    "CREATE STREAM clicks (id INT KEY, page STRING) "
    "WITH (kafka_topic='clicks', value_format='JSON', partitions=1);"
)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the module (it takes seconds to start); each test its own stream."""
    port, process = start_server_on_a_free_port(tmp_path_factory.mktemp("clients") / "data")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def _report(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=WAIT_SECONDS, env=env, check=False
    )
    assert done.returncode == 0, f"{command[:2]} failed:\n{done.stdout}\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_pypi_ksqldb_client_every_method(server_url: str) -> None:
    client = KSQLdbClient(server_url)
    (created,) = client.ksql(CLICKS)
    assert created["commandId"] == "stream/CLICKS/create"
    assert isinstance(client.get_properties(), list)
    acks = client.inserts_stream("CLICKS", [{"ID": 1, "PAGE": "a"}])
    assert acks == [{"status": "ok", "seq": 0}]
    metadata, *rows = client.query_sync("SELECT * FROM clicks;", timeout=WAIT_SECONDS)
    assert metadata["columnNames"] == ["ID", "PAGE"] and rows == [[1, "a"]]

    async def push() -> tuple[list[Any], bool]:
        seen: list[Any] = []
        closed = False
        rows = client.query_async(
            "SELECT id, page FROM clicks EMIT CHANGES;",
            stream_properties={"auto.offset.reset": "earliest"},
            timeout=WAIT_SECONDS,
        )
        query_id = (await anext(rows))["queryId"]
        async for row in rows:
            seen.append(row)
            if len(seen) == 1:  # the existing row; now a live one
                client.inserts_stream("CLICKS", [{"ID": 2, "PAGE": "b"}])
            else:
                closed = client.close_query(query_id)
        return seen, closed

    seen, closed = asyncio.run(asyncio.wait_for(push(), WAIT_SECONDS))
    assert seen == [[1, "a"], [2, "b"]] and closed
    with pytest.raises(requests.HTTPError) as failed:
        client.ksql("DROP STREAM nope;")
    assert "400 Client Error: Bad Request for url" in str(failed.value)


def test_pypi_ksql_client_sees_each_row_as_it_arrives(server_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(PYPI_KSQL)}
    report = _report(
        [sys.executable, str(CLIENTS / "pypi_ksql.py"), server_url, "ksql_clicks"], env
    )
    assert report["version"] == "0.29.0"
    assert report["created"][0]["commandStatus"]["status"] == "SUCCESS"
    assert report["acks"] == [{"status": "ok", "seq": 0}, {"status": "ok", "seq": 0}]
    # The first row came before the second was inserted (the script waits for it).
    assert report["pushed"] == [{"ID": 1, "PAGE": "a"}, {"ID": 2, "PAGE": "b"}]


def test_npm_ksqldb_client(server_url: str) -> None:
    port = server_url.rsplit(":", 1)[1]
    report = _report(["node", str(CLIENTS / "ksqldb_client.js"), port, "node_clicks"])
    assert report["connected"] is True
    assert report["created"]["status"] == 200
    assert report["created"]["data"]["rows"][0]["commandId"] == "stream/NODE_CLICKS/create"
    assert [i["data"]["rows"] for i in report["inserted"]] == [[{"status": "ok", "seq": 0}]] * 2
    assert report["pulled"]["data"]["rows"] == [{"ID": 1, "PAGE": "a"}]
    assert report["pushed"] == [{"ID": 1, "PAGE": "a"}, {"ID": 2, "PAGE": "b"}]
    assert report["terminated"] == {"status": 200}
    assert report["streamEnded"]["data"]["metadata"]["queryId"] == report["queryId"]
