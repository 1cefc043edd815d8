"""``deevisum evaluate``: score a scores file (or print the baselines alone) from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from deevisum.config import EvaluateParams, load_params
from deevisum.data.benchmarks import read_benchmark
from deevisum.evaluation.baselines import baselines
from deevisum.evaluation.context import METRICS, evaluation_shots
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.evaluation.scores import read_scores
from deevisum.io import InputError, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scores", nargs="?", type=Path, help="scores file: {video_id: {scores, frames_per_score, shots?}}")
    parser.add_argument("--baselines", action="store_true", help="only compute the random and human baselines")
    parser.add_argument("--dataset", choices=["tvsum", "summe"], default="tvsum")
    parser.add_argument("--root", type=Path, required=True, help="benchmark folder (e.g. ../shared/data/tvsum)")
    parser.add_argument("--params", type=Path, help="params.yaml whose 'evaluate' section gives the defaults")
    parser.add_argument("--shots", choices=["fixed", "kts", "file"], help="shots (default: kts with --frames, else fixed)")
    parser.add_argument("--frames", type=Path, help="frames.h5 whose frames feed KTS")
    parser.add_argument("--budget", type=float, help="summary length fraction (default 0.15)")
    parser.add_argument("--reference", choices=["segments", "shots"], help="TVSum reference summaries")
    parser.add_argument("-o", "--output", type=Path, help="write the JSON report here")
    parser.set_defaults(func=run)


def _params(args: argparse.Namespace) -> EvaluateParams:
    p = load_params(args.params).evaluate if args.params else EvaluateParams()
    shots = args.shots or ("kts" if args.frames else p.shots if args.params else "fixed")
    changes = {"shots": shots, "budget": args.budget, "tvsum_reference": args.reference}
    return dataclasses.replace(p, **{k: v for k, v in changes.items() if v is not None})


def format_table(report: dict) -> str:
    """Model (if any), random and human rows: mean [95% CI] of each metric."""
    blocks = ({"model": report["model"]} if "model" in report else {}) | report.get("baselines", {})
    lines = [f"{report['dataset']}: {next(iter(blocks.values()))['n_videos']} videos, shots={report['protocol']['shots']}"]
    lines.append(f"{'':8}" + "".join(f"{m:>26}" for m in METRICS))
    for name, b in blocks.items():
        cells = "".join(f"{b['mean'][m]:>10.4f} [{b['ci95'][m][0]:.3f},{b['ci95'][m][1]:.3f}]" for m in METRICS)
        lines.append(f"{name:8}{cells}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if (args.scores is None) == (not args.baselines):
        print("deevisum evaluate: give a scores file, or --baselines (not both)", file=sys.stderr)
        return 2
    params = _params(args)
    try:
        bench = read_benchmark(args.dataset, args.root)
        shots = evaluation_shots(params, args.frames)
        if args.baselines:
            report = baselines(bench, params, shots)
        else:
            report = evaluate_scores(read_scores(args.scores), bench, params, shots, source=args.scores)
    except InputError as e:
        print(f"deevisum evaluate: {e}", file=sys.stderr)
        return 1
    print(format_table(report))
    if args.output:
        write_json(args.output, report)
    return 0
