"""Training examples: one prompt and annotator target per (video, second), in ``examples.jsonl``.

Each row holds the prompt fields and the prompt (:mod:`deevisum.data.prompts`) and the target:
the distribution of the annotators' 1..5 scores for that second, its rounded mean and its mean.
A row's frame is the frames store's frame for its second; every stored array follows the
(video, second) order of :func:`select`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from deevisum.config import PromptsParams
from deevisum.data.benchmarks import Benchmark, VideoAnnotation
from deevisum.data.frames_store import StoredVideo, load_example_frames, video_rates
from deevisum.data.prompts import FULL, prompt_fields, render_prompt
from deevisum.data.splits import read_splits
from deevisum.io import BadInputReport, InputError, atomic_path
from deevisum.timebase import Rate, second_bounds

REQUIRED = ("video_id", "second", "prompt", "target")
N_SCORES = 5


def annotator_scores(ann: VideoAnnotation) -> np.ndarray:
    """(n_users, n_frames) scores on the 1..5 scale (SumMe selections: 5 selected, 1 not)."""
    if ann.kind == "selection":
        return np.where(ann.user_scores > 0, 5.0, 1.0)
    return ann.user_scores.astype(np.float64)


def round_half_up(x: np.ndarray) -> np.ndarray:
    """Round .5 up (numpy's rint rounds half to even, which would bias targets towards 2 and 4)."""
    return np.clip(np.floor(np.asarray(x) + 0.5), 1, N_SCORES).astype(int)


def second_targets(ann: VideoAnnotation, rate: Rate, n_seconds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per second: (distribution over 1..5 (n_seconds, 5), rounded-mean target 1..5, mean).

    Each annotator's score for second i is the rounded mean of their scores over the frames
    of second i (:mod:`deevisum.timebase`); a second past the annotation's end uses its last frame.
    """
    scores = annotator_scores(ann)
    bounds = second_bounds(rate, ann.n_frames, n_seconds)
    per_user = np.empty((n_seconds, ann.n_users))
    for i in range(n_seconds):
        lo = min(int(bounds[i]), ann.n_frames - 1)
        hi = max(int(bounds[i + 1]), lo + 1)
        per_user[i] = scores[:, lo:hi].mean(axis=1)
    rounded = round_half_up(per_user)
    dist = (rounded[:, :, None] == np.arange(1, N_SCORES + 1)).mean(axis=1)
    mean = rounded.mean(axis=1)
    return dist, round_half_up(mean), mean


def build_examples(
    ann: VideoAnnotation,
    n_seconds: int,
    rate: Rate,
    segments: Sequence[Mapping[str, Any]],
    cues: Sequence[Mapping[str, Any]],
    p: PromptsParams,
) -> list[dict[str, Any]]:
    """One example per second of the video (``cues`` has one entry per second)."""
    if len(cues) != n_seconds:
        raise ValueError(f"{ann.video_id}: {len(cues)} cue entries for {n_seconds} seconds")
    dist, target, mean = second_targets(ann, rate, n_seconds)
    out = []
    for i, fields in enumerate(prompt_fields(ann.category, ann.title, segments, cues, p)):
        out.append(
            {
                "video_id": ann.video_id,
                "second": i,
                **fields,
                "prompt": render_prompt(fields, p.template, FULL),
                "target_dist": [round(float(x), 6) for x in dist[i]],
                "target": int(target[i]),
                "mean": round(float(mean[i]), 6),
            }
        )
    return out


def corpus_examples(bench: Benchmark, videos: Mapping[str, StoredVideo], transcripts: Mapping[str, Any], cues: Mapping[str, Any],
                    p: PromptsParams, report: BadInputReport) -> list[dict[str, Any]]:
    """Examples of every stored video that has annotations, a transcript and cues (others: ``report``)."""
    examples: list[dict[str, Any]] = []
    for vid, meta in tqdm(sorted(videos.items()), desc="build_prompts", unit="video"):
        try:
            if vid not in bench.videos:
                raise InputError(bench.root, f"no annotations for {vid}")
            for name, table in (("transcripts", transcripts), ("cues", cues)):
                if vid not in table:
                    raise InputError(name, f"no entry for {vid} (skipped by an earlier stage)")
            if len(cues[vid]) != meta.n_seconds:
                raise InputError("cues", f"{vid} has {len(cues[vid])} seconds, frames.h5 has {meta.n_seconds}")
            examples += build_examples(bench.videos[vid], meta.n_seconds, meta.rate, transcripts[vid], cues[vid], p)
        except InputError as e:
            report.handle(e, vid)
    return examples


def write_examples(path: str | Path, examples: Sequence[Mapping[str, Any]]) -> None:
    """``examples.jsonl``, one row per line, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples), encoding="utf-8")


def read_examples(path: str | Path) -> list[dict]:
    """All rows of ``examples.jsonl``, each checked for the fields training needs."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found (run build_prompts first)")
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, f"line {n} is not valid JSON ({e})") from None
            missing = [k for k in REQUIRED if k not in row]
            if missing:
                raise InputError(path, f"line {n} lacks {missing}")
            if not 1 <= int(row["target"]) <= 5:
                raise InputError(path, f"line {n}: target {row['target']} is not in 1..5")
            rows.append(row)
    return rows


def select(examples: Sequence[dict], video_ids: Sequence[str]) -> list[dict]:
    """Examples of ``video_ids`` in (video, second) order — the order every stored array uses."""
    wanted = set(video_ids)
    return sorted((e for e in examples if e["video_id"] in wanted), key=lambda e: (e["video_id"], e["second"]))


def example_key(example: dict) -> str:
    return f"{example['video_id']}/{example['second']}"


def answer_targets(examples: Sequence[Mapping[str, Any]], soft: bool) -> np.ndarray:
    """(n, 5): the annotators' score distribution (``soft``) or the one-hot rounded mean score."""
    if soft:
        return np.asarray([e["target_dist"] for e in examples], np.float32)
    return np.eye(N_SCORES, dtype=np.float32)[[int(e["target"]) - 1 for e in examples]]


def split_examples(examples_file: str | Path, splits_file: str | Path, fold: int, *splits: str) -> list[dict]:
    """Examples of fold ``fold``'s ``splits`` (``train``/``val``/``test``), in stored order."""
    chosen = read_splits(splits_file)["folds"][fold]
    return select(read_examples(examples_file), [v for s in splits for v in chosen[s]])


@dataclass(frozen=True)
class ProcessedData:
    """The processed dataset a model stage reads: ``examples.jsonl``, ``splits.json``, the frames store;
    ``fold`` says whose train/val/test lists :meth:`examples` reads (see :meth:`for_fold`)."""

    examples_file: Path
    splits_file: Path
    frames_file: Path
    fold: int | None = None

    def for_fold(self, fold: int) -> ProcessedData:
        return dataclasses.replace(self, fold=fold)

    def examples(self, *splits: str) -> list[dict]:
        """Examples of this fold's ``splits``, in stored order."""
        if self.fold is None:
            raise ValueError("ProcessedData.examples needs a fold: use data.for_fold(k)")
        return split_examples(self.examples_file, self.splits_file, self.fold, *splits)

    def frames(self, examples: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return load_example_frames(self.frames_file, examples)

    def rates(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Fraction]:
        """Exact frame rate of each video of ``examples``."""
        return video_rates(self.frames_file, sorted({e["video_id"] for e in examples}))
