"""Keyshot selection: a 0/1 knapsack over shots under a length budget (the field's summary rule).

Used by evaluation (predicted and reference summaries) and by ``deevisum summarize`` alike, so
a summary is chosen exactly as it is scored.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from deevisum.summary.knapsack import knapsack_batch


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
    packed = knapsack_batch(values, lengths, math.floor(budget * n_frames))
    return np.repeat(packed, lengths, axis=1)
