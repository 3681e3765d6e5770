"""Runs registered benchmark scenarios and prints a table.

python -m bench              all scenarios of all bench/*_bench.py modules
python -m bench log          only those of bench/log_bench.py
python -m bench --runs 3     median of 3 runs per scenario (default 5)
python -m bench --vs flink   streamdb against Flink SQL (bench/vs_flink.py; BENCHMARKS.md),
                             with --events N (default 5,000,000) and --runs K (default 3)
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import statistics
from pathlib import Path

from bench import Scenario

_SUFFIX = "_bench"


def discover() -> dict[str, dict[str, Scenario]]:
    """Group name (module name without _bench) -> its scenarios."""
    groups: dict[str, dict[str, Scenario]] = {}
    for module in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=str):
        if module.name.endswith(_SUFFIX):
            imported = importlib.import_module(f"bench.{module.name}")
            groups[module.name.removesuffix(_SUFFIX)] = imported.SCENARIOS
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("groups", nargs="*", help="scenario groups to run (default: all)")
    parser.add_argument("--runs", type=int, help="runs per scenario (median; default 5, 3 --vs)")
    parser.add_argument("--vs", choices=["flink"], help="compare with another engine instead")
    parser.add_argument(
        "--events", type=int, default=5_000_000, help="events per scenario (--vs only)"
    )
    args = parser.parse_args()
    if args.vs:
        if args.groups:
            parser.error("--vs runs its own scenarios: give no groups")
        from bench import vs_flink

        vs_flink.main(args.events, args.runs or 3)
        return
    args.runs = args.runs or 5
    groups = discover()
    unknown = set(args.groups) - groups.keys()
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}; known: {sorted(groups)}")
    selected = args.groups or list(groups)
    print(f"{'scenario':<32} {'records':>10} {'seconds':>9} {'records/s':>12}  measures")
    for group in selected:
        for name, scenario in groups[group].items():
            runs = [scenario() for _ in range(args.runs)]
            records = runs[0][0]
            seconds = statistics.median(r[1] for r in runs)
            rate = records / seconds if seconds else float("inf")
            measures = "  ".join(
                f"{k}={statistics.median(r[2][k] for r in runs):.2f}"  # type: ignore[misc]
                for k in (runs[0][2] if len(runs[0]) > 2 else {})  # type: ignore[misc]
            )
            row = f"{group + '.' + name:<32} {records:>10,} {seconds:>9.3f} {rate:>12,.0f}"
            print(f"{row}  {measures}".rstrip())


if __name__ == "__main__":
    main()
