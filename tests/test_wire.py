"""The REST server's wire format as clients parse it, over real sockets on 127.0.0.1: status
lines with reason phrases, /query rows flushed with their `,\\n` and idle keep-alives, one
HTTP/2 DATA frame per /query-stream row, /inserts-stream's JSON answer."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import httpx
import orjson

from sqlengine.engine import Engine
from tests.test_server import EARLIEST, ORDERS, TIMEOUT, Server, _with_orders
from tests.test_server import server as server  # noqa: F401  (the fixture)

SOCKET_TIMEOUT = 60.0


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=SOCKET_TIMEOUT)
    return sock


def _status_line(url: str, request: bytes) -> bytes:
    with _connect(url) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n" not in received:
            chunk = sock.recv(4096)
            assert chunk, f"the connection closed before a status line: {received!r}"
            received += chunk
    return received.split(b"\r\n", 1)[0]


def test_http11_status_lines_carry_a_reason_phrase(server: Server) -> None:
    assert _status_line(server.url, b"GET /info HTTP/1.1\r\nHost: t\r\n\r\n") == b"HTTP/1.1 200 OK"
    bad = b"POST /ksql HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
    assert _status_line(server.url, bad) == b"HTTP/1.1 400 Bad Request"
    missing = b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"
    assert _status_line(server.url, missing) == b"HTTP/1.1 404 Not Found"


def test_absolute_form_targets_reach_their_path(server: Server) -> None:
    request = f"GET {server.url}/info HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    assert _status_line(server.url, request) == b"HTTP/1.1 200 OK"


def _reads(sock: socket.socket) -> Iterator[bytes]:
    while chunk := sock.recv(65536):
        yield chunk


def test_query_stream_sends_one_row_per_http2_data_frame(server: Server) -> None:
    _with_orders(server, 20)
    body = orjson.dumps(
        {"sql": "SELECT id, item FROM orders EMIT CHANGES LIMIT 20;", "properties": EARLIEST}
    )
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    frames: list[bytes] = []
    with _connect(server.url) as sock:
        sock.sendall(connection.data_to_send())
        stream = connection.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "streamdb"),
            (":path", "/query-stream"),
            ("content-type", "application/json"),
            ("accept", "application/vnd.ksqlapi.delimited.v1"),
        ]
        connection.send_headers(stream, headers)
        connection.send_data(stream, body, end_stream=True)
        sock.sendall(connection.data_to_send())
        ended = False
        for chunk in _reads(sock):
            for event in connection.receive_data(chunk):
                if isinstance(event, h2.events.DataReceived) and event.data:
                    frames.append(event.data)
                    connection.acknowledge_received_data(event.flow_controlled_length, stream)
                ended = ended or isinstance(event, h2.events.StreamEnded)
            sock.sendall(connection.data_to_send())
            if ended:
                break
    assert ended, "the query's stream did not end"
    rows = [orjson.loads(frame) for frame in frames]  # each frame one whole JSON value
    assert rows[0]["columnNames"] == ["ID", "ITEM"]
    assert rows[1:] == [[i, f"item{i}"] for i in range(20)]


def test_query_push_flushes_each_row_and_keeps_alive_while_idle(server: Server) -> None:
    _with_orders(server, 1)
    body = {"ksql": "SELECT id FROM orders EMIT CHANGES;", "streamsProperties": EARLIEST}
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        client.stream("POST", f"{server.url}/query", json=body) as resp,
    ):
        chunks = resp.iter_raw()
        received = b""
        while received.count(b",\n") < 2:  # the header and the first row, each complete
            received += next(chunks)
        header, row = received.split(b",\n")[:2]
        assert header.startswith(b'[{"header":')
        assert orjson.loads(row) == {"row": {"columns": [0]}}
        idle_since = time.monotonic()
        assert next(chunks) == b"\n"  # a keep-alive, since no row came
        assert time.monotonic() - idle_since < 30
        server.ksql("INSERT INTO orders (id, item, qty) VALUES (9, 'x', 1);")
        received = b""
        while not received.endswith(b",\n"):
            received += next(chunks)
        assert orjson.loads(received.strip()[:-1]) == {"row": {"columns": [9]}}


def test_inserts_stream_answers_a_json_array_when_asked(server: Server) -> None:
    assert server.ksql(ORDERS).status_code == 200
    rows = [{"target": "ORDERS"}, {"ID": 1, "ITEM": "a", "QTY": 3}, {"ID": 2, "QTY": "x"}]
    body = b"\n".join(orjson.dumps(row) for row in rows)
    with httpx.Client(http1=False, http2=True, timeout=TIMEOUT) as client:
        resp = client.post(
            f"{server.url}/inserts-stream",
            content=body,
            headers={"accept": "application/json", "content-type": "application/json"},
        )
        assert resp.headers["content-type"].startswith("application/json")
        ok, bad = resp.json()
        assert ok == {"status": "ok", "seq": 0}
        assert bad["status"] == "error" and bad["seq"] == 1
        only_target = client.post(
            f"{server.url}/inserts-stream",
            content=b'{"target": "ORDERS"}',
            headers={"accept": "application/json"},
        )
        assert only_target.json() == []


# ---------------------------------------------------------------------------- /ksql and friends


def test_command_ids_are_ksqldbs_and_status_answers_them(server: Server) -> None:
    sql = (
        ORDERS + "CREATE STREAM big AS SELECT * FROM orders WHERE qty > 5;"
        "CREATE TABLE totals AS SELECT id, SUM(qty) AS total FROM orders GROUP BY id;"
    )
    created = server.ksql(sql).json()
    assert [e["commandId"] for e in created] == [
        "stream/ORDERS/create",
        "stream/BIG/create",
        "table/TOTALS/create",
    ]
    query_id = created[1]["commandStatus"]["queryId"]
    later = server.ksql(f"TERMINATE {query_id}; DROP STREAM big;").json()
    assert [e["commandId"] for e in later] == [f"terminate/{query_id}/execute", "stream/BIG/drop"]
    status = httpx.get(f"{server.url}/status/stream/ORDERS/create", timeout=TIMEOUT)
    assert status.status_code == 200
    assert status.json()["status"] == "SUCCESS"
    assert status.json()["message"] == created[0]["commandStatus"]["message"]
    missing = httpx.get(f"{server.url}/status/stream/NOPE/create", timeout=TIMEOUT)
    assert missing.status_code == 404
    assert missing.json()["@type"] == "generic_error" and missing.json()["error_code"] == 40400


def test_command_statuses_survive_a_restart(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data")
    engine.execute(ORDERS)
    engine.close()
    again = Engine(tmp_path / "data")
    try:
        assert again.command_statuses["stream/ORDERS/create"].message == "Stream created"
    finally:
        again.close()


def test_insert_values_answers_an_empty_list(server: Server) -> None:
    assert server.ksql(ORDERS).status_code == 200
    resp = server.ksql("INSERT INTO orders (id, item, qty) VALUES (1, 'a', 2);")
    assert resp.status_code == 200 and resp.json() == []


def test_session_variables_apply_to_their_request_only(server: Server) -> None:
    create = ORDERS.replace("orders", "${name}", 1)
    resp = httpx.post(
        f"{server.url}/ksql",
        json={"ksql": create, "sessionVariables": {"name": "orders"}},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()[0]["commandId"] == "stream/ORDERS/create"
    query = {"ksql": "SELECT * FROM ${s};", "sessionVariables": {"s": "orders"}}
    assert httpx.post(f"{server.url}/query", json=query, timeout=TIMEOUT).status_code == 200
    stream = {"sql": "SELECT * FROM ${s};", "sessionVariables": {"s": "orders"}}
    assert httpx.post(f"{server.url}/query-stream", json=stream, timeout=TIMEOUT).status_code == 200
    unset = server.ksql("DESCRIBE ${s};")  # the variable went with its request
    assert unset.status_code == 400
    assert unset.json()["stackTrace"] == []


def test_errors_carry_a_stack_trace_and_a_reason_phrase(server: Server) -> None:
    resp = server.ksql("DROP STREAM nope;")
    assert resp.status_code == 400 and resp.reason_phrase == "Bad Request"
    assert resp.json()["stackTrace"] == []
    generic = httpx.post(f"{server.url}/ksql", json={"nope": 1}, timeout=TIMEOUT)
    assert generic.json()["@type"] == "generic_error" and generic.json()["stackTrace"] == []


def test_is_valid_property(server: Server) -> None:
    valid = httpx.get(f"{server.url}/is_valid_property/auto.offset.reset", timeout=TIMEOUT)
    assert valid.status_code == 200 and valid.json() is True
    prohibited = httpx.get(f"{server.url}/is_valid_property/ksql.service.id", timeout=TIMEOUT)
    assert prohibited.status_code == 400
    assert "prohibited" in prohibited.json()["message"]
    assert "[ksql.service.id]" in prohibited.json()["message"]


def test_terminate_cluster_drops_everything_and_refuses_new_statements(server: Server) -> None:
    _with_orders(server, 2)
    created = server.ksql("CREATE STREAM big AS SELECT * FROM orders WHERE qty > 5;")
    assert created.status_code == 200
    bad = httpx.post(
        f"{server.url}/ksql/terminate", json={"deleteTopicList": ["("]}, timeout=TIMEOUT
    )
    assert bad.status_code == 400 and "Invalid pattern" in bad.json()["message"]
    resp = httpx.post(
        f"{server.url}/ksql/terminate", json={"deleteTopicList": ["BI.*"]}, timeout=TIMEOUT
    )
    assert resp.status_code == 200, resp.text
    (status,) = resp.json()
    assert status["commandId"] == "cluster/TerminateCluster/terminate"
    assert status["statementText"] == "TERMINATE CLUSTER;"
    engine = server.engine
    assert engine.catalog.sources == {} and engine.executor.running == {}
    assert engine.log.topic("BIG") is None  # matched: deleted
    assert engine.log.topic("orders") is not None  # not matched: kept
    refused = server.ksql("SHOW STREAMS;")
    assert refused.status_code == 503
    assert "terminated" in refused.json()["message"]
