"""Every stage script reads only the params its dvc.yaml entry declares.

DVC re-runs a stage only when a *declared* param changes, so a stage that reads an
undeclared param silently goes stale (e.g. `dvc exp run -S ee.threshold=0.7` would not
re-run it). The check is static: in each ``stages/*.py`` every attribute chain read from the
object returned by ``load_params()`` (``p.ee.threshold``, or ``p.ee`` passed whole) must be
covered by a declared key (``ee.threshold`` or ``ee``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _declared(stage: dict) -> set[str]:
    keys: set[str] = set()
    for entry in stage.get("params", []):
        if isinstance(entry, str):
            keys.add(entry)
        else:  # {file: [keys]}
            for file_keys in entry.values():
                keys.update(file_keys)
    return keys


def _script(stage: dict) -> Path | None:
    for word in str(stage["cmd"]).split():
        if word.startswith("stages/") and word.endswith(".py"):
            return REPO / word
    return None


def _chain(node: ast.AST) -> list[str]:
    """``p.a.b`` -> [p, a, b] (outermost attribute last); [] when not a plain chain."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(names)]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_params":
        return ["load_params()", *reversed(names)]
    return []


def params_read(source: str) -> set[str]:
    """Dotted params keys a stage script reads (the longest chain at each use)."""
    tree = ast.parse(source)
    roots = {"load_params()"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if getattr(node.value.func, "id", None) == "load_params":
                roots.update(t.id for t in node.targets if isinstance(t, ast.Name))
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    read = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain = _chain(node)
            if chain and chain[0] in roots:
                read.add(".".join(chain[1:]))
        elif isinstance(node, ast.Name) and node.id in roots and node.id != "load_params()":
            if not isinstance(getattr(node, "ctx", None), ast.Store) and id(node) not in inner:
                read.add("")  # the whole params object handed on: covers nothing
    return read


def _covered(key: str, declared: set[str]) -> bool:
    return any(key == d or key.startswith(d + ".") for d in declared)


def test_params_read_finds_chains() -> None:
    src = "from deevisum.params import load_params\np = load_params()\nx = p.ee.threshold\nf(p.frames)\n"
    assert params_read(src) == {"ee.threshold", "frames"}
    assert not _covered("ee.threshold", {"ee.exit_layers"})
    assert _covered("ee.train.lr", {"ee.train"})


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_reads_only_declared_params(name: str) -> None:
    stage = STAGES[name].get("do", STAGES[name])  # foreach stages: the template
    script = _script(stage)
    if script is None or not script.is_file():
        pytest.fail(f"stage {name}: cmd {stage['cmd']!r} names no stages/*.py script that exists")
    read = params_read(script.read_text())
    declared = _declared(stage)
    undeclared = sorted(k for k in read if not _covered(k, declared))
    assert not undeclared, f"stage {name} ({script.name}) reads undeclared params: {undeclared}"
    # Over-declaring makes DVC re-run the stage for params it never reads.
    unused = sorted(d for d in declared if not any(_covered(k, {d}) or _covered(d, {k}) for k in read))
    assert not unused, f"stage {name} ({script.name}) declares params it never reads: {unused}"
