"""The layers of docs/ARCHITECTURE.md hold: lint-imports keeps the contracts of pyproject.toml
(each layer imports only the layers below it; no cycle among a package's modules and
subpackages), every module is in a layer, and no module is part of an import cycle at all
(a package's __init__ and its own modules included, which acyclic_siblings does not check)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """Every import of the root packages, those inside functions and TYPE_CHECKING too."""
    return grimp.build_graph(*CONFIG["root_packages"], cache_dir=None)


def layered_modules() -> set[str]:
    """The modules the layers contract names (optional ones in parentheses included)."""
    (contract,) = [c for c in CONFIG["contracts"] if c["type"] == "layers"]
    return {
        name.strip().strip("()") for layer in contract["layers"] for name in re.split("[|:]", layer)
    }


def test_lint_imports_keeps_the_contracts() -> None:
    run = subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_module_is_in_a_layer(graph: grimp.ImportGraph) -> None:
    layered = layered_modules()

    def placed(module: str) -> bool:
        """In a layer, or a package holding layers (its __init__ is empty)."""
        return any(
            module == name or module.startswith(f"{name}.") or name.startswith(f"{module}.")
            for name in layered
        )

    unplaced = sorted(m for m in graph.modules if not placed(m))
    assert not unplaced, (
        f"modules in no layer: {unplaced}; add each to its layer in pyproject.toml's layers "
        "contract (docs/ARCHITECTURE.md, Layers)"
    )


def test_no_module_import_cycle(graph: grimp.ImportGraph) -> None:
    cycles: dict[frozenset[str], str] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.setdefault(frozenset(back), " -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles.values()))
