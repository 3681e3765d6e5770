"""A `streamdb server` in its own process, as a user starts it (tests of start-up, shutdown,
authentication, TLS, crashes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from server.serve import free_port

STREAMDB = str(Path(sys.executable).with_name("streamdb"))
START_SECONDS = 60.0


def streamdb(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STREAMDB, *args], capture_output=True, text=True, timeout=timeout)


class LiveServer:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        """Signal the server and wait for it: its exit code and what it wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, err


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
    process = subprocess.Popen(
        [STREAMDB, "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--data-dir", str(data_dir), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.communicate()[1]}")
        try:
            httpx.get(f"{url}/healthcheck", timeout=2.0, verify=verify, auth=auth)  # type: ignore[arg-type]
            return LiveServer(process, url)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the server did not answer within {START_SECONDS}s")


@contextmanager
def live_server(data_dir: Path, *args: str, **options: object) -> Iterator[LiveServer]:
    server = start_server(data_dir, *args, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate(timeout=30)
