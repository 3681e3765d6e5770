"""Benchmarks (`python -m bench [name ...]`). Not tests: nothing is asserted about time.

Every module `bench/<name>_bench.py` exposes `SCENARIOS: dict[str, Scenario]`; a scenario
runs once and returns (records processed, seconds spent on the measured part)."""

from __future__ import annotations

from collections.abc import Callable

Scenario = Callable[[], tuple[int, float]]
