"""Training examples: one multimodal prompt and annotator target per (video, second), plus splits.

Each 1-second segment becomes a prompt (the frame goes in as the image; category, title,
nearby transcript words and audio-cue words as text) and a target: the distribution of the
annotators' 1..5 scores for that second, its rounded mean and its mean. Splits are
video-level folds, so no video's seconds leak between training and test.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from deevisum.datasets import VideoAnnotation
from deevisum.io import InputError
from deevisum.params import PromptsParams

MODALITY_FIELDS: dict[str, frozenset[str]] = {
    "frame": frozenset(),
    "frame_text": frozenset({"category", "title", "speech"}),
    "frame_text_audio": frozenset({"category", "title", "speech", "audio"}),
}
"""Template fields each modality subset fills; the frame is always the image."""
MAX_WORD_CHARS = 24
"""Transcript words are cut to this length (an untrained ASR can emit one endless 'word')."""
N_SCORES = 5


def read_frames_index(path: str | Path) -> dict[str, tuple[int, float]]:
    """video id -> (n_seconds, fps) from frames.h5 attrs: which videos survived extraction, and their seconds."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found (run extract_frames first)")
    out = {}
    with h5py.File(path, "r") as f:
        for vid, group in f.items():
            if "n_seconds" not in group.attrs or "fps" not in group.attrs:
                raise InputError(path, f"group {vid} lacks the n_seconds/fps attrs")
            out[vid] = (int(group.attrs["n_seconds"]), float(group.attrs["fps"]))
    return out


def second_bounds(fps: float, n_seconds: int, n_frames: int) -> np.ndarray:
    """Frame boundaries floor(i * fps), i = 0..n_seconds, clipped to the annotation.

    fps is stored as a float; snapping it back to its exact ratio (30000/1001, not
    29.97002997...) keeps floor() from landing one frame off where i * fps is whole.
    """
    rate = Fraction(fps).limit_denominator(10000)
    bounds = np.array([(i * rate.numerator) // rate.denominator for i in range(n_seconds + 1)])
    return np.minimum(bounds, n_frames)


def annotator_scores(ann: VideoAnnotation) -> np.ndarray:
    """(n_users, n_frames) scores on the 1..5 scale (SumMe selections: 5 selected, 1 not)."""
    if ann.kind == "selection":
        return np.where(ann.user_scores > 0, 5.0, 1.0)
    return ann.user_scores.astype(np.float64)


def round_half_up(x: np.ndarray) -> np.ndarray:
    """Round .5 up (numpy's rint rounds half to even, which would bias targets towards 2 and 4)."""
    return np.clip(np.floor(np.asarray(x) + 0.5), 1, N_SCORES).astype(int)


def second_targets(ann: VideoAnnotation, fps: float, n_seconds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per second: (distribution over 1..5 (n_seconds, 5), rounded-mean target 1..5, mean).

    Each annotator's score for second i is the rounded mean of their scores over the frames
    [floor(i*fps), floor((i+1)*fps)); a second past the annotation's end uses its last frame.
    """
    scores = annotator_scores(ann)
    bounds = second_bounds(fps, n_seconds, ann.n_frames)
    per_user = np.empty((n_seconds, ann.n_users))
    for i in range(n_seconds):
        lo = min(int(bounds[i]), ann.n_frames - 1)
        hi = max(int(bounds[i + 1]), lo + 1)
        per_user[i] = scores[:, lo:hi].mean(axis=1)
    rounded = round_half_up(per_user)
    dist = (rounded[:, :, None] == np.arange(1, N_SCORES + 1)).mean(axis=1)
    mean = rounded.mean(axis=1)
    return dist, round_half_up(mean), mean


def _overlaps(a: float, b: float, lo: float, hi: float) -> bool:
    """[a, b] overlaps [lo, hi); a zero-length word counts when it lies inside."""
    return a < hi and b > lo if b > a else lo <= a < hi


def speech_words(segments: Sequence[Mapping[str, Any]], second: int, window: float, max_words: int) -> str:
    """Transcript words overlapping [second - window, second + 1 + window), at most ``max_words``.

    Whisper times segments, not words, so a segment's span is shared evenly among its words.
    When more words overlap than fit, those nearest the second's centre are kept (in order).
    """
    lo, hi, centre = second - window, second + 1 + window, second + 0.5
    found: list[tuple[float, float, str]] = []
    for seg in segments:
        words = seg["text"].split()
        step = max(seg["end"] - seg["start"], 0.0) / max(len(words), 1)
        for k, word in enumerate(words):
            a, b = seg["start"] + k * step, seg["start"] + (k + 1) * step
            if _overlaps(a, b, lo, hi):
                found.append((abs((a + b) / 2 - centre), a, word[:MAX_WORD_CHARS]))
    nearest = sorted(found)[:max_words]
    return " ".join(w for _, _, w in sorted(nearest, key=lambda t: t[1])) or "none"


def render_prompt(example: Mapping[str, Any], template: str, modalities: str = "frame_text_audio") -> str:
    """The prompt for a subset of modalities: template sentences naming a left-out field are dropped.

    ``frame`` keeps only sentences without fields (e.g. 'score importance 1 to 5.'); ``frame_text``
    adds category, title and speech; ``frame_text_audio`` adds the audio cue words.
    """
    if modalities not in MODALITY_FIELDS:
        raise ValueError(f"unknown modalities {modalities!r} (one of {sorted(MODALITY_FIELDS)})")
    keep = MODALITY_FIELDS[modalities]
    kept = [s for s in re.split(r"(?<=\.)\s+", template.strip()) if _fields(s) <= keep]
    return " ".join(kept).format(**{f: example[f] for f in keep})


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def prompt_fields(
    category: str, title: str, segments: Sequence[Mapping[str, Any]], cues: Sequence[Mapping[str, Any]], p: PromptsParams
) -> list[dict[str, str]]:
    """The template fields of each second (one per cue entry): the same for training and for summarize."""
    return [
        {
            "category": category or "none",
            "title": title or "none",
            "speech": speech_words(segments, i, p.transcript_window, p.max_speech_words),
            "audio": cue["text"],
        }
        for i, cue in enumerate(cues)
    ]


def build_examples(
    ann: VideoAnnotation,
    n_seconds: int,
    fps: float,
    segments: Sequence[Mapping[str, Any]],
    cues: Sequence[Mapping[str, Any]],
    p: PromptsParams,
) -> list[dict[str, Any]]:
    """One example per second of the video (``cues`` has one entry per second)."""
    if len(cues) != n_seconds:
        raise ValueError(f"{ann.video_id}: {len(cues)} cue entries for {n_seconds} seconds")
    dist, target, mean = second_targets(ann, fps, n_seconds)
    out = []
    for i, fields in enumerate(prompt_fields(ann.category, ann.title, segments, cues, p)):
        out.append(
            {
                "video_id": ann.video_id,
                "second": i,
                **fields,
                "prompt": render_prompt(fields, p.template),
                "target_dist": [round(float(x), 6) for x in dist[i]],
                "target": int(target[i]),
                "mean": round(float(mean[i]), 6),
            }
        )
    return out


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
