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
