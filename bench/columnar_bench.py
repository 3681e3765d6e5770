"""The vectorized JSON path in one process, without the log: the widgets values of the
`--vs flink` data (bench/data.py, its first part file of 1M events: 477,159 values) in batches
of 50,000, decoded into Arrow columns (`JsonBatchDecoder`), filtered as the filter+projection
scenario filters them (widget_weight_g > 120) and the projected value columns encoded
(`JsonBatchEncoder`); and, for comparison, the per-record deserializer over the same values.
As in that scenario, sensor_id is the stream's key: the values have it as a field outside the
value columns.

Seconds are CPU seconds of this process (time.process_time), so that other work on the
machine moves them less than wall-clock time."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from bench import Scenario
from bench.data import dataset
from sqlengine import types as T
from sqlengine.columnar.json_batch import JsonBatchDecoder, JsonBatchEncoder
from sqlengine.serde.json_format import make_json_deserializer

BATCH = 50_000
COLUMNS = [
    ("PRODUCTION_LINE", T.STRING),
    ("TEMP_CELCIUS", T.DOUBLE),
    ("WIDGET_WEIGHT_G", T.INTEGER),
    ("READING_TS", T.BIGINT),
]
PROJECTED = [0, 2, 1]  # production_line, widget_weight_g, temp_celcius
WEIGHT = 2


@cache
def _batches() -> list[pa.Array]:
    """The values of the first part file of 1M widgets, as binary arrays of BATCH values."""
    part = dataset("widgets", 1_000_000, 2).parts[0]
    values = pa.array(part.read_bytes().splitlines(), pa.binary())
    return [values.slice(start, BATCH) for start in range(0, len(values), BATCH)]


def _cpu_seconds(work: Callable[[pa.Array], object]) -> tuple[int, float]:
    """(values, CPU seconds) of `work` over every batch; a batch it declines fails the run."""
    batches = _batches()
    begin = time.process_time()
    for batch in batches:
        if work(batch) is None:
            raise AssertionError("the vectorized path declined a batch of clean widgets")
    return sum(map(len, batches)), time.process_time() - begin


def decode() -> tuple[int, float]:
    decoder = JsonBatchDecoder(COLUMNS)
    return _cpu_seconds(decoder.decode)


def decode_filter_encode() -> tuple[int, float]:
    decoder = JsonBatchDecoder(COLUMNS)
    encoder = JsonBatchEncoder([COLUMNS[i] for i in PROJECTED])

    def run(batch: pa.Array) -> pa.Array | None:
        columns = decoder.decode(batch)
        if columns is None:
            return None
        heavy = pc.greater(columns[WEIGHT], 120)
        return encoder.encode([columns[i].filter(heavy) for i in PROJECTED])

    return _cpu_seconds(run)


def encode() -> tuple[int, float]:
    """Encoding only: the filtered, projected columns of every batch, decoded beforehand."""
    decoder = JsonBatchDecoder(COLUMNS)
    encoder = JsonBatchEncoder([COLUMNS[i] for i in PROJECTED])
    projected = []
    for batch in _batches():
        columns = decoder.decode(batch)
        assert columns is not None
        heavy = pc.greater(columns[WEIGHT], 120)
        projected.append([columns[i].filter(heavy) for i in PROJECTED])
    begin = time.process_time()
    rows = 0
    for arrays in projected:
        encoded = encoder.encode(arrays)
        assert encoded is not None
        rows += len(encoded)
    return rows, time.process_time() - begin


def decode_per_record() -> tuple[int, float]:
    """The per-record deserializer (orjson and ksqlDB's field lookup) over the same values."""
    deserialize = make_json_deserializer(COLUMNS, unwrap=False, is_key=False, topic="widgets")
    return _cpu_seconds(lambda batch: [deserialize(v) for v in batch.to_pylist()])


SCENARIOS: dict[str, Scenario] = {
    "decode": decode,
    "decode_filter_encode": decode_filter_encode,
    "encode": encode,
    "decode_per_record": decode_per_record,
}
