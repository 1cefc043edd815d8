"""Render the README's results tables from the metrics files, never by hand.

    python scripts/results_table.py                    # print the markdown
    python scripts/results_table.py --readme README.md # rewrite the block between the markers

Reads ``metrics/ablation.json`` (stage evaluate_ablation: F1 / Kendall tau / Spearman rho with
95% bootstrap CIs per variant and the random/human baselines) and ``metrics/eval.json`` (stage
evaluate: the student with early exit at ``ee.threshold`` against full depth: quality, decoder
layers run and the layer-count bound; its wall times are in an untracked report that is not read
here, so the block only changes when the results do). A missing file is
reported in the table (and on stderr) instead of failing, so a partial pipeline still renders.
Not a DVC stage on purpose: its output is the hand-edited, git-tracked README, which no stage
may own; ``scripts/repro.sh`` runs it after ``dvc repro``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from deevisum.io import atomic_path

START, END = "<!-- results:start -->", "<!-- results:end -->"
QUALITY = (("f1", "F1"), ("kendall_tau", "Kendall τ"), ("spearman_rho", "Spearman ρ"))
LABELS = {
    "teacher": "teacher (finetuned)",
    "mentor": "mentor (KD from teacher)",
    "student": "**student, MSKD** (teacher → mentor → student)",
    "student_kd": "student, single-stage KD from teacher",
    "student_frame": "student, CE, frame only",
    "student_frame_title": "student, CE, frame + title",
    "student_frame_title_audio": "student, CE, frame + title + audio cues",
    "student_ce": "student, CE, frame + title + audio cues + speech (no KD)",
    "baseline_random": "random scores",
    "baseline_human": "human (leave-one-out)",
}
"""Row names, in table order, of the ablation variants (deevisum.evaluation.ablation.VARIANTS) and baselines;
unknown ones print as is, last."""


def _load(path: Path, stage: str) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"results_table: {path} not found (run `dvc repro {stage}`); its table is left out", file=sys.stderr)
    except json.JSONDecodeError as e:
        print(f"results_table: {path} is not valid JSON ({e}); its table is left out", file=sys.stderr)
    return None


def _ci(row: Mapping, metric: str) -> str:
    lo, hi = row[f"{metric}_ci95"]
    return f"{row[metric]:.3f} [{lo:.3f}, {hi:.3f}]"


def ablation_table(report: Mapping) -> list[str]:
    """Variants and baselines: mean over test videos with the 95% bootstrap CI."""
    lines = [
        f"Test videos: {report['n_test_videos']}. Mean over videos [95% bootstrap CI].",
        "",
        "| model | " + " | ".join(name for _, name in QUALITY) + " |",
        "|---|" + "---|" * len(QUALITY),
    ]
    order = {name: k for k, name in enumerate(LABELS)}  # variants, then baselines; unknown names last
    for name, row in sorted(report["table"].items(), key=lambda item: order.get(item[0], len(order))):
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(_ci(row, m) for m, _ in QUALITY) + " |")
    checks = report.get("checks") or {}
    if checks:
        lines += ["", "Checks: " + ", ".join(f"{k} {'✓' if ok else '✗'}" for k, ok in checks.items()) + "."]
    return lines


def early_exit_table(report: Mapping) -> list[str]:
    """The student at ``ee.threshold`` against full depth: quality, decoder layers run, the layer bound.

    Only what ``metrics/eval.json`` holds, which is the same on every run: wall times differ run to
    run and live in the untracked timing report of stage evaluate, so they are never read here
    (the README must not change when nothing but the clock did).
    """
    full, depth = report["full_depth"], report["depth"]
    head = "| student | " + " | ".join(name for _, name in QUALITY) + " | decoder layers run | layer bound | F1 drop |"
    lines = [
        (f"Student, {report['n_segments']} test segments of {report['n_videos']} videos; exits after layers "
         f"{report['exit_layers']} of {depth}. Layer bound: depth / mean decoder layers run, the most early exit "
         "can save in decoder compute (wall-clock speedups: `reports/evaluate_timing.json` of your own run)."),
        "",
        head,
        "|---|" + "---|" * (len(QUALITY) + 3),
        "| full depth | " + " | ".join(f"{full[m]:.3f}" for m, _ in QUALITY) + f" | {depth} | 1.00× | – |",
        f"| early exit, threshold {report['threshold']:g} | " + " | ".join(f"{report[m]:.3f}" for m, _ in QUALITY)
        + f" | {report['mean_layers']:.2f} | {report['layer_bound']:.2f}× | {report['f1_drop']:+.3f} |",
    ]
    return lines


def render(ablation: Mapping | None, evaluation: Mapping | None) -> str:
    """The markdown between the README markers."""
    parts = ["### Ablation (keyshot F1, rank correlations)", ""]
    parts += ablation_table(ablation) if ablation else ["_not available: run `dvc repro evaluate_ablation`_"]
    parts += ["", "### Early exit", ""]
    parts += early_exit_table(evaluation) if evaluation else ["_not available: run `dvc repro evaluate`_"]
    return "\n".join(parts) + "\n"


def splice(text: str, block: str) -> str:
    """``text`` with everything between the results markers replaced by ``block``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the markers {START} ... {END} are missing (or out of order)")
    return text[: start + len(START)] + "\n" + block + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", type=Path, default=Path("metrics/ablation.json"))
    parser.add_argument("--eval", type=Path, default=Path("metrics/eval.json"))
    parser.add_argument("--readme", type=Path, help="rewrite the results block of this file instead of printing")
    args = parser.parse_args(argv)
    ablation, evaluation = _load(args.ablation, "evaluate_ablation"), _load(args.eval, "evaluate")
    block = render(ablation, evaluation)
    if args.readme is None:
        print(block, end="")
    else:
        try:
            text = splice(args.readme.read_text(encoding="utf-8"), block)
        except (OSError, ValueError) as e:
            print(f"results_table: {args.readme}: {e}", file=sys.stderr)
            return 1
        with atomic_path(args.readme) as tmp:  # a crash never leaves a half-written README
            tmp.write_text(text, encoding="utf-8")
        print(f"results_table: updated {args.readme}")
    return 0 if ablation or evaluation else 1


if __name__ == "__main__":
    raise SystemExit(main())
