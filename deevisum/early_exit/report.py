"""The early-exit report: quality and speed at each threshold against full depth, in one run.

The test videos are scored at full depth, with the scoring stage's own forward, at
``ee.threshold`` and at every ``ee.sweep`` threshold, all timed in the same process on the same
batches (:mod:`deevisum.early_exit.timing`), and each setting's scores go through the project's
evaluator. What is computed (quality, layers run) is kept apart from what it cost in wall time,
which differs from run to run and so never goes into a committed metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from deevisum.config import Params
from deevisum.data.benchmarks import Benchmark
from deevisum.data.examples import ProcessedData
from deevisum.data.prompts import prompts_for
from deevisum.early_exit.heads import load_exit_heads
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.early_exit.timing import (
    FULL,
    SCORING,
    example_batches,
    exit_histogram,
    layer_summary,
    speed_summary,
    timed_settings,
)
from deevisum.evaluation.context import evaluation_shots
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.evaluation.scores import scores_file
from deevisum.io import BadInputReport
from deevisum.models.scoring import answer_token_ids, expected_score
from deevisum.models.vlm import load_vlm, model_modalities

QUALITY = ("f1", "kendall_tau", "spearman_rho")


def early_exit_report(student_dir: str | Path, exits_dir: str | Path, data: ProcessedData, bench: Benchmark,
                      p: Params) -> tuple[dict[str, Any], list[dict[str, float]], list[dict[str, float]], dict[str, Any]]:
    """(metrics at ``ee.threshold`` with the full-depth reference, the sweep rows, the exit histogram rows,
    the wall-time figures of every setting)."""
    examples = data.examples("test")
    rates = data.rates(examples)
    shots = evaluation_shots(p.evaluate, data.frames_file, sorted(rates))

    def quality(logits: torch.Tensor, bad: BadInputReport | None = None) -> Mapping[str, float]:
        """F1/tau/rho of per-second expected scores (bad videos: recorded once, on the full-depth run)."""
        report = evaluate_scores(scores_file(expected_score(logits), examples, rates), bench, p.evaluate, shots,
                                 source=data.examples_file, bad=bad or BadInputReport(p.data.on_error), with_baselines=False)
        return {m: report["model"]["mean"][m] for m in QUALITY}

    model, processor = load_vlm(student_dir)
    runner = EarlyExitRunner(model, answer_token_ids(processor.tokenizer), load_exit_heads(exits_dir))
    prompts = prompts_for(examples, model_modalities(student_dir), p.prompts.template)  # as the student is scored
    batches = example_batches(processor, prompts, data.frames(examples), p.ee.batch_size)

    thresholds = sorted({*p.ee.sweep, p.ee.threshold})
    timed = timed_settings(runner, batches, thresholds, p.ee.timing_repeats)
    full, scoring = timed[FULL], timed[SCORING]
    bad = BadInputReport(p.data.on_error)
    full_quality = quality(full.logits, bad)
    sweep = [{"threshold": t, **quality(timed[t].logits), **layer_summary(timed[t], full, runner.depth)} for t in thresholds]
    chosen = next(row for row in sweep if row["threshold"] == p.ee.threshold)
    metrics = {
        **chosen,
        "f1_drop": full_quality["f1"] - chosen["f1"],
        "full_depth": {
            **full_quality,
            "max_abs_logit_diff_vs_scoring": float((full.logits - scoring.logits).abs().max()),
        },
        "depth": runner.depth,
        "exit_layers": runner.heads.config.exit_layers,
        "n_segments": len(examples),
        "n_videos": len(rates),
        "bad_input": bad.to_dict(),
    }
    timing = {
        "threshold": p.ee.threshold,
        **speed_summary(timed[p.ee.threshold], full),
        "full_depth_seconds_per_segment": full.seconds_per_segment,
        "scoring_forward_seconds_per_segment": scoring.seconds_per_segment,
        "sweep": [{"threshold": t, **speed_summary(timed[t], full)} for t in thresholds],
        "timing_repeats": p.ee.timing_repeats,
        "torch_threads": torch.get_num_threads(),
    }
    return metrics, sweep, exit_histogram(timed[p.ee.threshold].layers, runner.depth), timing
