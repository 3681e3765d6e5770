"""`python -m bench --vs flink`: streamdb against Flink SQL on the same data, side by side.

Three scenarios over data sets from a fixed seed (bench/data.py): filter+projection and a
10-second tumbling aggregation over widgets, and orders enriched from items. Each engine runs
each scenario RUNS times; a rate is events / the median time. Flink runs in its own
virtualenv (scripts/setup_flink.sh) through bench/flink_side.py, one JVM per scenario;
streamdb runs through bench/streamdb_side.py, a fresh process and data dir per run. Then the
ceilings (bench/ceilings.py). Prints a table and writes bench/results/vs_flink.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.ceilings import ceilings
from bench.data import ITEMS, DataSet, dataset
from bench.streamdb_side import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
FLINK_PYTHON = ROOT / ".venv-flink" / "bin" / "python"
RESULTS = Path(__file__).parent / "results" / "vs_flink.json"
_DATA_SETS = ("widgets", "orders", "items")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _last_json_line(stdout: str) -> dict[str, Any]:
    """The JSON object a side prints as its last line (a JVM may print before it)."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise ValueError("no result printed")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _failure(what: str, proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    causes = [line for line in lines if "Caused by" in line or "Error" in line]
    return f"{what} exited {proc.returncode}: {(causes or lines or ['no output'])[-1].strip()}"


def flink_unavailable() -> str | None:
    """Why Flink cannot run here, or None."""
    if not FLINK_PYTHON.exists():
        return "PyFlink not installed: run `bash scripts/setup_flink.sh` (creates .venv-flink)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (java on PATH or JAVA_HOME): PyFlink needs Java 11 or 17"
    return None


def _summary(runs: list[dict[str, Any]], events: int, key: str = "seconds") -> dict[str, Any]:
    median = statistics.median(r[key] for r in runs)
    return {"median_s": median, "events_per_s": events / median if median else None}


def run_flink(
    scenario: str, events: int, runs: int, parts: int, data: dict[str, DataSet]
) -> dict[str, Any]:
    """Flink's runs of one scenario, or {"error": why}."""
    paths = [f"{name}={d.directory}" for name, d in data.items()]
    command = [str(FLINK_PYTHON), str(ROOT / "bench" / "flink_side.py"), scenario]
    proc = subprocess.run(
        [*command, str(runs), str(parts), *paths], capture_output=True, text=True, cwd=ROOT
    )
    try:
        if proc.returncode:
            raise ValueError(_failure("flink_side.py", proc))
        result = _last_json_line(proc.stdout)
    except ValueError as exc:
        return {"error": str(exc)}
    net = _summary(result["runs"], events, "net_runtime_s")
    result |= _summary(result["runs"], events)
    result |= {"net_median_s": net["median_s"], "net_events_per_s": net["events_per_s"]}
    return result


def run_streamdb(scenario: str, events: int, runs: int, parts: int) -> dict[str, Any]:
    """streamdb's runs of one scenario (a fresh process each), or {"error": why}."""
    results = []
    for _ in range(runs):
        command = [sys.executable, "-m", "bench.streamdb_side", scenario, str(events), str(parts)]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            return {"error": _failure("streamdb_side", proc), "runs": results}
        results.append(_last_json_line(proc.stdout))
        _progress(f"  streamdb {scenario}: {results[-1]['seconds']:.1f} s")
    return {"runs": results, "check": results[-1]["check"]} | _summary(results, events)


def _rate(side: dict[str, Any], key: str = "events_per_s") -> str:
    return f"{side[key]:,.0f}" if side.get(key) else "-"


def _print_table(report: dict[str, Any]) -> None:
    events = report["events"]
    print(f"\nstreamdb vs Flink SQL: {events:,} events per scenario, median of {report['runs']}")
    print(f"  ({report['cores']} cores; Flink ev/s from submit to end of job; net: job alone)")
    header = f"{'scenario':<20} {'Flink ev/s':>12} {'(net)':>12} {'streamdb ev/s':>14} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for row in report["scenarios"]:
        flink, streamdb = row["flink"], row["streamdb"]
        ratio = f"{row['ratio']:.3f}" if row.get("ratio") else "-"
        print(
            f"{row['scenario']:<20} {_rate(flink):>12} {_rate(flink, 'net_events_per_s'):>12} "
            f"{_rate(streamdb):>14} {ratio:>7}"
        )
    for row in report["scenarios"]:
        for side in ("flink", "streamdb"):
            if "error" in row[side]:
                print(f"  {row['scenario']} {side}: {row[side]['error']}")
    print(f"\nceilings, filter+projection over the same {events:,} widgets")
    for ceiling in report["ceilings"]:
        rate = f"{ceiling['events_per_s']:,.0f} ev/s" if "events_per_s" in ceiling else "-"
        print(f"  {ceiling['name']:<36} {rate:>16}  {ceiling.get('error', '')}".rstrip())
    print(f"\nwhole run {report['elapsed_s']:.0f} s; results in {RESULTS.relative_to(ROOT)}")


def _ceilings(widgets: DataSet, runs: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for spec in ceilings():
        if spec.missing:
            _progress(f"  ceiling {spec.name}: {spec.missing}")
            out.append({"name": spec.name, "error": spec.missing})
            continue
        seconds = statistics.median(spec.measure(widgets) for _ in range(runs))
        events = widgets.meta["events"]
        out.append({"name": spec.name, "median_s": seconds, "events_per_s": events / seconds})
        _progress(f"  ceiling {spec.name}: {seconds:.2f} s")
    return out


def main(events: int, runs: int) -> None:
    begin = time.perf_counter()
    parts = os.cpu_count() or 1
    _progress(f"data: {events:,} events per data set, {parts} part files (bench/.data)")
    data = {n: dataset(n, ITEMS if n == "items" else events, parts) for n in _DATA_SETS}
    unavailable = flink_unavailable()
    if unavailable:
        _progress(f"Flink: {unavailable}; running the streamdb side only")
    rows = []
    for scenario, spec in SCENARIOS.items():
        used = {name: data[name] for name, _ in spec.sources}
        flink = (
            {"error": unavailable}
            if unavailable
            else run_flink(scenario, events, runs, parts, used)
        )
        if "error" not in flink:
            times = ", ".join(f"{r['seconds']:.1f}" for r in flink["runs"])
            _progress(f"  flink {scenario}: {times} s")
        streamdb = run_streamdb(scenario, events, runs, parts)
        ratio = None
        if flink.get("events_per_s") and streamdb.get("events_per_s"):
            ratio = streamdb["events_per_s"] / flink["events_per_s"]
        rows.append({"scenario": scenario, "flink": flink, "streamdb": streamdb, "ratio": ratio})
    report = {
        "events": events,
        "runs": runs,
        "cores": parts,
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "scenarios": rows,
        "ceilings": _ceilings(data["widgets"], runs),
    }
    report["elapsed_s"] = time.perf_counter() - begin
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    _print_table(report)
