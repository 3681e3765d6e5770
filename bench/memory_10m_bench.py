"""Memory at scale: the 1M-key scenarios of `memory_bench` with 10M keys (minutes per run:
`python -m bench memory_10m --runs 1`)."""

from __future__ import annotations

from bench.memory_bench import restart

KEYS = 10_000_000

# One build serves both measures: the build's peak RSS, and the restart over its data dir.
SCENARIOS = {"restart_10m_keys": lambda: restart(KEYS)}
