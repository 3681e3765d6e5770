"""Limits over a real server on 127.0.0.1: each refusal is a 4xx in ksqlDB's error shape, and
a push-query client that stops reading stalls neither the engine nor other clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import orjson
import pytest

from server.limits import Limits
from server.queries import QueryRegistry
from server.requests import ApiError
from server.serve import background_server
from sqlengine.engine import Engine
from tests.test_server import answering

TIMEOUT = httpx.Timeout(60.0)
LIMITS = {
    "streamdb.request.max.bytes": "2000",
    "streamdb.request.max.statements": "3",
    "ksql.max.push.queries": "2",
    "ksql.query.pull.max.qps": "5",
    "streamdb.query.pull.max.rows": "3",
}
EVENTS = (
    "CREATE STREAM events (id INT KEY, body STRING) "
    "WITH (kafka_topic='events', value_format='JSON', partitions=1);"
)
LATEST = (
    "CREATE TABLE latest WITH (kafka_topic='latest') AS "
    "SELECT id, LATEST_BY_OFFSET(body) AS body FROM events GROUP BY id;"
)


@contextmanager
def serving(data: Path, config: dict[str, str]) -> Iterator[str]:
    engine = Engine(data, config=config)
    engine.start()
    try:
        with background_server(engine) as served:
            answering(served)
            assert httpx.post(f"{served}/ksql", json={"ksql": EVENTS + LATEST}).status_code == 200
            yield served
    finally:
        engine.close()


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("limits") / "data", LIMITS) as served:
        yield served


def insert(url: str, rows: list[dict[str, object]]) -> None:
    body = b"\n".join([orjson.dumps({"target": "EVENTS"}), *map(orjson.dumps, rows)])
    with httpx.Client(timeout=TIMEOUT) as client:
        response = client.post(f"{url}/inserts-stream", content=body)
    assert response.status_code == 200
    assert all(ack["status"] == "ok" for ack in map(orjson.loads, response.text.splitlines()))


def assert_error(response: httpx.Response, status: int, code: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["@type"] in ("generic_error", "statement_error")
    assert body["error_code"] == code
    for word in words:
        assert word in body["message"]


def test_a_body_over_the_limit_is_413(url: str) -> None:
    big = {"ksql": "SHOW STREAMS; -- " + "x" * 3000}
    assert_error(httpx.post(f"{url}/ksql", json=big), 413, 41300, "streamdb.request.max.bytes")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"ksql": "SHOW STREAMS; -- '
        yield b"y" * 3000
        yield b'"}'

    with httpx.Client(timeout=TIMEOUT) as client:
        chunked = client.post(f"{url}/ksql", content=chunks())
    assert_error(chunked, 413, 41300, "larger than 2000 bytes")
    # /inserts-stream bodies are streams of rows: no limit
    insert(url, [{"ID": i, "BODY": "z" * 100} for i in range(40)])


def test_too_many_statements_in_one_request(url: str) -> None:
    response = httpx.post(f"{url}/ksql", json={"ksql": "SHOW STREAMS;" * 4})
    assert_error(response, 400, 40000, "4 statements", "at most 3")
    assert httpx.post(f"{url}/ksql", json={"ksql": "SHOW STREAMS;" * 3}).status_code == 200


def test_push_queries_over_the_limit(url: str) -> None:
    select = {"sql": "SELECT * FROM events EMIT CHANGES;"}
    with httpx.Client(timeout=TIMEOUT, http2=True, http1=False) as client:
        opened = [client.stream("POST", f"{url}/query-stream", json=select) for _ in range(2)]
        responses = [stream.__enter__() for stream in opened]
        ids = [orjson.loads(next(r.iter_lines()))["queryId"] for r in responses]
        refused = client.post(f"{url}/query-stream", json=select)
        assert_error(refused, 400, 40003, "'ksql.max.push.queries'")
        close = client.post(f"{url}/close-query", json={"queryId": ids[0]})
        assert close.status_code == 200
        for stream in opened:
            stream.__exit__(None, None, None)


def test_pull_queries_over_the_rate_are_429(url: str) -> None:
    time.sleep(1.0)  # a full bucket
    statuses = []
    for _ in range(12):
        response = httpx.post(f"{url}/query", json={"ksql": "SELECT * FROM latest WHERE id = 1;"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert_error(response, 429, 42900, "rate limit for pull queries", "5 qps")
    assert statuses.count(200) >= 5 and 429 in statuses


def test_a_pull_query_returning_too_many_rows(url: str) -> None:
    time.sleep(1.0)
    insert(url, [{"ID": i, "BODY": "b"} for i in range(100, 106)])
    response = httpx.post(f"{url}/query-stream", json={"sql": "SELECT * FROM latest;"})
    assert_error(response, 400, 40000, "more than 3 rows", "WHERE or LIMIT")
    time.sleep(0.5)
    limited = httpx.post(f"{url}/query-stream", json={"sql": "SELECT * FROM latest LIMIT 2;"})
    assert limited.status_code == 200


def test_pull_concurrency_and_timeout() -> None:
    limits = Limits(
        {"ksql.query.pull.max.concurrent.requests": "1", "streamdb.query.pull.timeout.ms": "200"}
    )
    registry = QueryRegistry()
    release = threading.Event()

    async def slow() -> str:
        await anyio.to_thread.run_sync(release.wait, 5, abandon_on_cancel=True)
        return "done"

    async def scenario() -> list[int]:
        refusals: list[int] = []

        async def attempt() -> None:
            try:
                await limits.open_query("SELECT * FROM t;", registry, slow)
            except ApiError as exc:
                refusals.append(exc.status)

        async with anyio.create_task_group() as group:
            group.start_soon(attempt)
            await anyio.sleep(0.05)
            group.start_soon(attempt)  # while the first runs: over the concurrency limit
        return refusals

    assert sorted(anyio.run(scenario)) == [408, 429]
    release.set()


def test_a_push_client_that_stops_reading_stalls_no_one(tmp_path: Path) -> None:
    with serving(tmp_path / "data", {}) as url:
        stalled_push_query(url)


def stalled_push_query(url: str) -> None:
    request = orjson.dumps({"sql": "SELECT * FROM events WHERE id >= 1000 EMIT CHANGES;"})
    host, port = url.removeprefix("http://").split(":")
    stalled = socket.create_connection((host, int(port)))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(
        b"POST /query-stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(request)}\r\n\r\n".encode()
        + request
    )
    try:
        received: list[bytes] = []
        select = {"sql": "SELECT id FROM events WHERE id >= 1000 EMIT CHANGES;"}
        with httpx.stream("POST", f"{url}/query-stream", json=select, timeout=TIMEOUT) as live:
            lines = live.iter_lines()
            next(lines)  # the header: the query is open
            started = time.monotonic()
            for part in range(10):  # ~5 MB the stalled client never reads
                insert(url, [{"ID": 1000 + part * 500 + i, "BODY": "p" * 1000} for i in range(500)])
            for line in lines:
                received.append(line.encode())
                if len(received) == 5000:
                    break
        assert len(received) == 5000
        assert time.monotonic() - started < 60
        assert orjson.loads(received[-1]) == [5999]
    finally:
        stalled.close()
