"""Loading query-validation test files (ksqlDB's QTT format) into runnable cases."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass
class Case:
    file: Path
    name: str
    format: str | None  # the `format` entry this run substitutes for {FORMAT}
    # (a `config` entry substitutes for {CONFIG} in `spec`; it adds nothing to the label)
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        suffix = f"[{self.format}]" if self.format else ""
        return f"{self.file.name}::{self.name}{suffix}"

    @property
    def enabled(self) -> bool:
        return self.spec.get("enabled", True) is not False


def _substitute(obj: Any, placeholder: str, value: str) -> Any:
    if isinstance(obj, str):
        return obj.replace(placeholder, value)
    if isinstance(obj, list):
        return [_substitute(o, placeholder, value) for o in obj]
    if isinstance(obj, dict):
        return {k: _substitute(v, placeholder, value) for k, v in obj.items()}
    return obj


def test_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    return files


def load_cases(paths: Iterable[str | Path]) -> list[Case]:
    cases: list[Case] = []
    for file in test_files(paths):
        for spec in orjson.loads(file.read_bytes()).get("tests", []):
            formats = spec.get("format") or [None]
            for fmt in formats:
                body = _substitute(spec, "{FORMAT}", fmt) if fmt else spec
                # A `config` list runs the case once per entry, {CONFIG} replaced by it; the
                # runs share the case's label, which passes only when every run does.
                for config in spec.get("config") or [None]:
                    run = _substitute(body, "{CONFIG}", config) if config else body
                    cases.append(Case(file, spec["name"], fmt, run))
    return cases
