"""Video-level folds: each video is in exactly one test fold, so no video's seconds leak."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def make_splits(
    video_ids: Sequence[str], categories: Sequence[str], n_folds: int, val_videos: int, seed: int
) -> list[dict[str, list[str]]]:
    """``n_folds`` video-level folds: each video is in exactly one test fold.

    Videos are grouped by category (categories and members in seeded random order) and dealt
    round-robin, so every category spreads over the folds and fold sizes differ by at most one.
    Each fold's ``val`` videos are drawn (seeded) from its training part.
    """
    if len(set(video_ids)) != len(video_ids):
        raise ValueError("make_splits: duplicate video ids")
    if len(video_ids) < n_folds:
        raise ValueError(f"make_splits: {len(video_ids)} videos cannot fill {n_folds} test folds")
    rng = np.random.default_rng(seed)
    by_cat: dict[str, list[str]] = {}
    for vid, cat in sorted(zip(video_ids, categories)):
        by_cat.setdefault(cat, []).append(vid)
    order = [str(vid) for cat in rng.permutation(sorted(by_cat)) for vid in rng.permutation(by_cat[cat])]
    folds = []
    for k in range(n_folds):
        test = sorted(order[k::n_folds])
        rest = sorted(set(video_ids) - set(test))
        if val_videos >= len(rest):
            raise ValueError(f"make_splits: fold {k} has {len(rest)} training videos, cannot hold out {val_videos}")
        val = sorted(np.random.default_rng([seed, k]).choice(rest, val_videos, replace=False).tolist())
        folds.append({"train": sorted(set(rest) - set(val)), "val": val, "test": test})
    return folds


def select_fold(folds: list[dict[str, list[str]]], fold: int) -> dict[str, Any]:
    """The splits.json document: all folds, with the selected one's lists at the top level."""
    if not 0 <= fold < len(folds):
        raise ValueError(f"prompts.fold = {fold}, must be in 0..{len(folds) - 1}")
    return {"n_folds": len(folds), "fold": fold, "folds": folds, **folds[fold]}
