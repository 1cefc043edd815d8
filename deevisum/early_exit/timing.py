"""Early-exit evaluation: scores, F1 and wall time at thresholds against full depth, in one run.

Speed is only meaningful when both sides are timed in the same process on the same batches, so
every setting (full depth, each threshold) runs over the same pre-built batches: one warm-up
pass of the first setting (allocator, first-call costs), then ``repeats`` rounds in which every
setting is timed once, in turn (round-robin, so load from other processes hits all settings
alike). The speedup is the median over rounds of the paired ratio full / early exit (robust to
slow drift), and also the ratio of the fastest passes (robust to spikes: load only ever adds
time). Input preprocessing (PIL, tokenisation) is identical for all settings and is done once,
outside the timings. The scoring stage's own forward runs once, untimed: the full-depth runner
must give its logits.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import PaliGemmaProcessor

from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.models.scoring import answer_logits, build_batch, on_model_device

FULL = "full"
"""Key of the full-depth run of the early-exit runner (no heads evaluated)."""
WALL_TIME_FIELDS = ("seconds_per_segment", "speedup", "speedup_fastest")
"""Report fields that are wall-time measurements: the only ones that differ between two runs on the same inputs."""
SCORING = "scoring"
"""Key of the scoring stage's own forward (``scoring.answer_logits``), the pipeline's full-depth path (untimed)."""


@dataclass
class TimedPass:
    """One setting over all batches: per-example outputs and the median wall time."""

    logits: torch.Tensor
    layers: torch.Tensor
    confidence: torch.Tensor
    times: list[float]
    """Wall time of one pass over all batches, per timing round."""

    @classmethod
    def concat(cls, passes: Sequence[TimedPass]) -> TimedPass:
        """Several runs' passes as one: rows concatenated, each round's times summed."""
        return cls(*(torch.cat([getattr(p, f) for p in passes]) for f in ("logits", "layers", "confidence")),
                   [sum(t) for t in zip(*(p.times for p in passes))])

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)

    @property
    def seconds_per_segment(self) -> float:
        return self.seconds / max(1, len(self.layers))


def interleaved_timing(fns: Mapping[Hashable, Callable[[], Any]], repeats: int) -> dict[Hashable, tuple[Any, list[float]]]:
    """Each function's output and its wall times in round-robin repeats (after one warm-up call)."""
    next(iter(fns.values()))()
    outputs: dict[Hashable, Any] = {}
    times: dict[Hashable, list[float]] = {k: [] for k in fns}
    for _ in range(max(1, repeats)):
        for k, fn in fns.items():
            start = time.perf_counter()
            outputs[k] = fn()
            times[k].append(time.perf_counter() - start)
    return {k: (outputs[k], times[k]) for k in fns}


def timed_settings(
    runner: EarlyExitRunner, batches: Sequence[Mapping[str, torch.Tensor]], thresholds: Sequence[float], measure: str,
    repeats: int,
) -> dict[Hashable, TimedPass]:
    """TimedPass per threshold (shared by every exit, on confidence ``measure``) and for ``FULL`` (runner
    without exits), timed; plus ``SCORING`` (the model's own forward), run once untimed as the
    reference the full-depth runner must equal."""
    n_exits = len(runner.heads.config.exit_layers) if runner.heads is not None else 0

    def ee(threshold: float | None) -> Callable[[], list]:
        per_exit = None if threshold is None else [threshold] * n_exits
        return lambda: [runner.run(b, thresholds=per_exit, measure=measure) for b in batches]

    fns: dict[Hashable, Callable[[], list]] = {FULL: ee(None), **{t: ee(t) for t in thresholds}}
    out = {key: TimedPass(*(torch.cat([getattr(r, f) for r in results]) for f in ("logits", "layers", "confidence")), times)
           for key, (results, times) in interleaved_timing(fns, repeats).items()}
    with torch.no_grad():
        logits = torch.cat([answer_logits(runner.model, on_model_device(dict(b), runner.model), runner.answer_ids.tolist()).cpu()
                            for b in batches])
    out[SCORING] = TimedPass(logits, torch.full((len(logits),), runner.depth), torch.full((len(logits),), float("nan")), [])
    return out


ORACLE_AT_TARGET = "oracle_at_target_fraction"
"""Column of the exit histogram: the oracle-at-target rule's share of rows per depth (:func:`exit_histogram`)."""


def exit_histogram(layers: torch.Tensor, depth: int, oracle_at_target: torch.Tensor) -> list[dict[str, float]]:
    """Rows (layers executed, count, fraction) for 1..depth, with the fraction of rows the oracle at the target
    agreement runs each depth: the cheapest distribution any confidence could give these heads, which the
    latency benchmark replays beside the measured one."""
    counts = np.bincount(layers.numpy(), minlength=depth + 1)
    oracle = np.bincount(oracle_at_target.numpy(), minlength=depth + 1)
    n, n_oracle = max(1, len(layers)), max(1, len(oracle_at_target))
    return [{"layers": k, "count": int(counts[k]), "fraction": float(counts[k] / n),
             ORACLE_AT_TARGET: float(oracle[k] / n_oracle)} for k in range(1, depth + 1)]


def ratio_ci(full_times: Sequence[float], ee_times: Sequence[float], n_bootstrap: int = 2000,
             seed: int = 0) -> dict[str, Any]:
    """Median over rounds of the paired ratio full / early exit, with its 95% percentile-bootstrap CI over
    rounds (rounds are the unit: each holds one pass of every setting, under the same load)."""
    ratios = np.asarray(full_times, np.float64) / np.asarray(ee_times, np.float64)
    boot = np.median(ratios[np.random.default_rng(seed).integers(0, len(ratios), (n_bootstrap, len(ratios)))], axis=1)
    return {"median": float(np.median(ratios)), "ci95": [float(x) for x in np.percentile(boot, [2.5, 97.5])],
            "rounds": len(ratios)}


def speed_summary(ee: TimedPass, full: TimedPass) -> dict[str, float]:
    """What it cost in wall time (differs run to run): speedup over full depth, seconds per segment."""
    return {
        "seconds_per_segment": ee.seconds_per_segment,
        "speedup": statistics.median(f / e for f, e in zip(full.times, ee.times)),
        "speedup_fastest": min(full.times) / min(ee.times),
    }


def example_batches(processor: PaliGemmaProcessor, prompts: Sequence[str], images: np.ndarray, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Scoring inputs (``scoring.build_batch``) in order, built once so timings exclude preprocessing."""
    return [build_batch(processor, prompts[i : i + batch_size], images[i : i + batch_size]) for i in range(0, len(prompts), batch_size)]
