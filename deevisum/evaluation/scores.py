"""The scores file (what scoring writes, what the evaluator reads) and its expansion to frames.

Contract: ``{video_id: {"scores": [float...], "frames_per_score": k, "shots": [[start, end), ...]?}}``;
score i covers frames [floor(i*k), floor((i+1)*k)) (:mod:`deevisum.timebase`); k is a number or,
for a non-integer frame rate, the exact ratio as a string (``"30000/1001"``). Nothing is
truncated or padded: scores that do not cover the annotated frames exactly are an error naming
the video.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from deevisum.io import InputError, read_json
from deevisum.timebase import exact_rate, n_units, second_bounds


@dataclass(frozen=True)
class VideoScores:
    """One video's predicted importance: ``scores[i]`` covers ``frames_per_score`` frames."""

    scores: np.ndarray
    frames_per_score: Fraction
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
            k = Fraction(entry["frames_per_score"])
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            raise InputError(source, f"video {vid}: scores must be numbers and frames_per_score a number or 'p/q'") from None
        if scores.ndim != 1 or len(scores) == 0:
            raise InputError(source, f"video {vid}: 'scores' must be a non-empty flat list, got shape {scores.shape}")
        bad = np.flatnonzero(~np.isfinite(scores))
        if len(bad):
            raise InputError(source, f"video {vid}: score {bad[0]} is {scores[bad[0]]} ({len(bad)} non-finite scores)")
        if k <= 0:
            raise InputError(source, f"video {vid}: frames_per_score must be a positive number, got {k}")
        out[vid] = VideoScores(scores, k, entry.get("shots"))
    return out


def read_scores(path: str | Path) -> dict[str, VideoScores]:
    """Read and check a scores file."""
    return parse_scores(read_json(path), path)


def expand_scores(scores: np.ndarray, frames_per_score: Fraction | float, n_frames: int) -> np.ndarray:
    """Per-frame scores (n_frames,); ValueError unless the scores cover exactly n_frames frames."""
    k = exact_rate(frames_per_score)
    m = len(scores)
    if m != n_units(n_frames, k):  # exactly: score m - 1 starts before the end, score m would not
        covered = m * k.numerator // k.denominator
        raise ValueError(f"{m} scores of {float(k):g} frames each cover {covered} frames but the video has {n_frames} "
                         f"(expected {n_units(n_frames, k)} scores)")
    return np.repeat(scores, np.diff(second_bounds(k, n_frames, m)))


def seed_scores_file(folder: str | Path, seed: int) -> Path:
    """Where the score stage puts a role's scores of one training seed."""
    return Path(folder) / f"seed{seed}.json"


def scores_file(scores: Sequence[float], examples: Sequence[Mapping], rates: Mapping[str, Fraction]) -> dict[str, dict]:
    """Per-second scores of ``examples`` (one per (video, second), in order) as the scores-file contract."""
    out: dict[str, dict] = {}
    for e, s in zip(examples, scores):
        rate = rates[e["video_id"]]
        k = float(rate) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"
        out.setdefault(e["video_id"], {"scores": [], "frames_per_score": k})["scores"].append(float(s))
    return out
