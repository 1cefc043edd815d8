"""``deevisum evaluate``: score a scores file (or print the baselines alone) from the command line.

With ``--h5`` and ``--split-file`` it evaluates predictions on the field's h5 benchmark files as
DSNet does (:func:`evaluate_h5`): per split, then the mean and std over splits; ``--knapsack dsnet``
also chooses the summaries as DSNet's code does (its value rounding and OR-tools' solver).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from deevisum.app.cli import fraction
from deevisum.config import EvaluateParams, load_params
from deevisum.data.benchmarks import VideoAnnotation, read_benchmark
from deevisum.data.h5_benchmark import DERIVED, H5Video, parse_key, read_h5, read_split_file
from deevisum.evaluation.baselines import baselines
from deevisum.evaluation.context import (
    KNAPSACKS,
    METRICS,
    VideoContext,
    evaluation_shots,
    score_video,
)
from deevisum.evaluation.metrics import RankedAnnotators
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.evaluation.scores import parse_scores, read_scores
from deevisum.evaluation.stats import fold_summary, summarize
from deevisum.io import InputError, check_output_path, read_json, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scores", nargs="?", type=Path,
                        help="scores file: {video_id: {scores, frames_per_score, shots?}}; with --h5: {key: [scores...]} "
                             "(per step at picks, or per frame), or a list of such objects, one per split")
    parser.add_argument("--baselines", action="store_true", help="only compute the random, human and oracle baselines")
    parser.add_argument("--dataset", choices=["tvsum", "summe"],
                        help="F1 convention and layout (default tvsum; with --h5, guessed from the file name)")
    parser.add_argument("--root", type=Path, help="benchmark folder (e.g. ../shared/data/tvsum)")
    parser.add_argument("--h5", type=Path, help="an eccv16-layout h5 file (vsumm-reinforce/DSNet/PGL-SUM) instead of --root")
    parser.add_argument("--split-file", type=Path, help="with --h5: DSNet .yml or PGL-SUM .json splits")
    parser.add_argument("--params", type=Path, help="params.yaml whose 'evaluate' section gives the defaults")
    parser.add_argument("--shots", choices=["fixed", "kts", "file"], help="shots (default: kts with --frames, else fixed)")
    parser.add_argument("--frames", type=Path, help="frames.h5 whose frames feed KTS")
    parser.add_argument("--budget", type=fraction, help="summary length fraction in (0, 1] (default 0.15)")
    parser.add_argument("--knapsack", choices=KNAPSACKS, default="vsumm",
                        help="with --h5: how summaries are chosen: vsumm (vsumm-reinforce's knapsack on float shot means, "
                             "default) or dsnet (DSNet's: int(1000 x mean) values, OR-tools' DP solver)")
    parser.add_argument("--reference", choices=["segments", "shots"], help="TVSum reference summaries")
    parser.add_argument("-o", "--output", type=Path, help="write the JSON report here")
    parser.set_defaults(func=run)


def _params(args: argparse.Namespace) -> EvaluateParams:
    p = load_params(args.params).evaluate if args.params else EvaluateParams()
    shots = args.shots or ("kts" if args.frames else p.shots if args.params else "fixed")
    changes = {"shots": shots, "budget": args.budget, "tvsum_reference": args.reference}
    return dataclasses.replace(p, **{k: v for k, v in changes.items() if v is not None})


def format_table(report: dict) -> str:
    """Model (if any) and baseline (random, human, oracle) rows: mean [95% CI] of each metric."""
    blocks = ({"model": report["model"]} if "model" in report else {}) | report.get("baselines", {})
    lines = [f"{report['dataset']}: {next(iter(blocks.values()))['n_videos']} videos, shots={report['protocol']['shots']}"]
    lines.append(f"{'':8}" + "".join(f"{m:>26}" for m in METRICS))
    for name, b in blocks.items():
        cells = "".join(f"{b['mean'][m]:>10.4f} [{b['ci95'][m][0]:.3f},{b['ci95'][m][1]:.3f}]" for m in METRICS)
        lines.append(f"{name:8}{cells}")
    return "\n".join(lines)


def h5_context(key: str, video: H5Video, f1_reduce: str) -> VideoContext:
    """An h5 video as the evaluator's context: its change points as shots, its ``user_summary`` rows as
    references, and its upsampled ``gtscore`` as the only ranking (the files hold no annotator's scores)."""
    refs = video.user_summary.astype(bool)
    annotation = VideoAnnotation(key, "", video.video_name or key, refs.astype(np.float32), "selection")
    return VideoContext(annotation, video.shots, refs, f1_reduce, RankedAnnotators.of(video.frame_scores(video.gtscore)[None]))


H5_SUMMARIES = {
    "vsumm": "per-step scores upsampled to frames (each pick's score holds until the next pick, the first one also "
             "before it); each change_points shot worth its mean frame score (a float, as vsumm-reinforce); "
             "vsumm-reinforce's 0/1 knapsack (ties keep the earlier shot) packs shots up to floor({budget:g} x n_frames) frames",
    "dsnet": "as DSNet's get_keyshot_summ: per-step scores upsampled in float32 (0 before the first pick); each "
             "change_points shot worth int(1000 x mean); OR-tools' dynamic-programming solver packs shots up to "
             "floor({budget:g} x n_frames) frames",
}
"""What a summary is, per ``--knapsack`` mode."""


def h5_protocol(params: EvaluateParams, f1_reduce: str, knapsack: str = "vsumm") -> dict:
    """What the figures of :func:`evaluate_h5` mean, in words."""
    return {
        "budget": params.budget,
        "knapsack": knapsack,
        "summary": H5_SUMMARIES[knapsack].format(budget=params.budget),
        "references": "the file's user_summary rows",
        "f1": f"{f1_reduce} over the user_summary rows (f1_mean/f1_max give both)",
        "correlation": "Kendall tau-b and Spearman rho against gtscore upsampled like the predictions: the h5 files "
                       "hold no per-annotator scores, so these are not the mean over annotators of Otani et al.",
        "splits": "each split: means over its test keys; summary: mean and std (population, np.std) over splits",
        "n_bootstrap": params.n_bootstrap,
        "seed": params.seed,
    }


def _h5_predictions(raw: object, n_splits: int, source: Path) -> list[dict[str, np.ndarray]]:
    """Per split, video group name -> scores; one object serves every split, a list gives one per split."""
    per_split = raw if isinstance(raw, list) else [raw] * n_splits
    if len(per_split) != n_splits:
        raise InputError(source, f"{len(per_split)} sets of predictions for {n_splits} splits")
    out = []
    for preds in per_split:
        if not isinstance(preds, Mapping):
            raise InputError(source, "expected {key: [scores...]}, or a list of them with one per split")
        parsed = parse_scores({k: {"scores": v, "frames_per_score": 1} for k, v in preds.items()}, source)
        by_name: dict[str, np.ndarray] = {}
        for key, entry in parsed.items():
            name = parse_key(key)[1]
            if name in by_name:
                raise InputError(source, f"two keys name video {name}")
            by_name[name] = entry.scores
        out.append(by_name)
    return out


def evaluate_h5(h5_path: Path, split_path: Path, predictions_path: Path, params: EvaluateParams, dataset: str,
                knapsack: str = "vsumm") -> dict:
    """Predictions on an h5 benchmark file, the DSNet protocol (:func:`h5_protocol`), split by split."""
    videos = read_h5(h5_path)
    splits = read_split_file(split_path)
    predictions = _h5_predictions(read_json(predictions_path), len(splits), predictions_path)
    f1_reduce = "max" if dataset == "summe" else "mean"
    contexts: dict[str, VideoContext] = {}
    reports = []
    for i, (split, preds) in enumerate(zip(splits, predictions)):
        per_video = {}
        for key in split.test_keys:
            file, name = parse_key(key)
            if file is not None and file != h5_path.name:
                raise InputError(split_path, f"split {i}: test key {key!r} is a video of {file}, not of {h5_path.name}")
            if name not in videos:
                raise InputError(split_path, f"split {i}: test key {key!r}: {h5_path} has no video {name}")
            if name not in preds:
                raise InputError(predictions_path, f"split {i}: no prediction for test video {name}")
            try:
                frame_scores = videos[name].frame_scores(preds[name], dsnet=knapsack == "dsnet")
            except ValueError as e:
                raise InputError(predictions_path, f"video {name}: {e}") from None
            if name not in contexts:
                contexts[name] = h5_context(name, videos[name], f1_reduce)
            try:
                per_video[name] = score_video(contexts[name], frame_scores, params.budget, knapsack)
            except ValueError as e:  # a knapsack too large for memory
                raise InputError(h5_path, f"video {name}: {e}") from None
        model = summarize(per_video, dict.fromkeys(per_video, ""), params.n_bootstrap, params.seed)
        reports.append({"test_keys": list(per_video), "model": model})
    derived = {name: list(v.derived) for name, v in videos.items() if v.derived}
    return {"dataset": dataset, "h5": str(h5_path), "split_file": str(split_path),
            "protocol": h5_protocol(params, f1_reduce, knapsack), "splits": reports, "summary": fold_summary(reports),
            "derived": {"videos": derived, "how": {k: DERIVED[k] for k in sorted({d for ds in derived.values() for d in ds})}}}


def format_h5_table(report: dict) -> str:
    """Each split's mean of each metric, then the mean and std over splits."""
    lines = [f"{report['dataset']} h5 {report['h5']}: {len(report['splits'])} splits",
             f"{'split':8}" + "".join(f"{m:>14}" for m in METRICS)]
    for i, s in enumerate(report["splits"]):
        lines.append(f"{i:<8}" + "".join(f"{s['model']['mean'][m]:>14.4f}" for m in METRICS))
    model = report["summary"]["model"]
    lines.append(f"{'mean':8}" + "".join(f"{model[m]['mean']:>14.4f}" for m in METRICS))
    lines.append(f"{'std':8}" + "".join(f"{model[m]['std']:>14.4f}" for m in METRICS))
    if report["derived"]["videos"]:
        lines.append(f"derived (missing from the file): {', '.join(report['derived']['how'])} of "
                     f"{len(report['derived']['videos'])} videos")
    return "\n".join(lines)


def _usage_error(args: argparse.Namespace) -> str | None:
    """Why the arguments do not make one evaluation, if they don't."""
    if args.h5:
        if args.scores is None or args.split_file is None or args.baselines or args.root:
            return "--h5 needs a predictions file and --split-file (and no --baselines or --root)"
        if args.dataset is None and ("summe" in args.h5.name.lower()) == ("tvsum" in args.h5.name.lower()):
            return f"cannot tell tvsum from summe by the name {args.h5.name}: give --dataset"
        return None
    if args.knapsack != "vsumm":
        return "--knapsack applies to --h5 evaluation"
    if args.root is None:
        return "give --root (a benchmark folder) or --h5"
    if (args.scores is None) == (not args.baselines):
        return "give a scores file, or --baselines (not both)"
    return None


def run(args: argparse.Namespace) -> int:
    problem = _usage_error(args)
    if problem:
        print(f"deevisum evaluate: error: {problem}", file=sys.stderr)
        return 2
    if args.output:
        check_output_path(args.output, [args.scores, args.h5, args.split_file, args.params, args.frames])
    params = _params(args)
    if args.h5:
        dataset = args.dataset or ("summe" if "summe" in args.h5.name.lower() else "tvsum")
        report = evaluate_h5(args.h5, args.split_file, args.scores, params, dataset, args.knapsack)
    else:
        bench = read_benchmark(args.dataset or "tvsum", args.root)
        shots = evaluation_shots(params, args.frames)
        if args.baselines:
            report = baselines(bench, params, shots)
        else:
            report = evaluate_scores(read_scores(args.scores), bench, params, shots, source=args.scores)
    print(format_h5_table(report) if args.h5 else format_table(report))
    if args.output:
        write_json(args.output, report)
    return 0
