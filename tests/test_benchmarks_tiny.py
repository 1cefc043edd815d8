"""The benchmarks without a test of their own run end to end at tiny size (a benchmark nothing runs rots).

Each runs as a subprocess, as a user runs it, on tiny inputs built here, and writes its figures as JSON
under the test's temporary folder (never into benchmarks/results/).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tiny_vlm import build_tiny_vlm, tiny_model, tiny_source, write_corpus

REPO = Path(__file__).resolve().parents[1]

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def run_benchmark(script: str, out: Path, *args: str) -> dict:
    """``benchmarks/<script> ... --out out``, checked to succeed; the JSON it wrote."""
    run = subprocess.run([sys.executable, f"benchmarks/{script}", *args, "--out", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A synthetic processed corpus (one fold), its tokenizer, a tiny teacher, and stored teacher and mentor
    distributions of fold 0 seed 0 (random logits: the epoch's cost does not depend on their values)."""
    import torch

    from deevisum.data.examples import example_key
    from deevisum.data.splits import Run
    from deevisum.distill.distributions import save_distributions
    from deevisum.distill.roles import distributions_file
    from deevisum.models.tokenizer import ANSWERS, train_tokenizer
    from deevisum.models.vlm import save_vlm

    root = tmp_path_factory.mktemp("processed")
    data = write_corpus(root)
    examples = data.examples("train", "val", "test")
    train_tokenizer([e["prompt"] for e in examples], 100).save_pretrained(str(root / "tokenizer"))
    model, processor = build_tiny_vlm(tiny_model(), root / "tokenizer")
    save_vlm(model, processor, root / "teacher", tiny_source())
    keys = [example_key(e) for e in examples]
    for role in ("teacher", "mentor"):
        save_distributions(distributions_file(root / "distill" / role, Run(0, 0)), keys,
                           torch.randn(len(keys), 5, generator=torch.Generator().manual_seed(0)), ANSWERS)
    return {"examples": data.examples_file, "splits": data.splits_file, "frames": data.frames_file,
            "tokenizer": root / "tokenizer", "distill": root / "distill", "teacher": root / "teacher"}


def data_args(paths: dict[str, Path], *names: str) -> list[str]:
    return [a for name in names for a in (f"--{name}", str(paths[name]))]


def test_eval_speed_times_the_protocol_and_the_baselines(mini_corpus: Path, tmp_path: Path) -> None:
    report = run_benchmark("eval_speed.py", tmp_path / "eval_speed.json", "--root", str(mini_corpus))
    assert report["videos"] == 3 and report["frames"] > 0 and report["annotators"] == [20]
    assert set(report["model_s"]) == {"per-frame scores", "per-second scores"}
    assert report["read_s"] > 0 and report["baselines_s"] > 0 and all(t > 0 for t in report["model_s"].values())


@needs_ffmpeg
def test_extract_speed_times_each_way_of_reading_frames(mini_corpus: Path, tmp_path: Path) -> None:
    report = run_benchmark("extract_speed.py", tmp_path / "extract_speed.json", "--root", str(mini_corpus),
                           "--image-size", "32")
    assert report["videos"] == 3 and report["image_size"] == 32 and report["video_seconds"] > 0
    assert len(report["rows"]) == 4 and report["rows"]["naive: all full-res frames to python"]["vs_naive"] == 1
    for row in report["rows"].values():
        assert row["wall_s"] > 0 and row["video_s_per_s"] == pytest.approx(report["video_seconds"] / row["wall_s"])


def test_kd_epoch_cost_compares_a_distillation_and_a_ce_epoch(processed: dict[str, Path], tmp_path: Path) -> None:
    report = run_benchmark("kd_epoch_cost.py", tmp_path / "kd_epoch_cost.json", "--tiny",
                           *data_args(processed, "examples", "splits", "frames", "tokenizer", "distill"))
    assert report["run"] == "fold0-seed0" and report["examples"] > 0
    assert {k: len(v) for k, v in report["times_s"].items()} == {"ce": 2, "mskd": 2}
    assert report["ce_s"] == min(report["times_s"]["ce"]) and report["mskd_s"] == min(report["times_s"]["mskd"])
    assert report["ratio"] == pytest.approx(report["mskd_s"] / report["ce_s"])


def test_scoring_speed_compares_one_pass_and_generate(processed: dict[str, Path], tmp_path: Path) -> None:
    report = run_benchmark("scoring_speed.py", tmp_path / "scoring_speed.json", str(processed["teacher"]),
                           "--n", "4", "--repeats", "1", *data_args(processed, "examples", "splits", "frames"))
    assert report["segments"] == 4 and report["repeats"] == 1
    assert report["one_pass_s"] > 0 and report["generate_s"] > 0 and 0 <= report["agreement"] <= 1
    assert report["speedup"] == pytest.approx(report["generate_s"] / report["one_pass_s"])


@needs_ffmpeg
def test_long_video_summarizes_a_generated_video(tmp_path: Path) -> None:
    absent = tmp_path / "absent"  # random models of the demo student's shape, whatever this checkout holds
    report = run_benchmark("long_video.py", tmp_path / "long_video.json", "--lengths", "3",
                           "--student", str(absent), "--exits", str(absent))
    assert report["models"].startswith("random-weight student") and set(report["results"]) == {"3"}
    row = report["results"]["3"]
    assert row["seconds"] == 3 and row["wall_s"] > 0 and row["peak_rss_mb"] > 0
    assert row["steps"] and all(a["at_s"] <= b["at_s"] for a, b in zip(row["steps"], row["steps"][1:]))
