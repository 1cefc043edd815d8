"""A synthetic processed corpus (the build_prompts/extract_frames formats) and tiny model params.

The label of a second is visible both in its frame (brightness) and in its prompt (a cue word),
so a tiny model learns it in a few steps and tests can check that losses decrease.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from deevisum.config import ArchParams, ModelParams, TrainParams
from deevisum.data.examples import ProcessedData
from deevisum.data.frames_store import write_video
from deevisum.data.prompts import FULL
from deevisum.tracking import CURVES

TEMPLATE = "score importance 1 to 5. category: {category}. title: {title}. speech: {speech}. audio: {audio}."
CUES = {1: "silent", 2: "quiet", 3: "calm", 4: "loud", 5: "cheering"}


def tiny_model(**overrides) -> ArchParams:
    """A tiny architecture; widths that are multiples of 64 (the 4-bit CPU kernels need them)."""
    base = dict(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128, vision_hidden_size=64,
                vision_layers=1, patch_size=8)
    return ArchParams(**(base | overrides))


def tiny_source(**overrides) -> ModelParams:
    """A role that starts from its architecture's random weights (``source: tiny``), finetuned as ``overrides`` say."""
    return ModelParams(**({"source": "tiny"} | overrides))


def build_tiny_vlm(arch: ArchParams, tokenizer_dir: str | Path, image_size: int = 32, seed: int = 0, **mp):
    """``build_vlm`` of ``arch`` with random weights under ``seed`` (``mp``: ModelParams fields, e.g. ``lora_r``)."""
    from deevisum.models.vlm import build_vlm

    return build_vlm(tiny_source(**mp), arch, tokenizer_dir, image_size, seed)


def train_role(arch: ArchParams, cfg: TrainParams, image_size: int, kd, data: ProcessedData, files, modalities: str = FULL,
               template: str = "", **mp) -> dict[str, list[dict[str, float]]]:
    """A role with source ``tiny`` (``mp``: its other ModelParams fields) trained on every run of ``data``
    (``role_jobs`` + ``train_jobs``, as the stages do); its histories by run name."""
    from deevisum.distill.roles import role_jobs, train_jobs

    histories = train_jobs(role_jobs(tiny_source(**mp), arch, cfg, image_size, kd, data, files, modalities, template))
    return histories.get(files.curves, {})


def tiny_train(**overrides) -> TrainParams:
    base = dict(seeds=[0], epochs=3, batch_size=8, lr=3e-3, warmup_steps=1, eval_batch_size=16)
    return TrainParams(**(base | overrides))


def processed(root: Path, fold: int | None = 0) -> ProcessedData:
    """The processed dataset :func:`write_corpus` writes under ``root``, reading fold ``fold``'s splits."""
    out = Path(root) / "data" / "processed"
    return ProcessedData(out / "examples.jsonl", out / "splits.json", out / "frames.h5", fold)


def write_corpus(root: Path, n_videos: int = 4, seconds: int = 10, image_size: int = 32,
                 rate: Fraction = Fraction(15), n_folds: int = 1) -> ProcessedData:
    """``data/processed/{examples.jsonl,frames.h5,splits.json}`` under ``root``; every one of the
    ``n_folds`` folds is selected, fold k the video list rotated by k (train, then 1 val and 1 test video)."""
    rng = np.random.default_rng(0)
    data = processed(root)
    data.examples_file.parent.mkdir(parents=True, exist_ok=True)
    ids = [f"vid{i}" for i in range(n_videos)]
    rows = []
    with h5py.File(data.frames_file, "w") as h5:
        for vid in ids:
            targets = rng.integers(1, 6, seconds)
            frames = np.zeros((seconds, image_size, image_size, 3), np.uint8)
            frames += (targets * 50)[:, None, None, None].astype(np.uint8)
            write_video(h5, vid, rate, int(seconds * rate), frames)
            for s, t in enumerate(targets):
                ex = {"video_id": vid, "second": s, "category": "sports", "title": f"match {vid}",
                      "speech": "hello there", "audio": CUES[int(t)]}
                dist = [0.0] * 5
                dist[int(t) - 1] = 1.0
                rows.append(ex | {"prompt": TEMPLATE.format(**ex), "target_dist": dist, "target": int(t), "mean": float(t)})
    data.examples_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    folds = [{"train": r[:-2], "val": r[-2:-1], "test": r[-1:]} for r in (ids[k:] + ids[:k] for k in range(n_folds))]
    doc = {"n_folds": n_folds, "selected": list(range(n_folds)), "folds": folds}
    data.splits_file.write_text(json.dumps(doc), encoding="utf-8")
    return data


def read_curves(directory: Path, run: str = "fold0-seed0") -> pd.DataFrame:
    """One run's curves in a curves folder (the long table of ``deevisum.tracking.write_curves``), one row per epoch."""
    table = pd.read_csv(Path(directory) / CURVES, sep="\t")
    out = table[table["run"] == run].drop(columns="run").reset_index(drop=True)
    assert len(out), f"no curves of {run} in {directory}"
    return out
