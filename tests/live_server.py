"""A `streamdb server` in its own process, as a user starts it (tests of start-up, shutdown,
authentication, TLS, crashes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from server.serve import free_port

STREAMDB = str(Path(sys.executable).with_name("streamdb"))
START_SECONDS = 120.0  # a loaded machine; a restart after a crash replays the log


def streamdb(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STREAMDB, *args], capture_output=True, text=True, timeout=timeout)


class LiveServer:
    """A server process; what it writes to stderr goes to a file (a pipe nobody reads
    while it runs could fill and block it)."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, stderr: IO[bytes]) -> None:
        self.process = process
        self.url = url
        self.stderr = stderr

    def wait(self, timeout: float = 30) -> tuple[int, str]:
        """Wait for the server to exit: its exit code and what it wrote to stderr."""
        code = self.process.wait(timeout=timeout)
        self.stderr.seek(0)
        err = self.stderr.read().decode(errors="replace")
        self.stderr.close()
        return code, err

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        """Signal the server and wait for it: its exit code and what it wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.wait(timeout)


def start_server(
    data_dir: Path,
    *args: str,
    port: int | None = None,
    scheme: str = "http",
    verify: object = False,
    auth: tuple[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> LiveServer:
    """Start `streamdb server` on 127.0.0.1 and wait until /healthcheck answers (any status:
    it may need credentials)."""
    port = port or free_port()
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [STREAMDB, "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--data-dir", str(data_dir), *args],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        preexec_fn=preexec_fn,
    )
    server = LiveServer(process, f"{scheme}://127.0.0.1:{port}", stderr)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {server.wait()[1]}")
        try:
            httpx.get(f"{server.url}/healthcheck", timeout=2.0, verify=verify, auth=auth)  # type: ignore[arg-type]
            return server
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(
        f"the server did not answer in {START_SECONDS}s: {server.wait()[1][-2000:]}"
    )


@contextmanager
def live_server(data_dir: Path, *args: str, **options: object) -> Iterator[LiveServer]:
    server = start_server(data_dir, *args, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
        if not server.stderr.closed:
            server.wait()
