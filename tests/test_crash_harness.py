"""20 SIGKILLs of a server while a client inserts and a CSAS, a windowed CTAS and a join run
(tests/crash_harness.py, which checks the outcome; `python -m tests.crash_harness --kills
100` runs the long version)."""

from __future__ import annotations

from pathlib import Path

from tests.crash_harness import run

KILLS = 20


def test_twenty_kills_lose_double_and_change_nothing(tmp_path: Path) -> None:
    outcome = run(KILLS, tmp_path)
    assert outcome.kills == KILLS
    assert outcome.acknowledged > KILLS * 100  # every run acknowledged inserts
    assert outcome.source_records >= outcome.acknowledged
    assert outcome.windows > 0
