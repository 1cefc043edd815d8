"""Output and bad-input conventions shared by every stage.

Stages write to a temporary sibling and rename it into place, so a stage killed midway
leaves either the old output or none, never a half-written one (DVC would otherwise cache
garbage). Bad inputs raise :class:`InputError` naming the file and the problem; with
``data.on_error: skip`` a :class:`BadInputReport` records them and the rest goes on.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class InputError(Exception):
    """A bad input file: the message always names the file and what is wrong with it."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it onto ``final`` only on success.

    Works for files and directories (whatever the caller creates at the yielded path).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    target = tmp / final.name
    try:
        yield target
        if not target.exists():
            raise RuntimeError(f"atomic_path: nothing was written for {final}")
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() or final.is_symlink():
            final.unlink()
        os.replace(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (sorted keys and a trailing newline keep diffs stable)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n", encoding="utf-8")


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows with the same keys as a CSV table with a header, atomically (a DVC plot file)."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "file not found (run the stage that produces it first)") from None
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON ({e})") from None


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


@dataclass
class BadInputReport:
    """Collects skipped inputs under ``on_error: skip``; re-raises under ``on_error: stop``."""

    on_error: str = "stop"
    skipped: list[dict[str, str]] = field(default_factory=list)

    def handle(self, err: InputError, item: str) -> None:
        """Record ``err`` for ``item`` (a video id) or raise it, by policy."""
        if self.on_error == "stop":
            raise err
        self.skipped.append({"item": item, "path": err.path, "problem": err.problem})
        print(f"skipping {item}: {err}", flush=True)

    def to_dict(self) -> dict[str, Any]:
        return {"on_error": self.on_error, "n_skipped": len(self.skipped), "skipped": self.skipped}


TENSORS_INDEX = "index"
"""The one safetensors metadata entry :func:`save_tensors` writes."""


def save_tensors(path: str | Path, tensors: Mapping[str, Any], index: Mapping[str, Any]) -> None:
    """Tensors to a safetensors file, atomically, with ``index`` (JSON) as its one metadata entry.

    safetensors writes several metadata entries in a random (hash) order, which would change the
    file's bytes, and so its DVC hash, from run to run for the same content.
    """
    from safetensors.torch import (
        save_file,  # imports torch: only the model stages pay for it
    )

    with atomic_path(path) as tmp:
        save_file(dict(tensors), str(tmp), metadata={TENSORS_INDEX: json.dumps(index, sort_keys=True)})


def tensors_index(path: str | Path) -> dict[str, Any]:
    """The ``index`` :func:`save_tensors` stored in ``path`` ({} if it has none)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {}).get(TENSORS_INDEX, "{}"))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch so the same params give the same metrics."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # the data stages do not need torch
        return
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
