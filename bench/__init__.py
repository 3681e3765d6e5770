"""Benchmarks (`python -m bench [name ...]`). Not tests: nothing is asserted about time.

Every module `bench/<name>_bench.py` exposes `SCENARIOS: dict[str, Scenario]`; a scenario
runs once and returns (records processed, seconds spent on the measured part), optionally
followed by named measures such as latency percentiles ({"p50_ms": ..., "p99_ms": ...})."""

from __future__ import annotations

from collections.abc import Callable

Result = tuple[int, float] | tuple[int, float, dict[str, float]]
Scenario = Callable[[], Result]
