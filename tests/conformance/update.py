"""Regenerate the ratchet list from a run: `python -m tests.conformance.update`.

Runs the whole corpus and adds every passing case's label to qtt_passing.txt. It never
removes a label: a case that stops passing must be fixed, not dropped.
"""

from __future__ import annotations

from collections import defaultdict

from server.qtt import run_cases
from sqlengine.testing.cases import load_cases
from tests.test_conformance import QTT, RATCHET


def main() -> None:
    results = run_cases(load_cases([QTT / "query-validation-tests"]))
    status: dict[str, set[str]] = defaultdict(set)
    for label, outcome, _ in results:
        status[label].add(outcome)
    passing = {label for label, outcomes in status.items() if outcomes == {"passed"}}
    existing = set(RATCHET.read_text().splitlines()) if RATCHET.exists() else set()
    RATCHET.write_text("\n".join(sorted((existing | passing) - {""})) + "\n")
    print(f"{len(passing)} passing now; ratchet holds {len(existing | passing)}")


if __name__ == "__main__":
    main()
