"""The scores file (what scoring writes, what the evaluator reads) and its expansion to frames.

Contract: ``{video_id: {"scores": [float...], "frames_per_score": k, "shots": [[start, end), ...]?}}``;
score i covers frames [floor(i*k), floor((i+1)*k)). Nothing is truncated or padded: scores
that do not cover the annotated frames exactly are an error naming the video.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deevisum.io import InputError, read_json


@dataclass(frozen=True)
class VideoScores:
    """One video's predicted importance: ``scores[i]`` covers ``frames_per_score`` frames."""

    scores: np.ndarray
    frames_per_score: float
    shots: list | None = None
    """Shot boundaries as given in the file; validated against the video when used."""


def parse_scores(raw: object, source: str | Path = "scores") -> dict[str, VideoScores]:
    """Check the structure and values of a decoded scores file; ``source`` names it in errors."""
    if not isinstance(raw, Mapping):
        raise InputError(source, f"expected a JSON object mapping video id to scores, got {type(raw).__name__}")
    out = {}
    for vid, entry in raw.items():
        if isinstance(entry, VideoScores):
            out[vid] = entry
            continue
        if not isinstance(entry, Mapping) or "scores" not in entry or "frames_per_score" not in entry:
            raise InputError(source, f"video {vid}: expected an object with 'scores' and 'frames_per_score'")
        try:
            scores = np.asarray(entry["scores"], dtype=np.float64)
            k = float(entry["frames_per_score"])
        except (TypeError, ValueError):
            raise InputError(source, f"video {vid}: scores and frames_per_score must be numbers") from None
        if scores.ndim != 1 or len(scores) == 0:
            raise InputError(source, f"video {vid}: 'scores' must be a non-empty flat list, got shape {scores.shape}")
        bad = np.flatnonzero(~np.isfinite(scores))
        if len(bad):
            raise InputError(source, f"video {vid}: score {bad[0]} is {scores[bad[0]]} ({len(bad)} non-finite scores)")
        if not (math.isfinite(k) and k > 0):
            raise InputError(source, f"video {vid}: frames_per_score must be a positive number, got {k}")
        out[vid] = VideoScores(scores, k, entry.get("shots"))
    return out


def read_scores(path: str | Path) -> dict[str, VideoScores]:
    """Read and check a scores file."""
    return parse_scores(read_json(path), path)


def expand_scores(scores: np.ndarray, frames_per_score: float, n_frames: int) -> np.ndarray:
    """Per-frame scores (n_frames,); ValueError unless the scores cover exactly n_frames frames."""
    m = len(scores)
    starts = np.floor(np.arange(m) * frames_per_score).astype(np.int64)
    end = math.floor(m * frames_per_score)
    if starts[-1] >= n_frames or end < n_frames:
        expected = math.ceil(n_frames / frames_per_score)
        raise ValueError(
            f"{m} scores of {frames_per_score:g} frames each cover {end} frames but the video has {n_frames} "
            f"(expected {expected} scores)"
        )
    lengths = np.diff(np.append(starts, n_frames))
    return np.repeat(scores, lengths)
