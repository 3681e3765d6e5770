"""Limits on what one request may cost, each refused with a 4xx in ksqlDB's error shape:

| property (server config)                   | default  | refusal                               |
| ------------------------------------------ | -------- | ------------------------------------- |
| streamdb.request.max.bytes                 | 4 MiB    | 413 (the body; /inserts-stream not)   |
| streamdb.request.max.statements            | 1000     | 400 (statements in one /ksql request) |
| ksql.max.push.queries                      | 100      | 400, code 40003 (open push queries)   |
| ksql.query.pull.max.qps                    | no limit | 429 (pull queries a second)           |
| ksql.query.pull.max.concurrent.requests    | no limit | 429 (pull queries running at once)    |
| streamdb.query.pull.timeout.ms             | no limit | 408 (a pull query taking longer)      |
| streamdb.query.pull.max.rows               | no limit | 400 (rows one pull query returns)     |

ksqlDB has the `ksql.` names; the `streamdb.` ones are streamdb's own."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.queries import OpenQuery, QueryRegistry
from server.requests import ApiError
from server.startup import StartupError

MAX_REQUEST_BYTES = "streamdb.request.max.bytes"
MAX_STATEMENTS = "streamdb.request.max.statements"
MAX_PUSH_QUERIES = "ksql.max.push.queries"
PULL_MAX_QPS = "ksql.query.pull.max.qps"
PULL_MAX_CONCURRENT = "ksql.query.pull.max.concurrent.requests"
PULL_TIMEOUT_MS = "streamdb.query.pull.timeout.ms"
PULL_MAX_ROWS = "streamdb.query.pull.max.rows"
MAX_PUSH_QUERIES_EXCEEDED = 40003
TOO_MANY_REQUESTS = 42900
_PUSH = re.compile(r"\bEMIT\s+(CHANGES|FINAL)\b|^\s*PRINT\b", re.IGNORECASE)
_STREAMED_BODIES = ("/inserts-stream",)  # a stream of rows, as long as the client likes
Opened = TypeVar("Opened")


def _limit(config: dict[str, str], name: str, default: int | None) -> int | None:
    text = config.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise StartupError(f"{name}={text}: expected a positive whole number")
    return value


class RateLimiter:
    """A token bucket: `rate` acquisitions a second, bursts up to `rate`."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.tokens = float(rate)
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class Limits:
    def __init__(self, config: dict[str, str]) -> None:
        self.max_request_bytes = _limit(config, MAX_REQUEST_BYTES, 4 * 1024 * 1024)
        self.max_statements = _limit(config, MAX_STATEMENTS, 1000)
        self.max_push_queries = _limit(config, MAX_PUSH_QUERIES, 100)
        qps = _limit(config, PULL_MAX_QPS, None)
        self.pull_rate = RateLimiter(qps) if qps else None
        self.pull_max_concurrent = _limit(config, PULL_MAX_CONCURRENT, None)
        self.pull_running = 0
        timeout_ms = _limit(config, PULL_TIMEOUT_MS, None)
        self.pull_timeout = timeout_ms / 1000 if timeout_ms else None
        self.pull_max_rows = _limit(config, PULL_MAX_ROWS, None)

    def check_statements(self, count: int) -> None:
        if self.max_statements is not None and count > self.max_statements:
            raise ApiError(
                400,
                f"The request has {count} statements; the server takes at most "
                f"{self.max_statements} a request ({MAX_STATEMENTS}): send them in parts",
            )

    async def open_query(
        self, sql: str, registry: QueryRegistry, opening: Callable[[], Awaitable[Opened]]
    ) -> Opened:
        """Open a query through `opening`, within the limits for its kind."""
        if _PUSH.search(sql):
            if self.max_push_queries is not None and len(registry) >= self.max_push_queries:
                raise ApiError(
                    400,
                    "Not executing statement(s) as it would cause the number of active, push "
                    "queries to exceed the configured limit. Terminate existing PUSH queries, "
                    f"or increase the '{MAX_PUSH_QUERIES}' setting.",
                    MAX_PUSH_QUERIES_EXCEEDED,
                )
            return await opening()
        if self.pull_rate is not None and not self.pull_rate.try_acquire():
            raise ApiError(
                429,
                "Host is at rate limit for pull queries. Currently set to "
                f"{self.pull_rate.rate} qps ({PULL_MAX_QPS}).",
                TOO_MANY_REQUESTS,
            )
        limit = self.pull_max_concurrent
        if limit is not None and self.pull_running >= limit:
            raise ApiError(
                429,
                "Host is at concurrency limit for pull queries. Currently set to "
                f"{limit} maximum concurrent operations ({PULL_MAX_CONCURRENT}).",
                TOO_MANY_REQUESTS,
            )
        self.pull_running += 1  # the event loop's thread only: no lock needed
        try:
            opened = await self._within_timeout(opening)
        finally:
            self.pull_running -= 1
        rows = opened.rows if isinstance(opened, OpenQuery) else []
        if self.pull_max_rows is not None and len(rows) > self.pull_max_rows:
            raise ApiError(
                400,
                f"The pull query returned more than {self.pull_max_rows} rows "
                f"({PULL_MAX_ROWS}): narrow it with WHERE or LIMIT",
            )
        return opened

    async def _within_timeout(self, opening: Callable[[], Awaitable[Opened]]) -> Opened:
        if self.pull_timeout is None:
            return await opening()
        with anyio.move_on_after(self.pull_timeout):
            return await opening()
        raise ApiError(
            408,
            f"The pull query took longer than {int(self.pull_timeout * 1000)} ms "
            f"({PULL_TIMEOUT_MS}): narrow it with WHERE or LIMIT",
        )


class RequestSizeLimit:
    """ASGI middleware: a body longer than the limit is refused with 413, whether declared by
    Content-Length (before it is read) or found while reading it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _STREAMED_BODIES:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            receive = self._refuse
        else:
            receive = self._counting(receive)
        await self.app(scope, receive, send)

    def _too_large(self) -> ApiError:
        return ApiError(
            413, f"Request body larger than {self.max_bytes} bytes ({MAX_REQUEST_BYTES})"
        )

    async def _refuse(self) -> Message:
        raise self._too_large()

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()
            return message

        return counted
