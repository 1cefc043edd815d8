"""The ablation table: every trained variant's test scores through the project's evaluator.

Issue 4's claims read off one table: teacher > random (by more than the CI), and on the
students MSKD > single-stage KD > CE only; plus the student's modality ablation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import Benchmark
from deevisum.evaluation.baselines import baselines
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.io import BadInputReport, read_json

VARIANTS = ("teacher", "mentor", "student", "student_kd", "student_ce", "student_frame", "student_frame_title",
            "student_frame_title_audio")
"""student = MSKD; student_kd = single-stage KD from the teacher; student_ce = no KD (every modality);
the frame* students are the modality ablation (CE only, one modality added per step)."""
MODALITY_STEPS = (("title", "student_frame", "student_frame_title"),
                  ("audio", "student_frame_title", "student_frame_title_audio"),
                  ("speech", "student_frame_title_audio", "student_ce"))
"""(modality, the student without it, the student with it): what each step of the ablation adds."""
TABLE_METRICS = ("f1", "kendall_tau", "spearman_rho")


def _row(block: Mapping) -> dict:
    return {m: block["mean"][m] for m in TABLE_METRICS} | {f"{m}_ci95": block["ci95"][m] for m in TABLE_METRICS}


def ablation_report(score_files: Mapping[str, str | Path], benchmark: Benchmark, params: EvaluateParams,
                    shots: Mapping | None, bad: BadInputReport) -> dict:
    """Mean and 95% bootstrap CI of F1 / Kendall tau / Spearman rho per variant and baseline, and the checks."""
    table, videos = {}, None
    for name, path in score_files.items():
        report = evaluate_scores(read_json(path), benchmark, params, shots, source=path, bad=bad, with_baselines=False)
        table[name] = _row(report["model"])
        videos = list(report["model"]["videos"])
    base = baselines(benchmark, params, shots, video_ids=videos)["baselines"]
    rows = {**table, **{f"baseline_{k}": _row(v) for k, v in base.items()}}
    rand = rows["baseline_random"]
    checks = {}
    if "teacher" in table:
        for m in ("f1", "kendall_tau"):
            # "beats random by more than the CI": the teacher's whole 95% interval lies above random's mean
            checks[f"teacher_beats_random_{m}"] = table["teacher"][f"{m}_ci95"][0] > rand[m]
    if {"student", "student_kd", "student_ce"} <= set(table):
        for m in TABLE_METRICS:
            checks[f"mskd_gt_kd_{m}"] = table["student"][m] > table["student_kd"][m]
            checks[f"kd_gt_ce_{m}"] = table["student_kd"][m] > table["student_ce"][m]
    for modality, without, with_it in MODALITY_STEPS:
        if {without, with_it} <= set(table):
            for m in TABLE_METRICS:
                checks[f"{modality}_adds_{m}"] = table[with_it][m] > table[without][m]
    return {"n_test_videos": len(videos or []), "table": rows, "checks": checks, "bad_input": bad.to_dict()}
