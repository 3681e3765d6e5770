"""`streamdb server`: the engine plus the REST app served by Hypercorn, HTTP/1.1 and cleartext
HTTP/2 (prior knowledge) on one port. SIGTERM/SIGINT stop it gracefully: open push queries
end, persistent queries commit their offsets, the log closes."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import orjson
import pyarrow as pa
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette

from planner.physical import service_id
from server import wire
from server.app import create_app
from server.startup import StartupError, check_port, read_config
from server.tls import Tls, listener
from sqlengine.engine import REGISTRY_URL_CONFIG, Engine
from sqlengine.log.base import TopicExistsError
from sqlengine.ownership import ADVERTISED_LISTENER_CONFIG
from sqlengine.processing_log import processing_log_stream
from sqlengine.results import StatementError
from sqlengine.scaleout import SCALE_OUT_CONFIG

# How long shutdown waits for the responses of the push queries it ends to be written.
RESPONSES_END_SECONDS = 5.0


def hypercorn_config(host: str, port: int, tls: Tls | None = None) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    if tls is not None:
        tls.apply(config)
    config.accesslog = None
    config.include_server_header = False  # as ksqlDB: no server header
    config.graceful_timeout = 2.0
    return config


async def serve_app(
    app: Starlette, host: str, port: int, shutdown: asyncio.Event, tls: Tls | None = None
) -> None:
    """Serve until `shutdown` is set, then close every open push query."""
    wire.install()

    async def end_push_queries_then_stop() -> None:
        # Push queries never end by themselves: end them first, so that their responses
        # finish within the graceful timeout instead of being cut off.
        await shutdown.wait()
        app.state.queries.close_all()
        await app.state.queries.responses_ended(RESPONSES_END_SECONDS)

    try:
        await serve(
            wire.absolute_form_targets(app),
            hypercorn_config(host, port, tls),
            shutdown_trigger=end_push_queries_then_stop,  # type: ignore[arg-type]
        )
    finally:
        app.state.queries.close_all()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def background_server(engine: Engine, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `engine` on a background thread (tests, benchmarks, embedding), on a free port;
    yields the base URL once the server answers, and stops the server on exit."""
    app = create_app(engine)
    address = listener(engine.config, host, free_port(host))  # https:// if its config says so
    loop = asyncio.new_event_loop()
    shutdown = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(serve_app(app, address.host, address.port, shutdown, address.tls),),
    )
    thread.start()
    url = address.url
    try:
        for _ in range(500):
            try:
                httpx.get(f"{url}/healthcheck", timeout=1.0, verify=False)
                break
            except httpx.TransportError:
                time.sleep(0.01)
        yield url
    finally:
        loop.call_soon_threadsafe(shutdown.set)
        thread.join(timeout=10)
        loop.close()


def applied_statements(engine: Engine) -> set[str]:
    """Texts of the statements already in the command log."""
    texts: set[str] = set()
    offset = 0
    while len(batch := engine.log.read(engine.command_topic, 0, offset)):
        texts.update(orjson.loads(v or b"{}").get("statement", "") for v in batch.values)
        offset = batch.next_offset
    return texts


def run_saved_queries(engine: Engine, files: list[Path]) -> None:
    """Run saved .sql files, skipping statements a previous start already applied; the first
    bad statement stops start-up with its file, line and reason."""
    applied = applied_statements(engine)
    for file in files:
        try:
            for stmt in engine.parse(file.read_text()):
                if stmt.text not in applied:
                    engine.execute_statement(stmt, {})
        except StatementError as exc:
            raise StartupError(f"{file}: line {exc.line}: {exc.message}") from exc


def create_processing_log_stream(engine: Engine) -> None:
    """The processing log's stream (KSQL_PROCESSING_LOG), unless it exists or the config
    switches it off, as ksqlDB's server creates it at start."""
    stream = processing_log_stream(engine.config, service_id(engine.config))
    if stream is not None and engine.catalog.source(stream[0].upper()) is None:
        if engine.log.topic(engine.plog.topic) is None:
            with suppress(TopicExistsError):  # another server's, just made
                engine.log.create_topic(engine.plog.topic, 1)
        try:
            engine.execute(stream[1])
        except StatementError:
            # Another server of the service id (scale-out) may have created it meanwhile.
            if engine.catalog.source(stream[0].upper()) is None:
                raise


_M_ARENA_MAX = -8  # glibc's mallopt parameter


def use_system_allocator() -> None:
    """Arrow's buffers from the C library's allocator unless ARROW_DEFAULT_MEMORY_POOL says
    otherwise, and at most 2 glibc malloc arenas unless MALLOC_ARENA_MAX does: the server polls
    each push query on a thread of its own, and a heap or arena per thread (mimalloc's,
    Arrow's default; glibc's up to 8 per core) is memory that stays. In 5 minutes of the
    soak (tests/soak.py, 100 push queries) the RSS grew 174% with both, 47% with the system
    allocator alone."""
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())
    if "MALLOC_ARENA_MAX" not in os.environ and sys.platform == "linux":
        try:
            ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, 2)
        except (OSError, AttributeError):
            pass  # not glibc: its own allocator


def run_server(
    host: str | None,
    port: int | None,
    data_dir: str,
    query_files: list[Path],
    config_file: str | None,
    schema_registry_url: str | None = None,
    overrides: dict[str, str] | None = None,
) -> int:
    """Serves the REST API; `overrides` (command-line options) win over the config file, and
    `host`/`port`, when given, over its `listeners`."""
    config = {**read_config(config_file), **(overrides or {})}
    if schema_registry_url:
        config[REGISTRY_URL_CONFIG] = schema_registry_url
    address = listener(config, host, port)
    config["listeners"] = address.url  # where it serves: --host/--port win over the file
    # Servers of a service id on Kafka split its queries' partitions and route pull queries
    # to each other, at the URL each advertises (its own by default).
    config.setdefault(ADVERTISED_LISTENER_CONFIG, address.url)
    if config.get("bootstrap.servers"):
        config.setdefault(SCALE_OUT_CONFIG, "true")
    check_port(address.host, address.port)
    use_system_allocator()
    engine = Engine(data_dir, config=config)
    try:
        run_saved_queries(engine, query_files)
        create_processing_log_stream(engine)
        engine.start()
        app = create_app(engine)

        async def main() -> None:
            shutdown = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, shutdown.set)
            print(f"streamdb server listening on {address.url}", file=sys.stderr)
            await serve_app(app, address.host, address.port, shutdown, address.tls)

        asyncio.run(main())
    finally:
        engine.close()
    return 0
