"""Every stage depends on all the code it runs: the import closure of its script inside deevisum/.

A file a stage imports but does not declare would leave its outputs stale after an edit while
`dvc status` reports nothing to do; this computes each script's closure statically and fails
naming the stage and the uncovered file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deevisum.checkpointing import import_closure

REPO = Path(__file__).resolve().parents[1]


def _stages() -> dict[str, tuple[str, list[str]]]:
    """Stage name -> (cmd, declared dep paths), with DVC's own templating resolved."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        return {s.addressing: (s.cmd, [d.def_path for d in s.deps]) for s in repo.index.stages}


STAGES = _stages()


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_its_import_closure(name: str) -> None:
    cmd, deps = STAGES[name]
    script = re.search(r"stages/\w+\.py", cmd)
    assert script, f"{name}: no stage script in its cmd {cmd!r}"
    assert script.group(0) in deps, f"{name}: its script {script.group(0)} is not a dep"
    closure = [p.relative_to(REPO).as_posix() for p in import_closure([REPO / script.group(0)])]
    missing = [p for p in closure if not _covered(p, deps)]
    assert not missing, f"stage {name} imports {missing} but does not declare them in dvc.yaml deps"


def test_closure_follows_imports_inside_functions_and_packages(tmp_path: Path) -> None:
    closure = {p.relative_to(REPO).as_posix() for p in import_closure(["deevisum.app.summarize"])}
    assert "deevisum/early_exit/runner.py" in closure  # imported inside a function
    assert {"deevisum/__init__.py", "deevisum/app/__init__.py", "deevisum/early_exit/__init__.py"} <= closure


def test_real_lm_build_declares_its_import_closure_file_by_file() -> None:
    """real-lm/ is a DVC project of its own (out of the root pipeline); its deps outside it are files, since
    its .dvcignore does not reach there and a folder's hash would count __pycache__."""
    from dvc.repo import Repo

    with Repo(str(REPO / "real-lm")) as repo:
        (stage,) = repo.index.stages
        deps = [(REPO / "real-lm" / d.def_path).resolve() for d in stage.deps]
    script = REPO / "scripts" / "build_real_lm.py"
    assert script in deps and all(d.is_file() for d in deps)
    assert not [p for p in import_closure([script]) if p not in deps]
