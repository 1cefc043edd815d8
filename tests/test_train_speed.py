"""The training-speed benchmark runs end to end at tiny size (a benchmark nothing runs rots)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_train_speed_tiny_reports_before_and_after(tmp_path: Path) -> None:
    out = tmp_path / "train_speed.json"
    run = subprocess.run([sys.executable, "benchmarks/train_speed.py", "--tiny", "--steps", "2", "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert report["inputs"] == "synthetic prompts" and report["steps"] == 2
    row = report["roles"]["tiny"]
    assert row["before"]["batch"] == 16 and row["before"]["processes"] == 1
    assert row["after"]["processes"] == report["machine"]["cores"] == len(row["after"]["per_process"])
    assert row["after"]["threads"] == 1 and all(x > 0 for x in row["after"]["per_process"])
    assert abs(row["speedup"] - row["after"]["examples_per_s"] / row["before"]["examples_per_s"]) < 1e-9
