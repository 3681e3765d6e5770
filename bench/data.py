"""The `--vs flink` data sets: JSON lines from a fixed seed, written once and reused.

A data set is a directory of part files, one per partition of the streamdb source topic: a
record goes to part `murmur2(key) % parts`, where Kafka's default partitioner (and so
`append_batch(partition=None)`) puts it. Flink's filesystem source reads one part per source
reader, as a Kafka source reads one partition per reader; each part keeps the records in
event-time order (event time in ms = record number), so no record is late for a watermark.

Layout: bench/.data/<name>-<events>-p<parts>/part-<k>.jsonl, and _meta.json, written last (a
directory without it is incomplete and made again; Flink skips files named _*).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from sqlengine.log.base import default_partition

SEED = 42
SENSORS = 1000
ITEMS = 1000
CACHE = Path(__file__).parent / ".data"
_CHUNK = 50_000

_LINES = ("line-a", "line-b", "line-c", "line-d", "line-e")
_MAKES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell")

Record = dict[str, object]


@dataclass(frozen=True)
class DataSet:
    """A data set on disk: its part files, the key field and time field of its records."""

    name: str
    directory: Path
    key_field: str
    time_field: str | None
    meta: dict[str, int]

    @property
    def parts(self) -> list[Path]:
        return sorted(self.directory.glob("part-*.jsonl"))

    def chunks(self) -> Iterator[tuple[list[bytes], list[bytes], list[int]]]:
        """(keys, JSON values, timestamps) in chunks, part after part; the timestamp is the
        record's time field (0 for a data set without one)."""
        for part in self.parts:
            with part.open("rb") as lines:
                while batch := lines.readlines(_CHUNK * 128):
                    values = [line.rstrip(b"\n") for line in batch]
                    records = [orjson.loads(v) for v in values]
                    keys = [str(r[self.key_field]).encode() for r in records]
                    times = [int(r[self.time_field]) if self.time_field else 0 for r in records]
                    yield keys, values, times


def _widget(rng: random.Random, i: int) -> Record:
    return {
        "sensor_id": f"aa-{rng.randrange(SENSORS)}",
        "production_line": rng.choice(_LINES),
        "temp_celcius": round(rng.uniform(15.0, 35.0), 2),
        "widget_weight_g": rng.randint(50, 200),
        "reading_ts": i,
    }


def _order(rng: random.Random, i: int) -> Record:
    return {
        "orderid": i,
        "itemid": f"Item_{rng.randrange(ITEMS)}",
        "orderunits": rng.randint(1, 20),
        "ordertime": i,
    }


def _item(rng: random.Random, i: int) -> Record:
    return {
        "id": f"Item_{i}",
        "make": rng.choice(_MAKES),
        "unit_cost": round(rng.uniform(1, 99), 2),
    }


def _heavy(record: Record) -> bool:
    """The filter+projection scenario's predicate (widget_weight_g > 120)."""
    return int(record["widget_weight_g"]) > 120  # type: ignore[call-overload]


@dataclass(frozen=True)
class _Spec:
    make: Callable[[random.Random, int], Record]
    key_field: str
    time_field: str | None
    counted: Callable[[Record], bool] | None = None  # meta["selected"]: how many pass it


_SPECS = {
    "widgets": _Spec(_widget, "sensor_id", "reading_ts", _heavy),
    "orders": _Spec(_order, "itemid", "ordertime"),
    "items": _Spec(_item, "id", None),
}


def dataset(name: str, events: int, parts: int) -> DataSet:
    """The data set `name` (widgets, orders, items) of `events` records over `parts` part
    files, generated from random.Random(SEED) unless already cached."""
    spec = _SPECS[name]
    directory = CACHE / f"{name}-{events}-p{parts}"
    meta_file = directory / "_meta.json"
    if not meta_file.exists():
        _generate(spec, directory, events, parts)
    meta = json.loads(meta_file.read_text())
    return DataSet(name, directory, spec.key_field, spec.time_field, meta)


def _generate(spec: _Spec, directory: Path, events: int, parts: int) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    rng = random.Random(SEED)
    files = [(directory / f"part-{k:05d}.jsonl").open("wb") for k in range(parts)]
    partition_of: dict[str, int] = {}
    selected = 0
    try:
        for start in range(0, events, _CHUNK):
            lines: list[list[bytes]] = [[] for _ in range(parts)]
            for i in range(start, min(start + _CHUNK, events)):
                record = spec.make(rng, i)
                key = str(record[spec.key_field])
                part = partition_of.get(key)
                if part is None:
                    part = partition_of[key] = default_partition(key.encode(), parts)
                lines[part].append(orjson.dumps(record))
                selected += bool(spec.counted and spec.counted(record))
            for file, chunk in zip(files, lines, strict=True):
                if chunk:
                    file.write(b"\n".join(chunk) + b"\n")
    finally:
        for file in files:
            file.close()
    meta = {"events": events, "parts": parts, "seed": SEED, "selected": selected}
    (directory / "_meta.json").write_text(json.dumps(meta))
