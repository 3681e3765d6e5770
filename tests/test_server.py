"""The REST server over real sockets on 127.0.0.1: HTTP/1.1 and HTTP/2 (prior knowledge)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from server.serve import background_server
from sqlengine.engine import Engine

TIMEOUT = httpx.Timeout(60.0)  # a bound for a loaded machine; answers come at once
ORDERS = (
    "CREATE STREAM orders (id INT KEY, item VARCHAR, qty INT) "
    "WITH (kafka_topic='orders', value_format='JSON', partitions=1);"
)
EARLIEST = {"auto.offset.reset": "earliest"}


@dataclass
class Server:
    url: str
    engine: Engine

    def ksql(self, sql: str) -> httpx.Response:
        return httpx.post(f"{self.url}/ksql", json={"ksql": sql}, timeout=TIMEOUT)


def answering(url: str) -> str:
    """`url` once the server there answers its health check (`background_server` gives up
    waiting after a few seconds; a loaded machine may need longer)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthcheck", timeout=5).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server at {url} did not answer"
        time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        with background_server(engine) as url:
            yield Server(answering(url), engine)
    finally:
        engine.close()


def _with_orders(server: Server, rows: int) -> None:
    values = "".join(
        f"INSERT INTO orders (id, item, qty) VALUES ({i}, 'item{i}', {i * 10});"
        for i in range(rows)
    )
    assert server.ksql(ORDERS + values).status_code == 200


# ---------------------------------------------------------------------------- /ksql


def test_ksql_statements_return_entities(server: Server) -> None:
    resp = server.ksql(ORDERS + "SHOW STREAMS; DESCRIBE orders; LIST TOPICS;")
    assert resp.status_code == 200
    created, streams, described, topics = resp.json()
    assert created["@type"] == "currentStatus"
    assert created["commandStatus"]["status"] == "SUCCESS"
    assert created["statementText"].startswith("CREATE STREAM orders")
    assert streams["@type"] == "streams"
    assert [s["name"] for s in streams["streams"]] == ["ORDERS"]
    assert described["@type"] == "sourceDescription"
    fields = described["sourceDescription"]["fields"]
    assert fields[0] == {
        "name": "ID",
        "schema": {"type": "INTEGER", "fields": None, "memberSchema": None},
        "type": "KEY",
    }
    assert topics["@type"] == "kafka_topics"
    assert "orders" in [t["name"] for t in topics["topics"]]


def test_ksql_error_is_a_statement_error_with_prior_entities(server: Server) -> None:
    resp = server.ksql(ORDERS + "DESCRIBE nowhere;")
    assert resp.status_code == 400
    body = resp.json()
    assert body["@type"] == "statement_error"
    assert body["error_code"] == 40001
    assert "NOWHERE" in body["message"]
    assert body["statementText"] == "DESCRIBE nowhere;"
    assert [e["@type"] for e in body["entities"]] == ["currentStatus"]


def test_ksql_rejects_queries(server: Server) -> None:
    _with_orders(server, 0)
    resp = server.ksql("SELECT * FROM orders;")
    assert resp.status_code == 400
    assert resp.json()["error_code"] == 40002


# ---------------------------------------------------------------------------- /query


def test_query_push_with_limit_streams_a_json_array(server: Server) -> None:
    _with_orders(server, 3)
    resp = httpx.post(
        f"{server.url}/query",
        json={
            "ksql": "SELECT item, id FROM orders EMIT CHANGES LIMIT 2;",
            "streamsProperties": EARLIEST,
        },
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200
    header, *rows, final = resp.json()
    assert header["header"]["schema"] == "`ITEM` STRING, `ID` INTEGER"
    assert header["header"]["queryId"].startswith("transient_ORDERS_")
    assert rows == [{"row": {"columns": ["item0", 0]}}, {"row": {"columns": ["item1", 1]}}]
    assert final == {"finalMessage": "Limit Reached"}


def test_query_pull_on_stream(server: Server) -> None:
    _with_orders(server, 2)
    resp = httpx.post(
        f"{server.url}/query", json={"ksql": "SELECT * FROM orders WHERE qty > 5;"}, timeout=TIMEOUT
    )
    assert resp.json() == [
        {
            "header": {
                "queryId": resp.json()[0]["header"]["queryId"],
                "schema": "`ID` INTEGER, `ITEM` STRING, `QTY` INTEGER",
            }
        },
        {"row": {"columns": [1, "item1", 10]}},
        {"finalMessage": "Query Completed"},
    ]


def test_query_unknown_source_is_a_400(server: Server) -> None:
    resp = httpx.post(
        f"{server.url}/query", json={"ksql": "SELECT * FROM nowhere;"}, timeout=TIMEOUT
    )
    assert resp.status_code == 400
    assert resp.json()["@type"] == "statement_error"


# ---------------------------------------------------------------------------- /query-stream


@pytest.mark.parametrize("http2", [False, True])
def test_query_stream_delimited(server: Server, http2: bool) -> None:
    _with_orders(server, 3)
    with httpx.Client(http1=not http2, http2=http2, timeout=TIMEOUT) as client:
        resp = client.post(
            f"{server.url}/query-stream",
            json={
                "sql": "SELECT id, qty FROM orders EMIT CHANGES LIMIT 3;",
                "properties": EARLIEST,
            },
        )
    assert resp.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert resp.headers["content-type"].startswith("application/vnd.ksqlapi.delimited.v1")
    metadata, *rows = [orjson.loads(line) for line in resp.text.splitlines()]
    assert metadata["columnNames"] == ["ID", "QTY"]
    assert metadata["columnTypes"] == ["INTEGER", "INTEGER"]
    assert rows == [[0, 0], [1, 10], [2, 20]]


def test_query_stream_json(server: Server) -> None:
    _with_orders(server, 1)
    with httpx.Client(http1=False, http2=True, timeout=TIMEOUT) as client:
        resp = client.post(
            f"{server.url}/query-stream",
            json={"sql": "SELECT * FROM orders;"},
            headers={"accept": "application/json"},
        )
    metadata, row = resp.json()
    assert metadata["columnNames"] == ["ID", "ITEM", "QTY"]
    assert row == [0, "item0", 0]


def test_push_query_sees_new_rows_and_close_query_ends_it(server: Server) -> None:
    _with_orders(server, 0)
    with httpx.Client(http1=False, http2=True, timeout=TIMEOUT) as client:
        body = {"sql": "SELECT id FROM orders EMIT CHANGES;"}
        with client.stream("POST", f"{server.url}/query-stream", json=body) as resp:
            lines = resp.iter_lines()
            query_id = orjson.loads(next(lines))["queryId"]
            server.ksql("INSERT INTO orders (id, item, qty) VALUES (7, 'x', 1);")
            assert orjson.loads(next(lines)) == [7]
            closed = client.post(f"{server.url}/close-query", json={"queryId": query_id})
            assert closed.status_code == 200
            assert list(lines) == []
    unknown = httpx.post(f"{server.url}/close-query", json={"queryId": query_id}, timeout=TIMEOUT)
    assert unknown.status_code == 400


# ---------------------------------------------------------------------------- /inserts-stream


def test_inserts_stream_acks_each_row_and_errors_bad_ones(server: Server) -> None:
    _with_orders(server, 0)
    lines = [
        {"target": "ORDERS"},
        {"ID": 1, "ITEM": "a", "QTY": 3},
        {"ID": 2, "QTY": "not a number"},
        {"id": 3, "item": "c"},
    ]
    body = b"\n".join(orjson.dumps(line) for line in lines)
    with httpx.Client(http1=False, http2=True, timeout=TIMEOUT) as client:
        resp = client.post(f"{server.url}/inserts-stream", content=body)
    acks = [orjson.loads(line) for line in resp.text.splitlines()]
    assert acks[0] == {"status": "ok", "seq": 0}
    assert acks[1]["status"] == "error" and acks[1]["seq"] == 1 and acks[1]["error_code"] == 40000
    assert acks[2] == {"status": "ok", "seq": 2}
    pulled = httpx.post(
        f"{server.url}/query", json={"ksql": "SELECT id, qty FROM orders;"}, timeout=TIMEOUT
    )
    assert [r["row"]["columns"] for r in pulled.json()[1:-1]] == [[1, 3], [3, None]]


def test_inserts_stream_takes_temporal_values_as_the_api_returns_them(server: Server) -> None:
    """A client writes back what it read: TIMESTAMP, DATE and TIME as ISO text (or numbers)."""
    server.ksql(
        "CREATE STREAM events (id INT KEY, happened TIMESTAMP, on_day DATE, clock TIME) WITH "
        "(kafka_topic='events', value_format='JSON', partitions=1);"
    )
    lines = [
        {"target": "EVENTS"},
        {"ID": 1, "HAPPENED": "2019-07-09T01:00:00.000", "ON_DAY": "2021-01-01", "CLOCK": "01:00"},
        {"ID": 2, "HAPPENED": 1562634000000, "ON_DAY": 18628, "CLOCK": 3600000},
        {"ID": 3, "HAPPENED": "yesterday"},
    ]
    body = b"\n".join(orjson.dumps(line) for line in lines)
    resp = httpx.post(f"{server.url}/inserts-stream", content=body, timeout=TIMEOUT)
    statuses = [orjson.loads(line).get("status", line) for line in resp.text.splitlines()]
    assert statuses == ["ok", "ok", "error"]
    pulled = httpx.post(
        f"{server.url}/query",
        json={"ksql": "SELECT * FROM events;", "streamsProperties": {}},
        timeout=TIMEOUT,
    )
    rows = [r["row"]["columns"] for r in pulled.json()[1:-1]]
    assert rows == [
        [1, "2019-07-09T01:00:00.000", "2021-01-01", "01:00:00"],
        [2, "2019-07-09T01:00:00.000", "2021-01-01", "01:00:00"],
    ]


def test_inserts_stream_unknown_target(server: Server) -> None:
    resp = httpx.post(
        f"{server.url}/inserts-stream", content=b'{"target": "NOPE"}\n', timeout=TIMEOUT
    )
    assert resp.status_code == 400
    assert "NOPE" in resp.json()["message"]


# ---------------------------------------------------------------------------- status, bad input


def test_info_and_healthcheck(server: Server) -> None:
    info = httpx.get(f"{server.url}/info", timeout=TIMEOUT).json()
    assert info["KsqlServerInfo"]["serverStatus"] == "RUNNING"
    health = httpx.get(f"{server.url}/healthcheck", timeout=TIMEOUT).json()
    assert health["isHealthy"] is True


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {}, 400),
        (b'{"ksql": "SHOW STREAMS;", "bogus": 1}', {}, 400),
        (b'{"ksql": 12}', {}, 400),
        (b"[]", {}, 400),
        (b'{"ksql": "SHOW STREAMS;"}', {"content-type": "text/plain"}, 415),
        (b'{"ksql": "' + b"x" * (5 * 1024 * 1024) + b'"}', {}, 413),
    ],
)
def test_bad_input_is_a_4xx_json_error(
    server: Server, content: bytes, headers: dict[str, str], status: int
) -> None:
    resp = httpx.post(f"{server.url}/ksql", content=content, headers=headers, timeout=TIMEOUT)
    assert resp.status_code == status
    body = resp.json()
    assert body["@type"] == "generic_error"
    assert body["error_code"] == status * 100
    assert httpx.get(f"{server.url}/healthcheck", timeout=TIMEOUT).status_code == 200


def test_unknown_route_and_method(server: Server) -> None:
    missing = httpx.get(f"{server.url}/nowhere", timeout=TIMEOUT)
    assert missing.status_code == 404 and missing.json()["error_code"] == 40400
    wrong = httpx.get(f"{server.url}/ksql", timeout=TIMEOUT)
    assert wrong.status_code == 405 and wrong.json()["@type"] == "generic_error"
