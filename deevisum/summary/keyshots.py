"""Keyshot selection: a 0/1 knapsack over shots under a length budget (the field's summary rule).

Used by evaluation (predicted and reference summaries) and by ``deevisum summarize`` alike, so
a summary is chosen exactly as it is scored.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from deevisum.summary.knapsack import knapsack_batch, knapsack_ortools_dp
from deevisum.summary.shots import split_shots


def capacity(budget: float, n_frames: int) -> int:
    """Knapsack capacity of a summary: floor(budget * n_frames) frames, the field's rule."""
    return math.floor(budget * n_frames)


def fit_shots(shots: np.ndarray, budget: float, n_frames: int, max_frames: int) -> np.ndarray:
    """Shots a viewer's summary can be packed from (``deevisum summarize``; evaluation keeps its shots).

    Shots longer than ``max_frames`` (>= 1) or than the capacity C are cut into equal sub-shots of at
    most C / ceil(C / max_frames) frames: that many whole sub-shots fill C, so a single-shot
    recording (lecture, dashcam) or a clip shorter than its one shot still gets about the budget.
    Shot values are positive, so the knapsack leaves less room than any shot it skips: a summary
    falls short of C by less than one sub-shot.
    """
    cap = capacity(budget, n_frames)
    if cap < 1:
        raise ValueError(f"a {budget:g} summary of {n_frames} frames is shorter than one frame")
    pieces = -(-cap // max_frames)
    return split_shots(shots, min(max_frames, cap), cap / pieces)


def shot_means(frame_scores: np.ndarray, shots: np.ndarray) -> np.ndarray:
    """Mean score of each shot; ``frame_scores`` (..., n_frames) -> (..., n_shots)."""
    sums = np.add.reduceat(np.asarray(frame_scores, dtype=np.float64), shots[:, 0], axis=-1)
    return sums / (shots[:, 1] - shots[:, 0])


def keyshot_summaries(
    frame_scores: np.ndarray, shots: np.ndarray, budget: float, value: Literal["mean", "total"] = "mean"
) -> np.ndarray:
    """Knapsack keyshot summaries (B, n_frames) bool for score rows (B, n_frames) sharing ``shots``.

    ``value="mean"`` is the field's convention (a shot is worth its mean frame score), which every
    F1 here uses; it favours many short shots over one long important one. ``"total"`` (mean x
    length: the importance a shot contains) picks the most important content for a viewer.
    """
    frame_scores = np.atleast_2d(frame_scores)
    n_frames = frame_scores.shape[1]
    lengths = shots[:, 1] - shots[:, 0]
    values = shot_means(frame_scores, shots)
    if value == "total":
        values = values * lengths
    elif value != "mean":
        raise ValueError(f"shot value must be 'mean' or 'total', got {value!r}")
    packed = knapsack_batch(values, lengths, capacity(budget, n_frames))
    return np.repeat(packed, lengths, axis=1)


def dsnet_keyshot_summary(frame_scores: np.ndarray, shots: np.ndarray, budget: float) -> np.ndarray:
    """(n_frames,) bool: DSNet's ``get_keyshot_summ`` after its upsampling, on float32 ``frame_scores``.

    Each shot is worth int(1000 x its float32 mean score), truncated as DSNet rounds it (low scores
    tie at 0), and OR-tools' DP solver packs them (:func:`knapsack_ortools_dp`)."""
    frame_scores = np.asarray(frame_scores, dtype=np.float32)
    values = [int(1000 * frame_scores[a:b].mean()) for a, b in shots.tolist()]
    lengths = shots[:, 1] - shots[:, 0]
    return np.repeat(knapsack_ortools_dp(values, lengths, capacity(budget, len(frame_scores))), lengths)
