"""The one-shot GPU check runs end to end through its shell script: --tiny is the same code at toy sizes on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMON = {"part", "device", "cuda", "tiny", "versions"}


def gpu_check(out: Path, **env: str) -> subprocess.CompletedProcess:
    """``benchmarks/gpu_check.sh --tiny`` with this Python, JSON into ``out`` (as $OUT on the GPU machine), no wheels."""
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out), "WHEELS": str(out / "no-wheels"), **env}
    return subprocess.run(["bash", "benchmarks/gpu_check.sh", "--tiny", "--repeats", "1"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_gpu_check_runs_both_parts_quietly_and_reports(tmp_path: Path) -> None:
    run = gpu_check(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == ""  # quiet: no warnings, progress bars or library notices
    assert run.stdout.splitlines()[-1] == "gpu_check: scoring ok, qlora ok"
    report = json.loads((tmp_path / "gpu_check_scoring_tiny.json").read_text())
    assert set(report) == COMMON | {"student", "scoring", "exit_exactness", "row_removal", "early_exit", "seconds"}
    assert report["tiny"] and report["part"] == "scoring" and report["versions"]["torch"]
    assert report["student"]["attention"] == "eager"  # Gemma2's soft-capping, whatever transformers would pick
    assert [s["batch"] for s in report["scoring"]] == [1, 4]
    assert all(s["finite"] and s["segments_per_s"] > 0 for s in report["scoring"])
    assert report["exit_exactness"]["full_depth"] and report["exit_exactness"]["max_abs_diff"] < 1e-2
    assert report["row_removal"]["one_row_left"]
    ee = report["early_exit"]
    assert 1 <= ee["mean_layers"] < ee["depth"] and ee["layer_bound"] == ee["depth"] / ee["mean_layers"]
    report = json.loads((tmp_path / "gpu_check_qlora_tiny.json").read_text())
    assert set(report) == COMMON | {"qlora_step", "seconds"} and report["versions"]["bitsandbytes"]
    qlora = report["qlora_step"]
    assert qlora["layers_4bit"] > 0 and qlora["lora_grads_only"] and qlora["finite"]


def test_gpu_check_skips_the_qlora_part_without_bitsandbytes(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    missing.mkdir()
    (missing / "bitsandbytes.py").write_text('raise ImportError("bitsandbytes left out")\n')
    run = gpu_check(tmp_path, PARTS="qlora", PYTHONPATH=str(missing))
    assert run.returncode == 0 and run.stderr == "", run.stdout + run.stderr
    assert run.stdout.splitlines()[-1] == "gpu_check: qlora skipped"
    report = json.loads((tmp_path / "gpu_check_qlora_tiny.json").read_text())
    assert set(report) == COMMON | {"skipped"} and report["skipped"] == "ImportError: bitsandbytes left out"
