"""Clean failure: start-up mistakes end in one clear line and a non-zero exit, and SIGTERM or
Ctrl-C (SIGINT) stop a server with open push queries cleanly, their responses complete."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path

import httpx
import pytest

from tests.live_server import live_server, streamdb

STREAM = (
    "CREATE STREAM s (k STRING KEY, v INT) "
    "WITH (kafka_topic='s', partitions=1, value_format='JSON');"
)


def one_line_failure(run: object, *expected: str) -> None:
    assert run.returncode == 2, run.stdout + run.stderr  # type: ignore[attr-defined]
    lines = run.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, run.stderr  # type: ignore[attr-defined]
    for text in expected:
        assert text in lines[0]


def test_a_held_data_dir_is_refused_by_every_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with live_server(data):
        for args in (
            ("server", "--port", "0", "--data-dir", str(data)),
            ("run", "--data-dir", str(data), "--queries", str(tmp_path)),
            ("cli", "--local", "--data-dir", str(data), "-e", "SHOW STREAMS;"),
        ):
            one_line_failure(streamdb(*args), "is in use by another streamdb process", "--data-dir")


def test_a_taken_port_is_refused_before_the_data_dir_opens(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        run = streamdb("server", "--port", port, "--data-dir", str(tmp_path / "data"))
    one_line_failure(run, f"port {port} on 127.0.0.1 is already in use", "--port")
    assert not (tmp_path / "data").exists()


def test_config_and_queries_files_that_cannot_be_read(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    missing = str(tmp_path / "missing.properties")
    one_line_failure(
        streamdb("server", "--data-dir", data, "--config", missing),
        f"cannot read the --config file {missing}: No such file or directory",
    )
    garbled = tmp_path / "garbled.properties"
    garbled.write_text("# comment\nksql.service.id=one\nthis line has no value\n")
    one_line_failure(
        streamdb("server", "--data-dir", data, "--config", str(garbled)),
        "line 3: expected `name=value`",
    )
    one_line_failure(
        streamdb("server", "--data-dir", data, "--queries", str(tmp_path / "none.sql")),
        "--queries",
        "none.sql: no such file or folder",
    )
    bad = tmp_path / "bad.sql"
    bad.write_text(STREAM + "\nCREATE STREAM t AS SELECT * FROM nowhere;\n")
    run = streamdb("server", "--data-dir", data, "--queries", str(bad))
    one_line_failure(run, f"{bad}: line 2:", "NOWHERE does not exist")


class PushReader(threading.Thread):
    """Reads one push query's response over HTTP/1.1 or (prior knowledge, as ksqlDB's Java
    client speaks it) HTTP/2; `opened` is set once its header arrived."""

    def __init__(self, url: str, path: str, body: dict[str, str], http2: bool = False) -> None:
        super().__init__()
        self.url, self.path, self.body, self.http2 = url + path, path, body, http2
        self.opened = threading.Event()
        self.received = b""
        self.version = ""

    def run(self) -> None:
        with (
            httpx.Client(http1=not self.http2, http2=self.http2, timeout=30) as client,
            client.stream("POST", self.url, json=self.body) as response,
        ):
            self.version = response.http_version
            for chunk in response.iter_raw():
                self.received += chunk
                self.opened.set()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_open_push_queries_and_stops_cleanly(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Each open push query ends as ksqlDB ends one the server completes: /query's JSON array
    with the final message 'Query Completed' and its `]`, /query-stream's rows whole, over
    HTTP/1.1 and HTTP/2 alike; the server exits 0 without a traceback."""
    select = "SELECT * FROM s EMIT CHANGES;"
    with live_server(tmp_path / "data") as server:
        assert httpx.post(server.url + "/ksql", json={"ksql": STREAM}).status_code == 200
        readers = [
            PushReader(server.url, path, body, http2)
            for http2 in (False, True)
            for path, body in (("/query", {"ksql": select}), ("/query-stream", {"sql": select}))
        ]
        for reader in readers:
            reader.start()
            assert reader.opened.wait(30)
        insert = "INSERT INTO s (k, v) VALUES ('a', 1);"
        assert httpx.post(server.url + "/ksql", json={"ksql": insert}).status_code == 200
        for _ in range(100):
            if all(b'"a",1' in reader.received for reader in readers):
                break
            threading.Event().wait(0.05)
        code, err = server.stop(sig)
        for reader in readers:
            reader.join(timeout=30)
            assert not reader.is_alive()
    assert code == 0, err
    assert "Traceback" not in err
    assert [r.version for r in readers] == ["HTTP/1.1"] * 2 + ["HTTP/2"] * 2
    for reader in readers:
        if reader.path == "/query":
            assert reader.received.startswith(b'[{"header":')
            assert b'{"row":{"columns":["a",1]}}' in reader.received
            assert reader.received.endswith(b'{"finalMessage":"Query Completed"}]\n')
        else:
            assert reader.received.startswith(b'{"queryId":')
            assert reader.received.endswith(b'["a",1]\n')
