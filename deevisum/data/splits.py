"""Video-level folds: each video is in exactly one test fold, so no video's seconds leak."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deevisum.io import InputError, read_json

SPLITS = ("train", "val", "test")


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


def splits_document(folds: list[dict[str, list[str]]], selected: Sequence[int]) -> dict[str, Any]:
    """The splits.json document: every fold, and which of them the pipeline runs."""
    bad = [k for k in selected if not 0 <= k < len(folds)]
    if bad:
        raise ValueError(f"prompts.folds = {list(selected)}: folds {bad} are not in 0..{len(folds) - 1}")
    return {"n_folds": len(folds), "selected": sorted(selected), "folds": folds}


@dataclass(frozen=True, order=True)
class Run:
    """One trained model of a role: the fold whose train/val videos it learns from, and its seed."""

    fold: int
    seed: int

    @property
    def name(self) -> str:
        """Folder / file stem of the run's outputs (``models/<role>/<name>``)."""
        return f"fold{self.fold}-seed{self.seed}"


def read_splits(path: str | Path) -> dict[str, Any]:
    """splits.json, checked: each selected fold has train, val and test video lists."""
    doc = read_json(path)
    try:
        folds, selected = doc["folds"], doc["selected"]
        for k in selected:
            if not (isinstance(k, int) and 0 <= k < len(folds)) or not all(isinstance(folds[k][s], list) for s in SPLITS):
                raise KeyError(k)
    except (KeyError, IndexError, TypeError) as e:
        raise InputError(path, f"not a splits document (folds with {'/'.join(SPLITS)} lists, selected): {e}") from None
    return doc


def runs(splits_file: str | Path, seeds: Sequence[int]) -> list[Run]:
    """Every (selected fold, seed) pair, fold-major: the models a training stage trains."""
    return [Run(k, s) for k in read_splits(splits_file)["selected"] for s in seeds]
