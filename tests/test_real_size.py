"""Real-size checks: PaliGemma2-3B (random weights, fp32) through the pipeline's model code on the CPU.

The real-size tests need ~14 GiB of RAM and minutes: they are marked ``slow`` and skipped unless
``DEEVISUM_SLOW=1`` is set (``DEEVISUM_SLOW=1 pytest -q tests/test_real_size.py``). The benchmark
script's toy-size path always runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deevisum.config import PromptsParams
from deevisum.scale import checks

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
TOLERANCE = 1e-4
"""fp32: the runner and the model's forward do the same operations; only batch shapes differ."""


def test_real_size_benchmark_runs_at_toy_sizes(tmp_path: Path) -> None:
    out = tmp_path / "real_size_cpu.json"
    run = subprocess.run([sys.executable, "benchmarks/real_size_cpu.py", "--tiny", "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # quiet
    report = json.loads(out.read_text())
    assert report["exit_exactness"]["ok"] and report["row_removal"]["ok"]
    assert report["train_step"]["lora_grads_only"] and report["peak_rss_gib"] > 0
    assert [p["phase"] for p in report["phases"]] == ["build", "lora", "train_step", "scoring", "exit_exactness", "row_removal"]


@pytest.fixture(scope="module")
def real_3b():
    """PaliGemma2-3B in fp32 with the pipeline's LoRA and gradient checkpointing, its processor, two segments."""
    prompts = checks.segment_prompts(2, PromptsParams())
    frames = checks.segment_frames(2, checks.REAL.image_size)
    processor = checks.stand_in_processor(prompts, checks.REAL.image_size, checks.REAL.vision["patch_size"])
    model = checks.build_model(checks.REAL.student, checks.REAL, processor, torch.float32, CPU)
    return checks.with_lora(model, checks.REAL, CPU), processor, prompts, frames


class TestReal3B:
    pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.environ.get("DEEVISUM_SLOW") != "1",
                                                       reason="real size (14 GiB of RAM, minutes): set DEEVISUM_SLOW=1")]

    def test_lora_training_step_with_checkpointing(self, real_3b) -> None:
        model, processor, prompts, frames = real_3b
        assert model.config.get_text_config().num_hidden_layers == 26
        step = checks.train_step(model, processor, prompts[:1], frames[:1], CPU)
        assert step["finite"] and step["lora_grads_only"] and step["seq"] > 256

    def test_one_pass_scoring(self, real_3b) -> None:
        model, processor, prompts, frames = real_3b
        rate = checks.scoring_rate(model, processor, prompts, frames, 2, CPU, repeats=1)
        assert rate["finite"] and rate["segments_per_s"] > 0

    def test_early_exit_without_exit_equals_the_forward(self, real_3b) -> None:
        model, processor, prompts, frames = real_3b
        exact = checks.exit_exactness(model, processor, prompts, frames, CPU)
        assert exact["full_depth"] and exact["max_abs_diff"] <= TOLERANCE

    def test_a_row_that_exits_leaves_the_batch(self, real_3b) -> None:
        model, processor, prompts, frames = real_3b
        removal = checks.row_removal(model, processor, prompts, frames, checks.REAL.exit_layers[0], CPU)
        assert removal["one_row_left"]
        assert removal["leaver_max_abs_diff"] <= TOLERANCE and removal["stayer_max_abs_diff"] <= TOLERANCE
