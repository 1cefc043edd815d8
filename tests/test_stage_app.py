"""What every stage script shares (deevisum.app.stage): a log of its own messages and bars only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = """
import os, sys
sys.argv = ["stage.py", "--out", "out.json"]
import transformers  # a stage's imports load it before stage_args
from transformers.utils import logging as hf_logging
from deevisum.app.stage import stage_args
assert hf_logging.is_progress_bar_enabled()
stage_args("a stage", ["out"])
print(hf_logging.is_progress_bar_enabled(), os.environ["HF_HUB_DISABLE_PROGRESS_BARS"])
"""


def test_stage_args_hides_the_libraries_progress_bars(tmp_path: Path) -> None:
    """transformers' "Loading weights" bar (one per model a stage loads) stays out of `dvc repro`'s log,
    also in the worker processes a stage starts (they inherit the environment)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "1"]
