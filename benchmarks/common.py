"""What the benchmarks share: the pipeline's file names, read from dvc.yaml (the one place naming them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from deevisum.config import ArchParams

REPO = Path(__file__).resolve().parents[1]
TINY_ARCH = ArchParams(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128, vision_layers=1)
"""The architecture of the benchmarks' ``--tiny`` runs (what the test suite runs)."""


def pipeline_paths() -> dict[str, str]:
    """The pipeline's file names (``vars: paths`` of dvc.yaml), the defaults of the path options."""
    for entry in yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8")).get("vars", []):
        if isinstance(entry, dict) and "paths" in entry:
            return entry["paths"]
    raise SystemExit("dvc.yaml: no `vars: paths` block")


def role_params(p, role: str):
    """``(ModelParams, ArchParams, note)`` of a role as the pipeline builds it (``build_vlm(mp, arch, ...)``). A role
    whose source is the pretrain stage's checkpoint, not made yet, starts from its architecture's random weights
    instead (``tiny``): the note says so (timings are the architecture's, not the weights')."""
    from dataclasses import replace

    from deevisum.config import PRETRAINED

    mp, arch = getattr(p.models, role), getattr(p.pretrain, role)
    if mp.source.startswith(PRETRAINED) and not (REPO / mp.source / "config.json").is_file():
        return replace(mp, source="tiny"), arch, f"{mp.source} not found (dvc repro pretrain): random {role} weights"
    return mp, arch, ""


def synthetic_segments(n: int, image_size: int) -> tuple[list[str], np.ndarray]:
    """Prompts of the demo's template and length (about 30 words), random frames: the inputs when the
    demo's processed examples do not exist."""
    rng = np.random.default_rng(0)
    words = np.array("red green blue yellow ball flag kite the camera is moving now important loud sudden sound".split())
    prompts = [f"score importance 1 to 5. category: pk. title: chasing the {rng.choice(words)} ball (parkour). "
               f"speech: {' '.join(rng.choice(words, int(rng.integers(0, 8))))}. audio: {rng.choice(words)}." for _ in range(n)]
    return prompts, rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8)


def shown_path(path: Path) -> str:
    """A path as a results file names it: relative to the repository, never this machine's absolute path."""
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return f"{path.name} (outside the repository)"
