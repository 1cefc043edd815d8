"""Stage evaluate: the student with early exit on the test videos, against full depth (issue 5).

Scores the test split at ee.threshold and at every ee.sweep threshold, each timed in this same
run against full depth (same batches, warm-up + median of ee.timing_repeats passes), and writes
metrics/eval.json (F1, tau, rho, speedup, mean executed layers at ee.threshold, the full-depth
reference), plots/ee_sweep.csv (the F1-vs-speedup curve) and plots/exit_hist.csv.
"""

from pathlib import Path

import torch

from deevisum.datasets import read_benchmark
from deevisum.early_exit import EarlyExitRunner, load_exit_heads
from deevisum.ee_evaluation import (
    example_batches,
    exit_histogram,
    scores_file,
    speed_summary,
    timed_model_forward,
    timed_pass,
)
from deevisum.evaluation import evaluate_scores, kts_shots_from_h5
from deevisum.examples import read_examples, select, video_fps
from deevisum.io import BadInputReport, read_json, seed_everything, write_json
from deevisum.models import load_vlm
from deevisum.params import load_params
from deevisum.scoring import answer_token_ids
from deevisum.training import _write_history as write_csv

STUDENT = "models/student"
EXITS = "models/exits"
EXAMPLES = "data/processed/examples.jsonl"
FRAMES = "data/processed/frames.h5"
SPLITS = "data/processed/splits.json"
METRICS = "metrics/eval.json"
SWEEP = "plots/ee_sweep.csv"
HIST = "plots/exit_hist.csv"
QUALITY = ("f1", "kendall_tau", "spearman_rho")


if __name__ == "__main__":
    p = load_params()
    seed_everything(p.evaluate.seed)
    bench = read_benchmark(p.data.dataset, p.data.dataset_dir)
    test = sorted(read_json(SPLITS)["test"])
    examples = select(read_examples(EXAMPLES), test)
    fps = video_fps(FRAMES, test)
    shots = kts_shots_from_h5(FRAMES, p.evaluate.kts_max_shots, video_ids=test) if p.evaluate.shots == "kts" else None
    bad = BadInputReport(p.data.on_error)

    def quality(logits: torch.Tensor) -> dict[str, float]:
        report = evaluate_scores(scores_file(logits, examples, fps), bench, p.evaluate, shots, source=EXAMPLES, bad=bad, with_baselines=False)
        return {m: report["model"]["mean"][m] for m in QUALITY}

    model, processor = load_vlm(STUDENT)
    answer_ids = answer_token_ids(processor.tokenizer)
    runner = EarlyExitRunner(model, answer_ids, load_exit_heads(EXITS))
    batches = example_batches(processor, examples, FRAMES, p.ee.batch_size)
    repeats = p.ee.timing_repeats

    full = timed_pass(runner, batches, None, repeats)
    scoring_logits, scoring_seconds = timed_model_forward(model, batches, answer_ids, repeats)
    full_quality = quality(full.logits)
    sweep, chosen = [], None
    for tau in sorted({*p.ee.sweep, p.ee.threshold}):
        ee = timed_pass(runner, batches, tau, repeats)
        row = {"threshold": tau, **quality(ee.logits), **speed_summary(ee, full, runner.depth)}
        sweep.append(row)
        if tau == p.ee.threshold:
            chosen = row | {"exit_hist": exit_histogram(ee.layers, runner.depth)}
    hist = chosen.pop("exit_hist")
    metrics = {
        **chosen,
        "f1_drop": full_quality["f1"] - chosen["f1"],
        "full_depth": {
            **full_quality,
            "seconds_per_segment": full.seconds_per_segment,
            "scoring_forward_seconds_per_segment": scoring_seconds / max(1, len(examples)),
            "max_abs_logit_diff_vs_scoring": float((full.logits - scoring_logits).abs().max()),
        },
        "depth": runner.depth,
        "exit_layers": runner.heads.config.exit_layers,
        "n_segments": len(examples),
        "n_videos": len(fps),
        "timing_repeats": repeats,
        "bad_input": bad.to_dict(),
    }
    write_json(METRICS, metrics)
    write_csv(sweep, Path(SWEEP))
    write_csv(hist, Path(HIST))
    print(
        f"threshold {p.ee.threshold}: F1 {chosen['f1']:.4f} (full depth {full_quality['f1']:.4f}), "
        f"speedup {chosen['speedup']:.2f}x, mean layers {chosen['mean_layers']:.2f}/{runner.depth}"
    )
