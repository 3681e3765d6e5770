"""The REST server under load: `streamdb server` in a child process on 127.0.0.1, driven by
a load generator over raw HTTP/1.1 keep-alive connections (asyncio streams, light enough to
keep its own overhead out of the latencies). Server and load generator share the machine's
cores, so whatever else runs there shows in the latencies; `server_cpu_us` (the server's CPU
time per request) does not depend on it.

- pull_by_key_{1k,2k}_rps: open-loop pull queries by key on a CTAS table at a fixed rate for
  a bounded time, each key a new statement text (1,000 keys); latency from each request's
  scheduled send time to its complete response.
- push_insert_to_client: one push query on /query-stream; rows inserted one by one over
  /inserts-stream carry their send time; latency until the row reaches the client.
- push_100_concurrent: 100 push queries held open at once, each sees every inserted row;
  latency from insert to each query's client.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import orjson

from bench import Result, Scenario
from server.serve import free_port

KEYS = 1_000
PULL_SECONDS = 3.0
PUSH_ROWS = 200
HOLD_QUERIES = 100
HOLD_ROWS = 20
# Two requests: a request holds at most 1,000 statements (streamdb.request.max.statements).
SETUP = (
    """
CREATE STREAM clicks (user_id VARCHAR KEY, page VARCHAR, sent DOUBLE)
    WITH (kafka_topic='clicks', value_format='JSON', partitions=1);
CREATE TABLE clicks_per_user AS SELECT user_id, COUNT(*) AS n FROM clicks GROUP BY user_id;
""",
    "".join(
        f"INSERT INTO clicks (user_id, page, sent) VALUES ('u{i}', 'p', 0);" for i in range(KEYS)
    ),
)


@contextmanager
def _server() -> Iterator[tuple[str, int]]:
    """A `streamdb server` child process with the clicks stream and table; its URL and pid."""
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        command = [sys.executable, "-m", "repl.command", "server", "--port", str(port)]
        child = subprocess.Popen([*command, "--data-dir", data_dir], stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(1000):
                try:
                    httpx.get(f"{url}/healthcheck", timeout=1.0)
                    break
                except httpx.TransportError:
                    time.sleep(0.02)
            for statements in SETUP:
                httpx.post(f"{url}/ksql", json={"ksql": statements}, timeout=60).raise_for_status()
            _wait_materialized(url)
            yield url, child.pid
        finally:
            child.terminate()
            child.wait(timeout=10)


def _wait_materialized(url: str) -> None:
    sql = "SELECT * FROM clicks_per_user;"
    for _ in range(500):
        response = httpx.post(f"{url}/query", json={"ksql": sql}, timeout=10)
        if response.content.count(b'"row"') >= KEYS:
            return
        time.sleep(0.02)


def _post(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read_chunked(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The chunks of one chunked HTTP/1.1 response body (after its headers)."""
    await reader.readuntil(b"\r\n\r\n")
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        yield (await reader.readexactly(size + 2))[:-2]
    await reader.readuntil(b"\r\n")


@asynccontextmanager
async def _connection(url: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()


def _cpu_seconds(pid: int) -> float:
    """The user and system CPU time process `pid` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentiles(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000}


# ---------------------------------------------------------------------------- pull by key


async def _pull_load(url: str, rate: int, seconds: float) -> list[float]:
    """Open loop: request i is due at start + i/rate; connections take the next due one."""
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    latencies: list[float] = []
    next_request = iter(range(total))

    async def worker() -> None:
        async with _connection(url) as (reader, writer):
            for i in next_request:
                due = start + i / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                sql = f"SELECT * FROM clicks_per_user WHERE user_id = 'u{i % KEYS}';"
                writer.write(_post("/query", orjson.dumps({"ksql": sql})))
                head = await reader.readuntil(b"\r\n\r\n")
                length = head.lower().split(b"content-length:")[1].split(b"\r\n")[0]
                await reader.readexactly(int(length))
                latencies.append(time.perf_counter() - due)

    await asyncio.gather(*(worker() for _ in range(32)))
    return latencies


def _pull_scenario(rate: int) -> Callable[[], Result]:
    def scenario() -> Result:
        with _server() as (url, pid):
            begin, cpu = time.perf_counter(), _cpu_seconds(pid)
            latencies = asyncio.run(_pull_load(url, rate, PULL_SECONDS))
            cpu_us = (_cpu_seconds(pid) - cpu) / len(latencies) * 1e6
            measures = {**_percentiles(latencies), "server_cpu_us": cpu_us}
            return len(latencies), time.perf_counter() - begin, measures

    return scenario


# ---------------------------------------------------------------------------- push latency


async def _push_latency(url: str, queries: int, rows: int) -> list[float]:
    """`queries` push queries on clicks; `rows` inserts, each stamped with its send time."""
    latencies: list[float] = []
    opened = asyncio.Event()
    ready = 0

    async def push_query() -> None:
        nonlocal ready
        async with _connection(url) as (reader, writer):
            body = {"sql": "SELECT sent FROM clicks EMIT CHANGES;", "properties": {}}
            writer.write(_post("/query-stream", orjson.dumps(body)))
            chunks = _read_chunked(reader)
            await anext(chunks)  # the metadata line: the query runs
            ready += 1
            if ready == queries:
                opened.set()
            seen = 0
            async for chunk in chunks:
                for line in chunk.splitlines():
                    latencies.append(time.time() - orjson.loads(line)[0])
                    seen += 1
                if seen >= rows:
                    return

    readers = [asyncio.create_task(push_query()) for _ in range(queries)]
    await asyncio.wait_for(opened.wait(), 30)
    async with _connection(url) as (reader, writer):
        head = (
            "POST /inserts-stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(head.encode())

        def send(line: bytes) -> None:
            writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")

        send(orjson.dumps({"target": "clicks"}) + b"\n")
        for _ in range(rows):
            send(orjson.dumps({"USER_ID": "u0", "PAGE": "x", "SENT": time.time()}) + b"\n")
            await writer.drain()
            await asyncio.sleep(0.005)
        await asyncio.wait_for(asyncio.gather(*readers), 60)
        writer.write(b"0\r\n\r\n")
    return latencies


def _push_scenario(queries: int, rows: int) -> Callable[[], Result]:
    def scenario() -> Result:
        with _server() as (url, _):
            begin = time.perf_counter()
            latencies = asyncio.run(_push_latency(url, queries, rows))
            return len(latencies), time.perf_counter() - begin, _percentiles(latencies)

    return scenario


SCENARIOS: dict[str, Scenario] = {
    "pull_by_key_1k_rps": _pull_scenario(1_000),
    "pull_by_key_2k_rps": _pull_scenario(2_000),
    "push_insert_to_client": _push_scenario(1, PUSH_ROWS),
    "push_100_concurrent": _push_scenario(HOLD_QUERIES, HOLD_ROWS),
}
