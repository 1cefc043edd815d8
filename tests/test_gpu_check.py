"""The one-shot GPU check runs end to end: its --tiny path is the same code at toy sizes on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_tiny_path_runs_quietly_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    run = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--tiny", "--repeats", "1", "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # quiet: no warnings, progress bars or library notices
    report = json.loads(out.read_text())
    assert report["tiny"] and [s["batch"] for s in report["scoring"]] == [1, 4]
    assert all(s["finite"] and s["segments_per_s"] > 0 for s in report["scoring"])
    assert report["exit_exactness"]["full_depth"] and report["exit_exactness"]["max_abs_diff"] < 1e-2
    assert report["row_removal"]["one_row_left"]
    ee = report["early_exit"]
    assert 1 <= ee["mean_layers"] < ee["depth"] and ee["layer_bound"] == ee["depth"] / ee["mean_layers"]
    qlora = report["qlora_step"]
    assert qlora["layers_4bit"] > 0 and qlora["lora_grads_only"] and qlora["finite"]
