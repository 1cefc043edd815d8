"""The results table: every trained variant on the test videos of all folds, with paired comparisons.

Each video is a test video of exactly one fold and is scored by that fold's models. A variant's
per-video metrics are averaged over its training seeds; the table gives, per variant and
baseline, the mean and std over folds of the per-fold means (as papers report), the mean over
all test videos with a bootstrap 95% CI, and one row per fold. Each comparison (MSKD vs
single-stage KD, KD vs CE only, teacher vs student, full prompt vs each reduced prompt) is the
mean per-video difference with a paired bootstrap CI and a sign-flip permutation p-value
(:func:`deevisum.evaluation.stats.paired_comparison`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import Benchmark
from deevisum.evaluation.baselines import baseline_blocks, protocol
from deevisum.evaluation.context import METRICS, build_context
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.evaluation.stats import paired_comparison, summarize
from deevisum.headlines import QUALITY
from deevisum.io import BadInputReport, read_json

VARIANTS = ("teacher", "mentor", "student", "student_kd", "student_ce", "student_frame", "student_frame_title",
            "student_frame_title_audio")
"""student = MSKD; student_kd = single-stage KD from the teacher; student_ce = no KD (every modality);
the frame* students are the modality ablation (CE only, one modality added per step)."""
COMPARISONS = {
    "mskd_vs_kd": ("student", "student_kd"),
    "kd_vs_ce": ("student_kd", "student_ce"),
    "teacher_vs_student": ("teacher", "student"),
    "full_vs_frame": ("student_ce", "student_frame"),
    "full_vs_frame_title": ("student_ce", "student_frame_title"),
    "full_vs_frame_title_audio": ("student_ce", "student_frame_title_audio"),
    "teacher_title": ("teacher", "teacher_no_title"),
    "teacher_speech": ("teacher", "teacher_no_speech"),
}
"""Name -> (a, b): the difference a - b. Prompt comparisons use the CE students, whose only
difference is what the prompt carries; the ``teacher_*`` ones a probe (:data:`PROBES`)."""
PROBES = {
    "teacher_no_title": ("teacher", "frame_audio_speech"),
    "teacher_no_speech": ("teacher", "frame_title_audio"),
}
"""Name -> (trained model, modalities): the model scored with its prompts re-rendered without a modality's
sentences, an inference-time input ablation. Its loss against the model's own scores is how much the
model's scores rest on that modality (a pretrained language model may read a title a tiny one cannot)."""


def seed_averaged(score_files: Sequence[str | Path], benchmark: Benchmark, params: EvaluateParams,
                  shots: Mapping | None, bad: BadInputReport) -> dict[str, dict[str, float]]:
    """Per-video metrics of one variant, averaged over its seeds' scores files."""
    per_seed = [evaluate_scores(read_json(f), benchmark, params, shots, source=f, bad=bad, with_baselines=False)["model"]["videos"]
                for f in score_files]
    vids = sorted(set.intersection(*(set(v) for v in per_seed)))
    return {v: {m: float(np.mean([s[v][m] for s in per_seed])) for m in METRICS} for v in vids}


def _row(per_video: Mapping[str, Mapping[str, float]], video_fold: Mapping[str, int], categories: Mapping[str, str],
         params: EvaluateParams) -> dict:
    """Mean and std over folds, pooled mean with its bootstrap CI, and each fold's mean."""
    pooled = summarize(per_video, categories, params.n_bootstrap, params.seed)
    folds = sorted({video_fold[v] for v in per_video})
    fold_means = {k: {m: float(np.mean([per_video[v][m] for v in per_video if video_fold[v] == k])) for m in QUALITY}
                  for k in folds}
    row: dict = {}
    for m in QUALITY:
        values = np.array([fold_means[k][m] for k in folds])
        row[m] = float(values.mean())
        row[f"{m}_std"] = float(values.std())
        row[f"{m}_pooled"] = pooled["mean"][m]
        row[f"{m}_ci95"] = pooled["ci95"][m]
    row["per_fold"] = {f"fold{k}": {"fold": k, **fold_means[k]} for k in folds}
    return row


def ablation_report(score_files: Mapping[str, Sequence[str | Path]], benchmark: Benchmark, params: EvaluateParams,
                    shots: Mapping | None, video_fold: Mapping[str, int], bad: BadInputReport) -> dict:
    """The table (variants, random / human / oracle baselines) and the paired comparisons.

    ``score_files``: variant (or probe) -> its scores files (one per seed); ``video_fold``: test video -> its fold.
    """
    per_variant = {name: seed_averaged(files, benchmark, params, shots, bad) for name, files in score_files.items()}
    videos = sorted(set.intersection(*(set(v) for v in per_variant.values())) & set(video_fold))
    per_variant = {name: {v: rows[v] for v in videos} for name, rows in per_variant.items()}
    contexts = {v: build_context(v, benchmark, params, shots, source=str(benchmark.root)) for v in videos}
    categories = {v: benchmark.videos[v].category for v in videos}
    base = baseline_blocks(contexts, benchmark, params)
    rows = {name: _row(per_video, video_fold, categories, params) for name, per_video in per_variant.items()}
    table = {name: row for name, row in rows.items() if name not in PROBES}
    table |= {f"baseline_{k}": _row(b["videos"], video_fold, categories, params) for k, b in base.items()}
    comparisons = {
        name: {m: paired_comparison({v: per_variant[a][v][m] for v in videos}, {v: per_variant[b][v][m] for v in videos},
                                    params.n_bootstrap, params.n_permutations, params.seed)
               for m in QUALITY} | {"a": a, "b": b}
        for name, (a, b) in COMPARISONS.items() if {a, b} <= set(per_variant)
    }
    return {
        "protocol": protocol(params),
        "folds": sorted(set(video_fold[v] for v in videos)),
        "n_seeds": max(len(f) for f in score_files.values()),
        "n_test_videos": len(videos),
        "table": table,
        "probes": {name: row for name, row in rows.items() if name in PROBES},
        "comparisons": comparisons,
        "bad_input": bad.to_dict(),
    }


def ci_rows(report: Mapping) -> list[dict]:
    """One row per (model or baseline, metric): the mean over all test videos and its bootstrap 95% CI,
    the data of the per-model plot (dvc.yaml's ``plots/ablation.csv``)."""
    return [{"model": name, "metric": m, "value": row[f"{m}_pooled"], "ci_low": row[f"{m}_ci95"][0],
             "ci_high": row[f"{m}_ci95"][1]} for name, row in report["table"].items() for m in QUALITY]
