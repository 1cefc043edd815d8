"""What every stage script shares: its paths come from ``dvc.yaml`` as command-line arguments.

``dvc.yaml`` is the one place that names the pipeline's files (its ``vars: paths``): each stage's
``cmd`` passes the paths it reads and writes, and declares the same ones as deps and outs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def stage_args(doc: str | None, paths: Sequence[str], items: Sequence[str] = (), lists: Sequence[str] = ()) -> argparse.Namespace:
    """Parse ``--<path> PATH`` for each of ``paths`` (all required), positional ``items`` and
    positional ``lists`` (one or more names each, e.g. the roles a stage scores)."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    for name in items:
        parser.add_argument(name)
    for name in lists:
        parser.add_argument(name, nargs="+")
    for name in paths:
        parser.add_argument(f"--{name.replace('_', '-')}", type=Path, required=True, dest=name)
    return parser.parse_args()
