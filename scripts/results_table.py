"""Render the README's results tables from the stages' reports, never by hand.

    python scripts/results_table.py                    # print the markdown
    python scripts/results_table.py --readme README.md # rewrite the block between the markers, and the
                                                       # latency block of docs/early-exit.md

Reads ``reports/ablation.json`` (stage evaluate_ablation: per variant and for the random / human /
oracle baselines, F1 / Kendall tau / Spearman rho as mean and std over the folds' test videos,
and the paired comparisons with their bootstrap CIs and permutation p-values) and
``reports/eval.json`` (stage evaluate: the student at the early-exit operating point against
full depth: agreement, quality, decoder layers run, the layer bound and the measured speedup;
beside it the exit rules that consult no confidence -- static depth, random exit at the same
mean layers, patience -- and the oracle exit), and ``benchmarks/results/early_exit_speed.json``
(latency and throughput per batch size and machine, when the benchmark has been run: printed last,
written to the early-exit page, whose block sits between ``LATENCY_MARKERS``).
The speedup is wall time measured by that stage, so the block changes whenever it is re-run,
even with the same results. A missing file is reported in the table (and on stderr) instead of
failing, so a partial pipeline still renders. Not a DVC stage on purpose: its output is the
hand-edited, git-tracked README, which no stage may own; it is run by hand after ``dvc repro``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from deevisum.io import atomic_path

START, END = "<!-- results:start -->", "<!-- results:end -->"
LATENCY_MARKERS = ("<!-- latency:start -->", "<!-- latency:end -->")
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
    "baseline_oracle": "oracle (annotators' mean score as the prediction)",
}
"""Row names, in table order, of the ablation variants (deevisum.evaluation.ablation.VARIANTS) and baselines;
unknown ones print as is, last."""
COMPARISONS = {
    "mskd_vs_kd": "MSKD − single-stage KD",
    "kd_vs_ce": "single-stage KD − CE only",
    "teacher_vs_student": "teacher − MSKD student",
    "full_vs_frame": "full prompt − frame only (CE)",
    "full_vs_frame_title": "full prompt − frame + title (CE)",
    "full_vs_frame_title_audio": "full prompt − frame + title + audio cues (CE)",
    "teacher_title": "teacher − the same teacher scored without category and title",
    "teacher_speech": "teacher − the same teacher scored without the speech",
}
"""Row names, in table order, of the paired comparisons (deevisum.evaluation.ablation.COMPARISONS);
unknown ones print as ``name (a − b)``, last."""


def _load(path: Path, stage: str) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"results_table: {path} not found (run `dvc repro {stage}`); its table is left out", file=sys.stderr)
    except json.JSONDecodeError as e:
        print(f"results_table: {path} is not valid JSON ({e}); its table is left out", file=sys.stderr)
    return None


def _ordered(rows: Mapping[str, object], order: Mapping[str, str]) -> list[tuple[str, object]]:
    """``rows`` in the order of ``order``'s keys, unknown names last."""
    rank = {name: k for k, name in enumerate(order)}
    return sorted(rows.items(), key=lambda item: rank.get(item[0], len(rank)))


def _interval(lo: float, hi: float) -> str:
    return f"[{lo:.3f}, {hi:.3f}]"


def ablation_table(report: Mapping) -> list[str]:
    """Variants and baselines over every fold's test videos: mean ± std over folds (one fold: its mean
    with the 95% bootstrap CI over videos)."""
    folds = report["folds"]
    if len(folds) > 1:
        how = f"Mean ± std over the {len(folds)} folds of each fold's mean over its test videos."

        def cell(row: Mapping, m: str) -> str:
            return f"{row[m]:.3f} ± {row[f'{m}_std']:.3f}"
    else:
        how = "One fold: mean over its test videos [95% bootstrap CI]."

        def cell(row: Mapping, m: str) -> str:
            return f"{row[m]:.3f} {_interval(*row[f'{m}_ci95'])}"
    lines = [
        f"Test videos: {report['n_test_videos']} (folds {', '.join(map(str, folds))}; {report['n_seeds']} seed(s) per "
        f"fold, a video's metrics averaged over its seeds). {how}",
        "",
        "| model | " + " | ".join(name for _, name in QUALITY) + " |",
        "|---|" + "---|" * len(QUALITY),
    ]
    for name, row in _ordered(report["table"], LABELS):
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cell(row, m) for m, _ in QUALITY) + " |")
    return lines


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def comparisons_table(report: Mapping) -> list[str]:
    """Paired comparisons: mean per-video difference [95% paired bootstrap CI], permutation p, holds or not."""
    comparisons = report.get("comparisons") or {}
    if not comparisons:
        return ["_no comparison: the report holds no pair of compared variants_"]
    lines = [
        f"Paired on the same {report['n_test_videos']} test videos: mean per-video difference a − b "
        "[95% paired bootstrap CI], two-sided sign-flip permutation p-value; ✓: the CI lies above 0.",
        "",
        "| comparison (a − b) | " + " | ".join(name for _, name in QUALITY) + " |",
        "|---|" + "---|" * len(QUALITY),
    ]
    for name, c in _ordered(comparisons, COMPARISONS):
        label = COMPARISONS.get(name, f"{name} ({c['a']} − {c['b']})")
        cells = [f"{c[m]['mean_diff']:+.3f} {_interval(*c[m]['ci95'])}, {_p(c[m]['p_value'])} {'✓' if c[m]['holds'] else '✗'}"
                 for m, _ in QUALITY]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _threshold(report: Mapping) -> str:
    """The operating threshold: one number, or each run's (``–``: none certified, full depth)."""
    if report["threshold"] is not None:
        return f"{report['threshold']:g}"
    per_run = report["thresholds"]
    if all(t is None for t in per_run.values()):
        return "none certified (full depth)"
    return "per run: " + ", ".join(f"{run} {'–' if t is None else f'{t:g}'}" for run, t in per_run.items())


def early_exit_table(report: Mapping) -> list[str]:
    """The student at the early-exit operating point against full depth: agreement, quality (with the
    change from full depth), decoder layers run, the layer bound and the measured speedup."""
    full, depth = report["full_depth"], report["depth"]
    if report["threshold_source"] == "calibrated":
        tolerance = report.get("score_tolerance")
        source = (f"Threshold calibrated per run on {report.get('calibration_set', 'its validation videos')}: the "
                  "smallest that Learn-then-Test certifies "
                  f"for ≥ {report['target_agreement']:.0%} agreement with full depth (δ = {report['delta']:g}"
                  + (f", expected scores within {tolerance:g}" if tolerance is not None else "") + ").")
    else:
        source = "Threshold set by hand (`ee.threshold`)."
    speedup = f"{report['speedup']:.2f}×" if "speedup" in report else "–"
    return [
        (f"Student, {report['n_segments']} test segments of {report['n_videos']} videos ({len(report['runs'])} run(s): "
         f"fold × seed); exits after layers {report['exit_layers']} of {depth}, confidence `{report['confidence']}`. "
         f"{source} Agreement: share of segments whose answer is full depth's. Layer bound: depth / mean decoder layers "
         "run, the most early exit can save in decoder compute. Speedup: measured wall time, full depth / early exit "
         "in the same process on the same batches (it varies from run to run). In parentheses: the change from "
         "full depth."),
        "",
        "| student | threshold | agreement vs full | " + " | ".join(name for _, name in QUALITY)
        + " | decoder layers run | layer bound | speedup (measured) |",
        "|---|" + "---|" * (len(QUALITY) + 5),
        "| full depth | – | 100% | " + " | ".join(f"{full[m]:.3f}" for m, _ in QUALITY) + f" | {depth} | 1.00× | 1.00× |",
        f"| early exit | {_threshold(report)} | {report['agreement_vs_full']:.1%} | "
        + " | ".join(f"{report[m]:.3f} ({-report[f'{m}_drop']:+.3f})" for m, _ in QUALITY)
        + f" | {report['mean_layers']:.2f} | {report['layer_bound']:.2f}× | {speedup} |",
        *_later_layers(report),
        *_baselines(report),
    ]


def _later_layers(report: Mapping) -> list[str]:
    """The premise of early exit: full depth against the same student stopped after its first exit, paired."""
    later = report.get("later_layers")
    if later is None:
        return []
    first, diff = later["first_exit"], later["full_minus_first_exit"]
    tau = diff["kendall_tau"]
    return [
        f"| first exit only (every segment leaves after layer {later['exit_layer']}) | – | – | "
        + " | ".join(f"{first[m]:.3f}" for m, _ in QUALITY) + f" | {later['exit_layer']} | – | – |",
        "",
        f"Do the later layers matter? Full depth − first exit only, paired over the test videos: Kendall τ "
        f"{tau['mean_diff']:+.3f} {_interval(*tau['ci95'])}, {_p(tau['p_value'])} "
        f"{'✓' if tau['ci95'][0] > 0 else '✗'}.",
    ]


BASELINES = {
    "early_exit": "**early exit** (operating point)",
    "random_mix": "random exit at the same mean layers",
    "oracle": "oracle (first exit that agrees)",
    "oracle_at_target": "oracle at the target agreement (the least compute any exit rule could reach with these heads)",
}
"""Row names of the exit rules (deevisum.early_exit.baselines); ``static_<k>`` and ``patience_<t>`` are named below."""


def _rule(name: str) -> str:
    kind, _, n = name.rpartition("_")
    if kind == "static":
        return f"static depth: every segment leaves after layer {n}"
    if kind == "patience":
        return f"patience (PABEE), {n} repeated answer(s)"
    return BASELINES.get(name, name)


def _pp(x: float) -> str:
    """A difference of shares in percentage points."""
    return f"{100 * x:+.1f} pp"


def _baselines(report: Mapping) -> list[str]:
    """Early exit beside exit rules that consult no confidence, at their mean layers, with CIs over test videos;
    and early exit - random exit at equal mean layers, paired over the test videos."""
    rows, versus = report.get("baselines"), report.get("ee_minus_random_mix")
    if not rows or not versus:
        return []
    lines = ["", "Early exit beside exit rules that consult no confidence (mean over test videos [95% bootstrap CI "
             "over videos]; agreement pooled over segments):", "",
             "| exit rule | decoder layers run | layer bound | agreement vs full | Kendall τ |", "|---|---|---|---|---|"]
    for r in rows:
        a, t = r["agreement_vs_full"], r["kendall_tau"]
        lines.append(f"| {_rule(r['method'])} | {r['mean_layers']:.2f} | {r['layer_bound']:.2f}× | {a['mean']:.1%} "
                     f"[{a['ci95'][0]:.1%}, {a['ci95'][1]:.1%}] | {t['mean']:.3f} {_interval(*t['ci95'])} |")
    agreement, tau = versus["agreement_vs_full"], versus["kendall_tau"]
    lines += ["", f"Does the confidence beat chance? Early exit − random exit at the same {versus['mean_layers']:.2f} mean "
              f"layers, paired over the {agreement['n_videos']} test videos: agreement {_pp(agreement['mean_diff'])} "
              f"[{_pp(agreement['ci95'][0])}, {_pp(agreement['ci95'][1])}] (per-video shares), {_p(agreement['p_value'])} "
              f"{'✓' if agreement['holds'] else '✗'}; Kendall τ {tau['mean_diff']:+.3f} {_interval(*tau['ci95'])}, "
              f"{_p(tau['p_value'])} {'✓' if tau['holds'] else '✗'}.{_paper_point(report)}"]
    return lines


def _paper_point(report: Mapping) -> str:
    """The paper's early-exit trade-off beside ours (``paper_point``), as a sentence; '' when not reported."""
    paper = report.get("paper_point")
    if not paper:
        return ""
    ours = paper["f1_drop_here_at_that_speedup"]
    here = (f"on this sweep's measured curve F1 changes by {-ours:+.3f} at {paper['speedup']:.2f}×" if ours is not None
            else "no threshold of this sweep got that fast")
    return (f" The paper's point, {paper['speedup']:.2f}× (21% less time) for {-paper['f1_drop']:+.3f} F1: {here} "
            f"(one run's wall times; F1 on {report['n_videos']} videos moves in whole-shot steps).")


def _ablation_sections(report: Mapping) -> list[str]:
    return [*ablation_table(report), "", "### Comparisons", "", *comparisons_table(report)]


def _section(build: Callable[[Mapping], list[str]], report: Mapping | None, command: str) -> list[str]:
    """``build(report)``, or a note naming the ``command`` that writes the report when it is missing or in an
    older format."""
    if not report:
        return [f"_not available: run `{command}`_"]
    try:
        return build(report)
    except KeyError as e:
        print(f"results_table: the metrics of `{command}` lack {e} (written by an older version?); its table is left out",
              file=sys.stderr)
        return [f"_not available: the metrics lack {e}; re-run `{command}`_"]


def _distribution(fractions: Mapping[str, float]) -> str:
    """An exit distribution as "60% at 2, 40% at 6"."""
    return ", ".join(f"{f:.0%} at {k}" for k, f in sorted(fractions.items(), key=lambda i: int(i[0])))


def latency_table(report: Mapping) -> list[str]:
    """``benchmarks/early_exit_speed.py``: per architecture and batch size, full depth against the measured exit
    distribution -- latency, throughput, speedup [95% CI over rounds], layer bound, their ratio, the vision share --
    and the speedups of the oracle at the target's exits and of the first exit ("–" where an older run lacks one)."""
    lines = ["Measured by `benchmarks/early_exit_speed.py` (random weights, fp32; each row: batch size, p50 / p95 "
             "latency of a batch over timing rounds, throughput = batch / median round time, speedup = median of the "
             "paired round ratios full / early exit [95% bootstrap CI over rounds] with the measured exit distribution, "
             "layer bound = depth / mean layers run, vision = the vision tower's share of full-depth time; it never "
             "exits, so the bound with vision, 1 / (vision + (1 − vision) · mean layers / depth), is the most skipping "
             "layers can give; oracle at the target: the same replay of the oracle at the target agreement's exits, the "
             "most any confidence could give these heads at that agreement; every segment at the first exit: the speedup "
             "of the fastest exit rule there is, whatever its agreement).", ""]
    for entry in report.values():
        m = entry["machine"]
        oracle_at = entry.get("oracle_at_target_distribution")
        lines += [f"{entry['model']}; exits {entry['exit_layers']}, distribution " + _distribution(entry["exit_distribution"])
                  + (f" (oracle at the target: {_distribution(oracle_at)})" if oracle_at else "")
                  + f"; {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, torch {m['torch']}; "
                  f"{entry['repeats']} rounds, {entry['when']}.", "",
                  "| batch | full p50 / p95 | early exit p50 / p95 | segments/s full → EE | speedup | layer bound "
                  "| speedup / bound | vision share | bound with vision | oracle at the target | every segment at the first exit |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for batch, row in sorted(entry["batches"].items(), key=lambda item: int(item[0])):
            full, ee = row["settings"]["full"], row["settings"]["measured"]
            first = row["settings"][f"exit_{entry['exit_layers'][0]}"]["speedup"]
            oracle = row["settings"].get("oracle_at_target", {}).get("speedup")
            lo, hi = ee["speedup"]["ci95"]
            lines.append(f"| {batch} | {full['latency_p50_s']:.3g} / {full['latency_p95_s']:.3g} s | {ee['latency_p50_s']:.3g} / "
                         f"{ee['latency_p95_s']:.3g} s | {full['segments_per_s']:.3g} → {ee['segments_per_s']:.3g} | "
                         f"{ee['speedup']['median']:.2f}× [{lo:.2f}, {hi:.2f}] | {ee['layer_bound']:.2f}× | "
                         f"{ee['speedup_over_bound']:.2f} | {row['vision_share_of_full']:.0%} | "
                         + (f"{ee['bound_with_vision']:.2f}× |" if "bound_with_vision" in ee else "– |")
                         + (f" {oracle['median']:.2f}× [{oracle['ci95'][0]:.2f}, {oracle['ci95'][1]:.2f}] |" if oracle else " – |")
                         + f" {first['median']:.2f}× [{first['ci95'][0]:.2f}, {first['ci95'][1]:.2f}] |")
        lines.append("")
    return lines[:-1]


def render(ablation: Mapping | None, evaluation: Mapping | None) -> str:
    """The markdown between the README markers."""
    parts = ["### Ablation (keyshot F1, rank correlations)", "", *_section(_ablation_sections, ablation, "dvc repro evaluate_ablation")]
    parts += ["", "### Early exit", "", *_section(early_exit_table, evaluation, "dvc repro evaluate")]
    return "\n".join(parts) + "\n"


def render_latency(speed: Mapping) -> str:
    """The markdown between the latency markers of the early-exit page."""
    return "\n".join(_section(latency_table, speed, "python benchmarks/early_exit_speed.py")) + "\n"


def splice(text: str, block: str, markers: tuple[str, str] = (START, END)) -> str:
    """``text`` with everything between ``markers`` replaced by ``block``."""
    (start_mark, end_mark) = markers
    start, end = text.find(start_mark), text.find(end_mark)
    if start < 0 or end < start:
        raise ValueError(f"the markers {start_mark} ... {end_mark} are missing (or out of order)")
    return text[: start + len(start_mark)] + "\n" + block + text[end:]


def rewrite(path: Path, block: str, markers: tuple[str, str]) -> bool:
    """Replace the block between ``markers`` in ``path``; False (said on stderr) when that fails."""
    try:
        text = splice(path.read_text(encoding="utf-8"), block, markers)
    except (OSError, ValueError) as e:
        print(f"results_table: {path}: {e}", file=sys.stderr)
        return False
    with atomic_path(path) as tmp:  # a crash never leaves a half-written page
        tmp.write_text(text, encoding="utf-8")
    print(f"results_table: updated {path}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", type=Path, default=Path("reports/ablation.json"))
    parser.add_argument("--eval", type=Path, default=Path("reports/eval.json"))
    parser.add_argument("--speed", type=Path, default=Path("benchmarks/results/early_exit_speed.json"),
                        help="the early-exit latency benchmark's results (left out when absent)")
    parser.add_argument("--readme", type=Path, help="rewrite the results block of this file instead of printing")
    parser.add_argument("--latency-doc", type=Path, default=Path("docs/early-exit.md"),
                        help="with --readme: the page whose latency block is rewritten from --speed")
    args = parser.parse_args(argv)
    ablation, evaluation = _load(args.ablation, "evaluate_ablation"), _load(args.eval, "evaluate")
    speed = json.loads(args.speed.read_text(encoding="utf-8")) if args.speed.is_file() else None
    block = render(ablation, evaluation)
    if args.readme is None:
        print(block + ("\n### Early-exit latency\n\n" + render_latency(speed) if speed else ""), end="")
    else:
        if not rewrite(args.readme, block, (START, END)):
            return 1
        if speed and not rewrite(args.latency_doc, render_latency(speed), LATENCY_MARKERS):
            return 1
    return 0 if ablation or evaluation else 1


if __name__ == "__main__":
    raise SystemExit(main())
