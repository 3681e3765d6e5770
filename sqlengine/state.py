"""State stores: in-memory maps made durable by a changelog topic in the log.

Every `put`/`delete` marks the key dirty; `flush()` appends the dirty entries to the store's
changelog topic in one batch (before the query commits its input offsets), and a new store
over the same log restores itself by replaying the changelog, last write per key winning, as
Kafka Streams restores its stores. Keys are tuples of SQL values; keys and values are pickled.
A store without a changelog (a transient query's) lives in memory only.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

from sqlengine.log.base import Log

_MISSING = object()


def frozen(value: Any) -> Any:
    """A hashable form of a SQL value (STRUCT/MAP dicts and ARRAY lists become tuples), for
    use in store keys. Distinct values stay distinct: a dict's form is tagged."""
    if isinstance(value, dict):
        return ("__map__", tuple((frozen(k), frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


class KeyValueStore:
    def __init__(self, log: Log, changelog: str | None) -> None:
        self.log = log
        self.changelog = changelog
        self.data: dict[Any, Any] = {}
        # Entries changed since the last flush (None: deleted). Hot loops may write `data`
        # and `dirty` together directly instead of calling put().
        self.dirty: dict[Any, Any] = {}
        if changelog is None:
            return
        if log.topic(changelog) is None:
            log.create_topic(changelog, 1, config={"cleanup.policy": "compact"})
        else:
            self._restore()

    def _restore(self) -> None:
        assert self.changelog is not None
        offset = 0
        while True:
            batch = self.log.read(self.changelog, 0, offset)
            if not len(batch):
                return
            for k, v in zip(batch.keys, batch.values, strict=True):
                key = pickle.loads(k)  # noqa: S301 - our own changelog
                if v is None:
                    self.data.pop(key, None)
                else:
                    self.data[key] = pickle.loads(v)  # noqa: S301
            offset = batch.next_offset

    def get(self, key: Any, default: Any = None) -> Any:
        return self.data.get(key, default)

    def put(self, key: Any, value: Any) -> None:
        self.data[key] = value
        self.dirty[key] = value

    def delete(self, key: Any) -> None:
        if self.data.pop(key, _MISSING) is not _MISSING:
            self.dirty[key] = None

    def items(self) -> Iterator[tuple[Any, Any]]:
        return iter(self.data.items())

    def __len__(self) -> int:
        return len(self.data)

    def flush(self) -> None:
        if self.changelog is None:
            self.dirty.clear()
            return
        if not self.dirty:
            return
        keys = [pickle.dumps(k, protocol=5) for k in self.dirty]
        values = [None if v is None else pickle.dumps(v, protocol=5) for v in self.dirty.values()]
        self.log.append_batch(self.changelog, keys, values, [0] * len(keys), partition=0)
        self.dirty.clear()
