"""PyPI `ksql` (0.10.2) against a streamdb server, unmodified: `python pypi_ksql.py URL STREAM`
(STREAM: a stream name the server does not have yet).

Run with the client's own dependencies first on the path (hyper 0.7 needs h2 2.x, the server's
environment has h2 4.x); prints a JSON report of what the client saw, for tests/test_clients.py.
"""

from __future__ import annotations

import collections
import collections.abc
import json
import queue
import sys
import threading
from typing import Any

# hyper 0.7 (2016) imports these from `collections`, where Python 3.10 no longer has them.
for _name in ("Iterable", "Mapping", "MutableMapping", "MutableSet", "Callable"):
    setattr(collections, _name, getattr(collections.abc, _name))

from ksql import KSQLAPI  # noqa: E402

WAIT_SECONDS = 60
STREAM = (
    "CREATE STREAM {0} (id INT KEY, page STRING) "
    "WITH (kafka_topic='{0}', value_format='JSON', partitions=1);"
)


def main(url: str, stream: str) -> dict[str, Any]:
    client = KSQLAPI(url, timeout=WAIT_SECONDS)
    report: dict[str, Any] = {"version": client.get_ksql_version()}
    report["created"] = client.ksql(STREAM.format(stream))
    report["acks"] = client.inserts_stream(stream.upper(), [{"ID": 1, "PAGE": "a"}])

    arrived: queue.Queue[Any] = queue.Queue()

    def read() -> None:
        rows = client.query(
            f"SELECT id, page FROM {stream} EMIT CHANGES;",
            stream_properties={"ksql.streams.auto.offset.reset": "earliest"},
            return_objects=True,
        )
        for row in rows:
            arrived.put(row)

    threading.Thread(target=read, daemon=True).start()
    seen = []
    try:
        # Each row must arrive on its own, before the next one is even inserted.
        seen.append(arrived.get(timeout=WAIT_SECONDS))
        report["acks"] += client.inserts_stream(stream.upper(), [{"ID": 2, "PAGE": "b"}])
        seen.append(arrived.get(timeout=WAIT_SECONDS))
    except queue.Empty:
        report["timed_out_after"] = seen
    report["pushed"] = seen
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
