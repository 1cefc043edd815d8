"""What ``pip install .`` gives and what a newcomer reads first.

The package declares every third-party module it imports (so ``pip install .`` gives a working
``deevisum``), test-only packages stay in the ``test`` extra and requirements-test.txt, the README
is short with the commands on its first screen, and the main command leaves README.md alone.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
TEST_ONLY = {"pytest", "pandas", "ruptures"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_distributions() -> set[str]:
    roots = set()
    for path in (REPO / "deevisum").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    roots -= set(sys.stdlib_module_names) | {"deevisum"}
    found = importlib.metadata.packages_distributions()
    return {_name(d) for root in roots for d in found.get(root, [root])}


def test_every_imported_package_is_declared() -> None:
    runtime = {_name(r) for r in PYPROJECT["dependencies"]}
    extras = {_name(r) for reqs in PYPROJECT["optional-dependencies"].values() for r in reqs}
    missing = _imported_distributions() - runtime - extras
    assert not missing, f"deevisum imports {sorted(missing)}, which pyproject.toml does not declare"


def test_test_only_packages_stay_out_of_the_runtime() -> None:
    runtime = {_name(r) for r in PYPROJECT["dependencies"]}
    pinned = {_name(line) for line in (REPO / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")}
    assert not TEST_ONLY & (runtime | pinned)
    assert TEST_ONLY <= {_name(r) for r in PYPROJECT["optional-dependencies"]["test"]}


def test_readme_is_short_with_the_commands_first() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 160, f"README.md: {len(lines)} lines; reference material goes to docs/"
    first = "\n".join(lines[:60])
    for command in ("bash scripts/repro.sh", "deevisum summarize", "dvc exp run -S", "dvc metrics", "dvc pull", "dvc plots show"):
        assert command in first, f"{command!r} is not on the README's first screens"


def test_the_main_command_leaves_the_readme_alone() -> None:
    script = (REPO / "scripts" / "repro.sh").read_text(encoding="utf-8")
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "README" in line and "echo" not in line], "scripts/repro.sh writes README.md"
