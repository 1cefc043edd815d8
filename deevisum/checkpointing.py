"""Training checkpoints: a killed run resumes, a changed run starts over.

Every trainer (the VLM roles, the exit heads) keeps its resume state here. A checkpoint belongs
to one *fingerprint*: a hash of the run's config (params, architecture), of the data it trains
on, and of the source of every ``deevisum`` module the trainer runs (its static import
closure). A re-run with the same fingerprint resumes after the last finished epoch; anything
else, a code edit included, starts over, so DVC re-running a stage after a change never
returns the old weights.

A checkpoint directory holds slots (``last``, and ``best`` for trainers that keep one); each
slot is one directory written atomically: safetensors groups plus ``state.json``.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from deevisum.io import atomic_path

PACKAGE_ROOT = Path(__file__).resolve().parent
"""The ``deevisum`` package folder."""
STATE_FILE = "state.json"


def module_file(module: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """Source file of ``deevisum[.x.y]`` (module or package), or None when it is not one of ours."""
    parts = module.split(".")
    if parts[0] != root.name:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(path: Path, root: Path) -> set[str]:
    """``deevisum`` modules a source file imports anywhere (module level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # ``from pkg import module``
    return {m for m in found if module_file(m, root) is not None}


def import_closure(entry: Iterable[str | Path], root: Path = PACKAGE_ROOT) -> list[Path]:
    """Every ``deevisum`` source file that the entry modules (names) or scripts (paths) import,
    directly or not, with the ``__init__.py`` of each package on the way; sorted."""
    todo: list[Path] = []
    for e in entry:
        path = Path(e) if isinstance(e, Path) or str(e).endswith(".py") else module_file(str(e), root)
        if path is None:
            raise ValueError(f"{e} is not a deevisum module")
        todo.append(path.resolve())
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imported(path, root):
            parts = module.split(".")
            for k in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                f = module_file(".".join(parts[:k]), root)
                if f is not None:
                    todo.append(f.resolve())
    return sorted(p for p in seen if root in p.parents)


def _hash_bytes(h: "hashlib._Hash", path: Path) -> None:
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


def file_sha256(path: str | Path) -> str:
    """sha256 of one file's bytes (read in chunks: a checkpoint's weights need not fit in memory twice)."""
    h = hashlib.sha256()
    _hash_bytes(h, Path(path))
    return h.hexdigest()


def listed_files(root: str | Path) -> list[Path]:
    """Every file under directory ``root``, sorted (a file stands for itself): the order digests hash them in."""
    root = Path(root)
    return sorted(f for f in root.rglob("*") if f.is_file()) if root.is_dir() else [root]


def files_digest(*paths: str | Path) -> str:
    """sha256 over files and directories (relative names and bytes)."""
    h = hashlib.sha256()
    for root in paths:
        for f in listed_files(root):
            h.update(f.as_posix().encode())
            _hash_bytes(h, f)
    return h.hexdigest()


def code_digest(*modules: str) -> str:
    """Hash of the source of ``modules`` and everything of ``deevisum`` they import."""
    h = hashlib.sha256()
    for path in import_closure(modules):
        h.update(path.relative_to(PACKAGE_ROOT.parent).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def fingerprint(run_config: Mapping[str, Any]) -> str:
    """Short hash of a JSON-able run description."""
    return hashlib.sha256(json.dumps(run_config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """An optimizer's state as flat safetensors-ready tensors plus its (JSON-able) param groups."""
    sd = optimizer.state_dict()
    tensors = {f"{pid}.{k}": torch.as_tensor(v).cpu().contiguous() for pid, st in sd["state"].items() for k, v in st.items()}
    return tensors, sd["param_groups"]


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], groups: list[dict]) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


class Checkpoint:
    """Slots of one trainer's resume state under ``directory``, valid for one ``fingerprint``."""

    def __init__(self, directory: str | Path, fingerprint: str):
        self.directory = Path(directory)
        self.fingerprint = fingerprint

    def state(self, slot: str = "last") -> dict[str, Any] | None:
        """The slot's state when it was written for this fingerprint, else None (start over)."""
        path = self.directory / slot / STATE_FILE
        if not path.is_file():
            return None
        state = json.loads(path.read_text(encoding="utf-8"))
        return state if state.get("fingerprint") == self.fingerprint else None

    def tensors(self, group: str, slot: str = "last") -> dict[str, torch.Tensor]:
        return load_file(str(self.directory / slot / f"{group}.safetensors"))

    def save(self, groups: Mapping[str, Mapping[str, torch.Tensor]], state: Mapping[str, Any], slot: str = "last") -> None:
        """Replace ``slot`` atomically: a kill never pairs weights with another epoch's state."""
        with atomic_path(self.directory / slot) as tmp:
            tmp.mkdir()
            for name, tensors in groups.items():
                save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / f"{name}.safetensors"))
            full = {**state, "fingerprint": self.fingerprint}
            (tmp / STATE_FILE).write_text(json.dumps(full, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
