"""A disk that refuses a write (here a file-size limit on the server process, as a full disk
refuses it): the write fails with one clear error in ksqlDB's shape, the server serves on,
and everything committed before stays readable."""

from __future__ import annotations

import resource
import signal
from pathlib import Path

import httpx

from tests.live_server import live_server

FILE_LIMIT = 400_000  # bytes any one file of the server may reach
STREAM = (
    "CREATE STREAM s (k INT KEY, v STRING) "
    "WITH (kafka_topic='s', value_format='JSON', partitions=1);"
)


def limited_files() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def test_a_refused_write_is_a_clear_error_and_the_committed_data_stays(tmp_path: Path) -> None:
    with live_server(tmp_path / "data", preexec_fn=limited_files) as server:
        ksql = f"{server.url}/ksql"
        assert httpx.post(ksql, json={"ksql": STREAM}).status_code == 200
        accepted = 0
        for k in range(100):
            insert = f"INSERT INTO s (k, v) VALUES ({k}, '{'x' * 20_000}');"
            response = httpx.post(ksql, json={"ksql": insert}, timeout=60)
            if response.status_code != 200:
                break
            accepted += 1
        assert 0 < accepted < 100
        assert response.status_code == 507
        body = response.json()
        assert body["@type"] == "generic_error" and body["error_code"] == 50700
        assert "The write was not applied" in body["message"]
        assert "File too large" in body["message"]
        rows = httpx.post(f"{server.url}/query-stream", json={"sql": "SELECT k FROM s;"})
        assert rows.status_code == 200
        assert [int(line.strip("[]")) for line in rows.text.splitlines()[1:]] == list(
            range(accepted)
        )
        code, err = server.stop()
    assert code == 0
    assert "Traceback" not in err and "a write failed: File too large" in err
