"""The soak: a `streamdb server` with 100 concurrent push queries, each selecting about 1% of
a stream by a WHERE on its key, while events are inserted at a steady rate. Every client must
get every row it selects, in order; the server's RSS is taken before and after.

    python -m tests.soak --seconds 300 --rate 20000     # the full soak (goal: RSS < +20%)

tests/test_soak.py runs a 1-minute version that checks delivery and order only."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil

from tests.live_server import live_server

KEYS = 100  # one push query per key: each selects 1% of the events
INSERTERS = 4  # inserter j owns the keys k with k % INSERTERS == j, so each key's order holds
BATCH_SECONDS = 0.1
CATCH_UP_BATCHES = 10  # at most this many late batches go in one request
DRAIN_SECONDS = 120  # after the last insert, for the queries to deliver what is left
STREAM = (
    "CREATE STREAM events (k INT KEY, seq BIGINT, pad STRING) "
    "WITH (kafka_topic='events', value_format='JSON', partitions=4);"
)
PAD = "x" * 40


@dataclass
class SoakResult:
    seconds: float
    inserted: int
    delivered: int
    out_of_order: int
    missing: int
    rss_before: int
    rss_after: int
    server_cpu: float  # the server's CPU seconds (user + system) from the first insert on
    client_cpu: float  # this process's (the inserters' and readers'), the same span

    @property
    def rate(self) -> float:
        return self.inserted / self.seconds

    @property
    def rss_growth(self) -> float:
        return self.rss_after / self.rss_before - 1

    @property
    def server_cpu_per_10k(self) -> float:
        """The server's CPU seconds per 10,000 events: what a wall rate on a shared machine
        hides (the rate also waits on the client and on other processes)."""
        return self.server_cpu / max(1, self.inserted) * 10_000


async def _insert(
    url: str, owned: list[int], rate: float, started: float, until: float, sent: dict[int, int]
) -> None:
    """Insert rows for the `owned` keys at `rate` rows a second from `started` until `until`;
    `sent[k]` counts each key's acknowledged rows (its next sequence number). A batch is due
    every BATCH_SECONDS: one that comes back late is made up in the next request (up to
    CATCH_UP_BATCHES at once), so the rate inserted is the server's throughput up to `rate`,
    not one slow round trip's."""
    per_batch = max(1, int(rate * BATCH_SECONDS))
    async with httpx.AsyncClient(timeout=60) as client:
        turn = 0
        due = 0  # batches sent so far; batch n is due at started + n * BATCH_SECONDS
        while (now := time.monotonic()) < until:
            behind = int((now - started) / BATCH_SECONDS) + 1 - due
            batches = max(1, min(CATCH_UP_BATCHES, behind))
            rows = []
            next_seq = {key: sent[key] for key in owned}
            for _ in range(per_batch * batches):
                key = owned[turn % len(owned)]
                turn += 1
                rows.append(orjson.dumps({"K": key, "SEQ": next_seq[key], "PAD": PAD}))
                next_seq[key] += 1
            body = b"\n".join([orjson.dumps({"target": "EVENTS"}), *rows])
            response = await client.post(f"{url}/inserts-stream", content=body)
            acks = [orjson.loads(line) for line in response.content.splitlines()]
            assert len(acks) == len(rows) and all(a["status"] == "ok" for a in acks), response.text
            sent.update(next_seq)
            due += batches
            await asyncio.sleep(max(0.0, started + due * BATCH_SECONDS - time.monotonic()))


class Reader:
    """One push query's client: the sequence numbers of its key, checked in order."""

    def __init__(self, key: int) -> None:
        self.key = key
        self.received = 0
        self.out_of_order = 0
        self.opened = asyncio.Event()

    async def read(self, client: httpx.AsyncClient, url: str, done: asyncio.Event) -> None:
        """Reads the response's lines as they come, the rows of each chunk parsed at once
        (a JSON array of its lines): the 100 readers share this process with the inserters."""
        select = {"sql": f"SELECT seq FROM events WHERE k = {self.key} EMIT CHANGES;"}
        async with client.stream("POST", f"{url}/query-stream", json=select) as response:
            pending = b""
            async for chunk in response.aiter_bytes():
                *lines, pending = (pending + chunk).split(b"\n")
                if not self.opened.is_set() and lines:
                    lines.pop(0)  # the header: the query is open
                    self.opened.set()
                rows = [line for line in lines if line]
                if rows:
                    self._check(orjson.loads(b"[" + b",".join(rows) + b"]"))
                if done.is_set():
                    return

    def _check(self, rows: list[list[int]]) -> None:
        for (seq,) in rows:
            if seq != self.received:
                self.out_of_order += 1
            self.received = max(self.received, seq + 1)


async def soak(url: str, pid: int, seconds: float, rate: float) -> SoakResult:
    process = psutil.Process(pid)
    readers = [Reader(k) for k in range(KEYS)]
    done = asyncio.Event()
    sent = dict.fromkeys(range(KEYS), 0)
    limits = httpx.Limits(max_connections=KEYS + 10)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=None), limits=limits) as client:
        reading = [asyncio.create_task(r.read(client, url, done)) for r in readers]
        await asyncio.wait_for(asyncio.gather(*(r.opened.wait() for r in readers)), 120)
        rss_before = process.memory_info().rss
        cpu_before, client_before = _cpu(process), _cpu(psutil.Process())
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(
            *(
                _insert(
                    url, list(range(j, KEYS, INSERTERS)), rate / INSERTERS, started, until, sent
                )
                for j in range(INSERTERS)
            )
        )
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and any(r.received < sent[r.key] for r in readers):
            await asyncio.sleep(0.2)
        rss_after = process.memory_info().rss
        server_cpu, client_cpu = _cpu(process) - cpu_before, _cpu(psutil.Process()) - client_before
        done.set()
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)
    return SoakResult(
        seconds=elapsed,
        inserted=sum(sent.values()),
        delivered=sum(r.received for r in readers),
        out_of_order=sum(r.out_of_order for r in readers),
        missing=sum(max(0, sent[r.key] - r.received) for r in readers),
        rss_before=rss_before,
        rss_after=rss_after,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
    )


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def run(data_dir: Path, seconds: float, rate: float) -> SoakResult:
    config = data_dir / "soak.properties"
    config.write_text(f"ksql.max.push.queries={KEYS * 2}\n")
    with live_server(data_dir / "data", "--config", str(config)) as server:
        created = httpx.post(f"{server.url}/ksql", json={"ksql": STREAM}, timeout=60)
        assert created.status_code == 200, created.text
        return asyncio.run(soak(server.url, server.process.pid, seconds, rate))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--rate", type=float, default=20_000, help="events a second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = run(Path(folder), args.seconds, args.rate)
    print(
        f"{result.inserted} events in {result.seconds:.0f}s ({result.rate:.0f}/s) to "
        f"{KEYS} push queries: {result.delivered} delivered, {result.missing} missing, "
        f"{result.out_of_order} out of order; server RSS {result.rss_before / 2**20:.0f} MiB "
        f"before, {result.rss_after / 2**20:.0f} MiB after ({result.rss_growth:+.1%}); "
        f"server CPU {result.server_cpu:.1f}s ({result.server_cpu_per_10k:.2f}s per 10k "
        f"events), client CPU {result.client_cpu:.1f}s"
    )
    return 0 if result.missing == 0 and result.out_of_order == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
