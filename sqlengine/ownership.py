"""Which server owns which partitions of each persistent query, for pull-query routing
(scale-out): a compacted topic `_confluent-ksql-<service id>_streamdb_owners` holds, per
query and server (its `ksql.advertised.listener`), the partitions the server runs and when
it took them. A partition's owner is the server that took it last: a server that died keeps
its record, but the server that took its partitions over wrote a later one.

    owners = Owners(log, service_id, "http://10.0.0.1:8088")
    owners.publish("CTAS_T_1", [0, 1])
    owners.refresh()                      # what the other servers published
    owners.peers("CTAS_T_1", {0, 1, 2, 3})  # the other servers owning these partitions
"""

from __future__ import annotations

import time

import orjson

from sqlengine.log.base import Log

ADVERTISED_LISTENER_CONFIG = "ksql.advertised.listener"


def owners_topic(service_id: str) -> str:
    return f"_confluent-ksql-{service_id}_streamdb_owners"


class Owners:
    def __init__(self, log: Log, service_id: str, url: str) -> None:
        self.log = log
        self.url = url.rstrip("/")
        self.topic = owners_topic(service_id)
        if log.topic(self.topic) is None:
            log.create_topic(self.topic, 1, config={"cleanup.policy": "compact"})
        self._read = 0
        # (query id, server url) -> (when it took them, the partitions it owns)
        self._records: dict[tuple[str, str], tuple[int, list[int]]] = {}

    def publish(self, query_id: str, partitions: list[int]) -> None:
        value = {"at": time.time_ns(), "partitions": sorted(partitions)}
        key = orjson.dumps([query_id, self.url])
        self.log.append_batch(self.topic, [key], [orjson.dumps(value)], [0], partition=0)

    def refresh(self) -> None:
        while len(batch := self.log.read(self.topic, 0, self._read)):
            for key, value in zip(batch.keys, batch.values, strict=True):
                if key is None or value is None:
                    continue
                query_id, url = orjson.loads(key)
                record = orjson.loads(value)
                self._records[(query_id, url)] = (record["at"], record["partitions"])
            self._read = batch.next_offset

    def owners(self, query_id: str) -> dict[int, str]:
        """Each partition's owner, as last published."""
        latest: dict[int, tuple[int, str]] = {}
        for (qid, url), (at, partitions) in list(self._records.items()):
            if qid != query_id:
                continue
            for partition in partitions:
                if partition not in latest or latest[partition][0] < at:
                    latest[partition] = (at, url)
        return {p: url for p, (_, url) in latest.items()}

    def peers(self, query_id: str, partitions: set[int]) -> list[str]:
        """The other servers that own the query's `partitions`, each once. Raises
        OwnerUnknown while one has no owner (a rebalance hands it over)."""
        owners = self.owners(query_id)
        missing = sorted(p for p in partitions if p not in owners)
        if missing:
            raise OwnerUnknown(
                f"Partition {missing[0]} of query {query_id} has no owner yet: the servers "
                "are handing partitions over; retry in a few seconds"
            )
        return sorted({owners[p] for p in partitions if owners[p] != self.url})


class OwnerUnknown(Exception):
    """A partition no server owns now (a rebalance in progress)."""
