"""Ceilings for the filter+projection scenario: how fast the same work goes without a
streaming engine, over the same widgets files.

- orjson loop: `orjson.loads` of every value and the filter and projection in a Python loop,
  one core; the lines are read into memory before the clock starts. Roughly what any
  record-at-a-time Python engine pays at least for JSON.
- DuckDB: one batch query (`CREATE TABLE ... AS SELECT ... WHERE widget_weight_g > 120`) over
  the JSON-lines files, with all its threads; reading the files is timed. A columnar
  vectorised engine with no per-record Python, no log, no state, no delivery.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from bench.data import DataSet

Ceiling = Callable[[DataSet], float]  # seconds for the data set's records


def orjson_loop(widgets: DataSet) -> float:
    values = [value for part in widgets.parts for value in part.read_bytes().splitlines()]
    begin = time.perf_counter()
    kept = []
    loads = orjson.loads
    for value in values:
        record = loads(value)
        if record["widget_weight_g"] > 120:
            kept.append(
                (
                    record["sensor_id"],
                    record["production_line"],
                    record["widget_weight_g"],
                    record["temp_celcius"],
                )
            )
    seconds = time.perf_counter() - begin
    assert len(kept) == widgets.meta["selected"], len(kept)
    return seconds


def duckdb_query(widgets: DataSet) -> float:
    import duckdb  # not a streamdb dependency: the caller checks that it is installed

    columns = {
        "sensor_id": "VARCHAR",
        "production_line": "VARCHAR",
        "temp_celcius": "DOUBLE",
        "widget_weight_g": "INTEGER",
        "reading_ts": "BIGINT",
    }
    with duckdb.connect() as con:
        begin = time.perf_counter()
        con.execute(
            "CREATE TABLE heavy AS SELECT sensor_id, production_line, widget_weight_g, "
            "temp_celcius FROM read_json(?, format = 'newline_delimited', columns = ?) "
            "WHERE widget_weight_g > 120",
            [str(widgets.directory / "part-*.jsonl"), columns],
        )
        seconds = time.perf_counter() - begin
        row = con.execute("SELECT count(*) FROM heavy").fetchone()
    assert row is not None and row[0] == widgets.meta["selected"], row
    return seconds


def duckdb_installed() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class CeilingSpec:
    name: str
    measure: Ceiling
    missing: str | None  # why it cannot run here, or None


def ceilings() -> list[CeilingSpec]:
    threads = os.cpu_count() or 1
    return [
        CeilingSpec("orjson loop (1 core)", orjson_loop, None),
        CeilingSpec(
            f"DuckDB batch query ({threads} threads)",
            duckdb_query,
            None if duckdb_installed() else "duckdb not installed (pip install duckdb)",
        ),
    ]
