"""Training/scoring examples: ``examples.jsonl`` rows, their split, and their frame.

One example per (video, second) (format: the team brief). The frame of second ``i`` is
``frames.h5[video_id]["frames"][i]``; it goes in as the image whatever the prompt modalities.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from deevisum.io import InputError

REQUIRED = ("video_id", "second", "prompt", "target")


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


def load_frames(path: str | Path, examples: Sequence[dict]) -> np.ndarray:
    """(n, S, S, 3) uint8: each example's frame from ``frames.h5``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found (run extract_frames first)")
    out = []
    with h5py.File(path, "r") as h5:
        cache: dict[str, np.ndarray] = {}
        for e in examples:
            vid = e["video_id"]
            if vid not in cache:
                if vid not in h5:
                    raise InputError(path, f"no frames for video {vid}")
                cache[vid] = h5[vid]["frames"][()]
            if not 0 <= e["second"] < len(cache[vid]):
                raise InputError(path, f"video {vid} has {len(cache[vid])} seconds of frames, example asks second {e['second']}")
            out.append(cache[vid][e["second"]])
    return np.stack(out) if out else np.zeros((0, 1, 1, 3), np.uint8)


def video_fps(path: str | Path, video_ids: Sequence[str]) -> dict[str, float]:
    """Frame rate of each video (``frames.h5`` attrs), the frames_per_score of per-second scores."""
    with h5py.File(path, "r") as h5:
        return {v: float(h5[v].attrs["fps"]) for v in video_ids}
