"""The soak's 1-minute version (tests/soak.py): 100 concurrent push queries, each selecting
1% of a stream by its key, while events are inserted; every client gets every row it
selects, in order. (`python -m tests.soak` runs the full soak and reports RSS.)"""

from __future__ import annotations

from pathlib import Path

from tests.soak import run

SECONDS = 60
RATE = 1000  # events a second asked for; a loaded machine inserts fewer, all still checked


def test_a_minute_of_inserts_reaches_every_push_query_in_order(tmp_path: Path) -> None:
    result = run(tmp_path, SECONDS, RATE)
    assert result.inserted > 0
    assert result.missing == 0, f"{result.missing} selected rows never reached their client"
    assert result.out_of_order == 0
    assert result.delivered == result.inserted
