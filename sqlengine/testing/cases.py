"""Loading query-validation test files (ksqlDB's QTT format) into runnable cases."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
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


def read_corpus_json(text: bytes | str) -> Any:
    """The corpus's JSON with every number exactly as written, as upstream's mapper reads it
    (BigDecimal for floats): `10.0000` keeps its scale, `12345678987654321.1` its digits."""
    return json.loads(text, parse_float=Decimal)


def _exact_number(obj: Any) -> orjson.Fragment:
    if isinstance(obj, Decimal):
        return orjson.Fragment(str(obj))
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def corpus_json_bytes(obj: Any) -> bytes:
    """A corpus value as JSON, its numbers written exactly as the corpus wrote them."""
    return orjson.dumps(obj, default=_exact_number)


def test_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    return files


def load_cases(paths: Iterable[str | Path]) -> list[Case]:
    cases: list[Case] = []
    for file in test_files(paths):
        for spec in read_corpus_json(file.read_bytes()).get("tests", []):
            formats = spec.get("format") or [None]
            for fmt in formats:
                body = _substitute(spec, "{FORMAT}", fmt) if fmt else spec
                # A `config` list runs the case once per entry, {CONFIG} replaced by it; the
                # runs share the case's label, which passes only when every run does.
                for config in spec.get("config") or [None]:
                    run = _substitute(body, "{CONFIG}", config) if config else body
                    cases.append(Case(file, spec["name"], fmt, run))
    return cases
