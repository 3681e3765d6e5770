"""Record timestamps taken from a column (the TIMESTAMP / TIMESTAMP_FORMAT properties)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlengine import types as T
from sqlengine.functions import java_time_format as jt


def timestamp_extractor(
    index: int, col_type: T.SqlType, fmt: str | None
) -> Callable[[Sequence[Any]], int | None]:
    """A function reading a row's event time (epoch ms) from the column at `index`."""
    if col_type.base in (T.Base.BIGINT, T.Base.TIMESTAMP):
        return lambda row: row[index]
    if col_type.base is T.Base.STRING:
        pattern = fmt or "yyyy-MM-dd'T'HH:mm:ss.SSS"
        utc = jt.zone_of("UTC")

        def parse(row: Sequence[Any]) -> int | None:
            text = row[index]
            return None if text is None else jt.parse_epoch_ms(text, pattern, utc)

        return parse
    raise ValueError(f"Timestamp column must be BIGINT, TIMESTAMP or STRING, not {col_type}")
