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
    FULL,
    SCORING,
    example_batches,
    exit_histogram,
    scores_file,
    speed_summary,
    timed_settings,
)
from deevisum.evaluation import evaluate_scores, evaluation_shots
from deevisum.examples import load_frames, read_examples, select, video_fps
from deevisum.io import BadInputReport, read_json, seed_everything, write_json
from deevisum.models import load_vlm
from deevisum.mskd import model_prompts
from deevisum.params import load_params
from deevisum.scoring import answer_token_ids
from deevisum.training import write_history as write_csv

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
    if p.ee.timing_threads > 0:
        torch.set_num_threads(p.ee.timing_threads)
    bench = read_benchmark(p.data.dataset, p.data.dataset_dir)
    test = sorted(read_json(SPLITS)["test"])
    examples = select(read_examples(EXAMPLES), test)
    fps = video_fps(FRAMES, test)
    shots = evaluation_shots(p.evaluate, FRAMES, test)

    def quality(logits: torch.Tensor, bad: BadInputReport | None = None) -> dict[str, float]:
        """F1/tau/rho of per-second expected scores (bad videos: recorded once, on the full-depth run)."""
        bad = bad or BadInputReport(p.data.on_error)
        report = evaluate_scores(scores_file(logits, examples, fps), bench, p.evaluate, shots, source=EXAMPLES, bad=bad, with_baselines=False)
        return {m: report["model"]["mean"][m] for m in QUALITY}

    model, processor = load_vlm(STUDENT)
    answer_ids = answer_token_ids(processor.tokenizer)
    runner = EarlyExitRunner(model, answer_ids, load_exit_heads(EXITS))
    prompts = model_prompts(STUDENT, examples, p.prompts.template)  # what the student is scored with
    batches = example_batches(processor, prompts, load_frames(FRAMES, examples), p.ee.batch_size)

    thresholds = sorted({*p.ee.sweep, p.ee.threshold})
    timed = timed_settings(runner, batches, thresholds, p.ee.timing_repeats)
    full, scoring = timed[FULL], timed[SCORING]
    bad = BadInputReport(p.data.on_error)
    full_quality = quality(full.logits, bad)
    sweep = [{"threshold": t, **quality(timed[t].logits), **speed_summary(timed[t], full, runner.depth)} for t in thresholds]
    chosen = next(row for row in sweep if row["threshold"] == p.ee.threshold)
    hist = exit_histogram(timed[p.ee.threshold].layers, runner.depth)
    metrics = {
        **chosen,
        "f1_drop": full_quality["f1"] - chosen["f1"],
        "full_depth": {
            **full_quality,
            "seconds_per_segment": full.seconds_per_segment,
            "scoring_forward_seconds_per_segment": scoring.seconds_per_segment,
            "max_abs_logit_diff_vs_scoring": float((full.logits - scoring.logits).abs().max()),
        },
        "depth": runner.depth,
        "exit_layers": runner.heads.config.exit_layers,
        "n_segments": len(examples),
        "n_videos": len(fps),
        "timing_repeats": p.ee.timing_repeats,
        "torch_threads": torch.get_num_threads(),
        "bad_input": bad.to_dict(),
    }
    write_json(METRICS, metrics)
    write_csv(sweep, Path(SWEEP))
    write_csv(hist, Path(HIST))
    print(
        f"threshold {p.ee.threshold}: F1 {chosen['f1']:.4f} (full depth {full_quality['f1']:.4f}), "
        f"speedup {chosen['speedup']:.2f}x, mean layers {chosen['mean_layers']:.2f}/{runner.depth}"
    )
