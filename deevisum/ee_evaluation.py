"""Early-exit evaluation: scores, F1 and wall time at a threshold against full depth, in one run.

Speed is only meaningful when both sides are timed in the same process on the same batches, so
every setting (full depth, each threshold) runs over the same pre-built batches: one warm-up
pass, then ``repeats`` timed passes, median reported. Input preprocessing (PIL, tokenisation)
is identical for all settings and is done once, outside the timings.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PaliGemmaProcessor

from deevisum.early_exit import EarlyExitRunner, ExitResult
from deevisum.examples import load_frames
from deevisum.scoring import answer_logits, build_batch, expected_score


@dataclass
class TimedPass:
    """One setting over all batches: per-example outputs and the median wall time."""

    logits: torch.Tensor
    layers: torch.Tensor
    gamma: torch.Tensor
    seconds: float
    """Median wall time of one pass over all batches."""

    @property
    def seconds_per_segment(self) -> float:
        return self.seconds / max(1, len(self.layers))


def _median_time(fn: Callable[[], list[ExitResult]], repeats: int) -> tuple[list[ExitResult], float]:
    out = fn()  # warm-up (allocator, kernels' first call)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def timed_pass(runner: EarlyExitRunner, batches: Sequence[Mapping[str, torch.Tensor]], threshold: float | None, repeats: int) -> TimedPass:
    """Run ``runner`` at ``threshold`` (None: full depth, no heads) over ``batches``, timed."""
    results, seconds = _median_time(lambda: [runner.run(b, threshold=threshold) for b in batches], repeats)
    return TimedPass(
        torch.cat([r.logits for r in results]),
        torch.cat([r.layers for r in results]),
        torch.cat([r.gamma for r in results]),
        seconds,
    )


def timed_model_forward(model: torch.nn.Module, batches: Sequence[Mapping[str, torch.Tensor]], answer_ids: Sequence[int], repeats: int) -> tuple[torch.Tensor, float]:
    """The scoring stage's own full-depth path (``scoring.answer_logits``), timed the same way."""

    def once() -> list[torch.Tensor]:
        with torch.no_grad():
            return [answer_logits(model, dict(b), answer_ids) for b in batches]

    out, seconds = _median_time(once, repeats)
    return torch.cat(out), seconds


def scores_file(logits: torch.Tensor, examples: Sequence[Mapping], fps: Mapping[str, float]) -> dict[str, dict]:
    """Per-second expected scores as the scores-file contract: {video: {scores, frames_per_score}}."""
    scores = expected_score(logits)
    out: dict[str, dict] = {}
    for e, s in zip(examples, scores):
        out.setdefault(e["video_id"], {"scores": [], "frames_per_score": fps[e["video_id"]]})["scores"].append(float(s))
    return out


def exit_histogram(layers: torch.Tensor, depth: int) -> list[dict[str, float]]:
    """Rows (layers executed, count, fraction) for 1..depth."""
    counts = np.bincount(layers.numpy(), minlength=depth + 1)
    n = max(1, len(layers))
    return [{"layers": k, "count": int(counts[k]), "fraction": float(counts[k] / n)} for k in range(1, depth + 1)]


def speed_summary(ee: TimedPass, full: TimedPass, depth: int) -> dict[str, float]:
    """Speedup over full depth and the layer-count bound depth / mean executed layers."""
    mean_layers = float(ee.layers.float().mean())
    return {
        "mean_layers": mean_layers,
        "seconds_per_segment": ee.seconds_per_segment,
        "speedup": full.seconds / ee.seconds,
        "layer_bound": depth / mean_layers,
        "max_abs_logit_diff_vs_full": float((ee.logits - full.logits).abs().max()),
    }


def example_batches(processor: PaliGemmaProcessor, examples: Sequence[Mapping], frames_path: str | Path, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Scoring inputs (``scoring.build_batch``) for ``examples``, in order, built once."""
    images = load_frames(frames_path, examples)
    prompts = [e["prompt"] for e in examples]
    return [build_batch(processor, prompts[i : i + batch_size], images[i : i + batch_size]) for i in range(0, len(examples), batch_size)]
