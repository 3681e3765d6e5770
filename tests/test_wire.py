"""The REST server's wire format as clients parse it, over real sockets on 127.0.0.1: status
lines with reason phrases, /query rows flushed with their `,\\n` and idle keep-alives, one
HTTP/2 DATA frame per /query-stream row, /inserts-stream's JSON answer."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import httpx
import orjson

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
