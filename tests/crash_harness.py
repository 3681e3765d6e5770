"""The crash harness: a `streamdb server` killed with SIGKILL at random moments while a client
inserts over /inserts-stream and a CSAS, a windowed CTAS and a stream-table join run. After
the last restart:

- no acknowledged record is lost and none is in the source twice;
- the CSAS sink and the join's hold each expected record exactly once
  (sqlengine/exactly_once.py);
- the windowed table's final state equals what an uninterrupted run computes (counted here
  from the source records).

    python -m tests.crash_harness --kills 100      # tests/test_crash_harness.py runs 20
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from sqlengine.engine import Engine
from tests.live_server import LiveServer, start_server

CUSTOMERS = 7
WINDOW_MS = 10_000
ROWS_PER_REQUEST = 100
# Orders are 100 ms apart in event time (`order`): a run that inserts more than 864,000 of
# them spans more than a window's default retention (24 h of grace), after which the oldest
# windows expire, as in ksqlDB. The check compares every window, so they are kept 30 days.
SETUP = f"""
CREATE STREAM orders (customer STRING KEY, n BIGINT, amount INT, ts BIGINT)
    WITH (kafka_topic='orders', value_format='JSON', partitions=2, timestamp='ts');
CREATE TABLE customers (id STRING PRIMARY KEY, region STRING)
    WITH (kafka_topic='customers', value_format='JSON', partitions=2);
CREATE STREAM big AS SELECT customer, n, amount FROM orders WHERE amount >= 50;
CREATE TABLE per_window AS SELECT customer, COUNT(*) AS orders, SUM(amount) AS total
    FROM orders WINDOW TUMBLING (SIZE {WINDOW_MS // 1000} SECONDS, RETENTION 30 DAYS)
    GROUP BY customer;
CREATE STREAM enriched AS SELECT o.customer AS customer, o.n AS n, c.region AS region
    FROM orders o JOIN customers c ON o.customer = c.id;
"""
# At time 0, before every order: the join reads the table rows first (a stream-table join
# merges its inputs by time), so no order comes before its customer.
CUSTOMER_ROWS = "".join(
    f"INSERT INTO customers (ROWTIME, id, region) VALUES (0, 'c{i}', 'r{i % 3}');"
    for i in range(CUSTOMERS)
)


def order(n: int) -> dict[str, Any]:
    return {"CUSTOMER": f"c{n % CUSTOMERS}", "N": n, "AMOUNT": n % 100, "TS": n * 100}


@dataclass
class Inserter:
    """Inserts orders numbered from `next_n` until the server dies; `acknowledged` holds
    the numbers the server said `ok` to."""

    url: str
    next_n: int
    acknowledged: set[int] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                numbers = range(self.next_n, self.next_n + ROWS_PER_REQUEST)
                self.next_n += ROWS_PER_REQUEST  # never sent again, acknowledged or not
                body = b"\n".join(
                    [orjson.dumps({"target": "ORDERS"}), *(orjson.dumps(order(n)) for n in numbers)]
                )
                try:
                    with client.stream("POST", f"{self.url}/inserts-stream", content=body) as r:
                        for line in r.iter_lines():
                            ack = orjson.loads(line)
                            if ack.get("status") == "ok":
                                self.acknowledged.add(numbers[ack["seq"]])
                except (httpx.TransportError, orjson.JSONDecodeError):
                    return  # the server died under us


def run_and_kill(data_dir: Path, queries: Path, next_n: int, rnd: random.Random) -> Inserter:
    server = start_server(data_dir, "--queries", str(queries))
    try:
        if next_n == 0:
            response = httpx.post(f"{server.url}/ksql", json={"ksql": CUSTOMER_ROWS}, timeout=60)
            assert response.status_code == 200, response.text
        inserter = Inserter(server.url, next_n)
        thread = threading.Thread(target=inserter.run)
        thread.start()
        time.sleep(rnd.uniform(0.3, 2.5))  # mid-request, mid-step, or between them
    finally:
        kill(server)
    inserter.stop.set()
    thread.join(timeout=60)
    return inserter


def kill(server: LiveServer) -> None:
    server.stop(signal.SIGKILL, timeout=60)


def values(engine: Engine, topic: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for partition in range(engine.log.topic(topic).partitions):  # type: ignore[union-attr]
        offset = 0
        while len(batch := engine.log.read(topic, partition, offset, 50_000)):
            out += [orjson.loads(v) for v in batch.values if v is not None]
            offset = batch.next_offset
    return out


@dataclass
class Outcome:
    kills: int
    acknowledged: int
    source_records: int
    sink_records: int
    windows: int


def check(data_dir: Path, acknowledged: set[int]) -> Outcome:
    """After the last kill: an engine over the data catches up, then the comparisons."""
    engine = Engine(data_dir)
    try:
        engine.run_until_idle()
        source = [int(v["N"]) for v in values(engine, "orders")]
        assert len(source) == len(set(source)), "the source holds a record twice"
        lost = acknowledged - set(source)
        assert not lost, f"{len(lost)} acknowledged records lost, e.g. {sorted(lost)[:5]}"

        big = Counter(int(v["N"]) for v in values(engine, "BIG"))
        assert max(big.values(), default=1) == 1, "the CSAS sink holds a record twice"
        assert set(big) == {n for n in source if n % 100 >= 50}

        expected: dict[tuple[str, int], list[int]] = {}
        for n in source:
            row = order(n)
            window = expected.setdefault(
                (row["CUSTOMER"], row["TS"] // WINDOW_MS * WINDOW_MS), [0, 0]
            )
            window[0] += 1
            window[1] += row["AMOUNT"]
        (result,) = engine.execute(
            "SELECT customer, WINDOWSTART AS ws, orders, total FROM per_window;"
        )
        state = {(r[0], r[1]): [r[2], r[3]] for r in result.rows}  # type: ignore[attr-defined]
        differing = {k: (state.get(k), expected.get(k)) for k in state.keys() | expected.keys()}
        differing = {k: v for k, v in differing.items() if v[0] != v[1]}
        assert not differing, (
            f"the windowed table differs from an uninterrupted run's in {len(differing)} "
            f"windows, e.g. (got, expected): {sorted(differing.items())[:5]}"
        )

        enriched = Counter((int(v["N"]), v["REGION"]) for v in values(engine, "ENRICHED"))
        assert max(enriched.values(), default=1) == 1, "the join's sink holds a record twice"
        assert set(enriched) == {(n, f"r{(n % CUSTOMERS) % 3}") for n in source}
        return Outcome(
            kills=0,
            acknowledged=len(acknowledged),
            source_records=len(source),
            sink_records=sum(big.values()) + sum(enriched.values()),
            windows=len(state),
        )
    finally:
        engine.close()


def run(kills: int, data_dir: Path, seed: int = 14) -> Outcome:
    rnd = random.Random(seed)
    queries = data_dir / "setup.sql"
    queries.write_text(SETUP)
    acknowledged: set[int] = set()
    next_n = 0
    for kill_number in range(1, kills + 1):
        inserter = run_and_kill(data_dir / "data", queries, next_n, rnd)
        acknowledged |= inserter.acknowledged
        next_n = inserter.next_n
        print(f"kill {kill_number}: {len(acknowledged)} acknowledged", file=sys.stderr)
    outcome = check(data_dir / "data", acknowledged)
    outcome.kills = kills
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        outcome = run(args.kills, Path(folder), args.seed)
    print(
        f"{outcome.kills} kills survived in {time.monotonic() - started:.0f}s: "
        f"{outcome.acknowledged} acknowledged records, {outcome.source_records} in the source, "
        f"{outcome.sink_records} sink records compared, none twice, {outcome.windows} "
        "windows equal to an uninterrupted run's"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
