"""What the benchmarks share: the pipeline's file names, read from dvc.yaml (the one place naming them)."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


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
