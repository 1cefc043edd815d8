"""The early-exit report: the calibrated operating point and a sweep, against full depth, in one run.

For every run (fold x seed) the student scores its fold's test videos. What early exit
*computes* is read off one full-depth pass that keeps each exit's hidden states: a threshold
only decides which exit's answer a row takes, so the answers, layers, agreement with full
depth and quality of any threshold follow without re-running the model (the runner's real
row removal gives the same answers: ``max_abs_logit_diff_runner_vs_states`` checks it on every
timed setting). What it *costs* is wall time: full depth and each threshold are timed in the
same process on the same batches (:mod:`deevisum.early_exit.timing`).

Beside the operating point stand the exit rules that consult no confidence (static depth, a random
mix at the same mean layers, patience) and the oracle exit, alone and at the target agreement
(:mod:`deevisum.early_exit.baselines`),
each with bootstrap CIs over test videos, and early exit - random mix paired over test videos.

The operating threshold comes from the calibration rows saved with each run's heads
(:func:`deevisum.early_exit.calibration.calibrate`), or from ``ee.threshold`` when it is set.
Test rows are never used to choose it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deevisum.config import Params
from deevisum.data.benchmarks import Benchmark
from deevisum.data.examples import ProcessedData
from deevisum.data.prompts import prompts_for
from deevisum.data.splits import Run, runs
from deevisum.early_exit.baselines import (
    oracle_at_target,
    oracle_exit,
    patience_exit,
    random_mix,
    random_mix_agreement,
    static_exit,
)
from deevisum.early_exit.calibration import (
    NEVER,
    Calibration,
    agrees,
    auroc,
    auroc_ci,
    calibrate,
    first_exit,
)
from deevisum.early_exit.heads import CONFIDENCES, VALIDATION, VIDEO_CODES, load_exit_heads, load_validation
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.early_exit.timing import (
    FULL,
    SCORING,
    TimedPass,
    example_batches,
    exit_histogram,
    speed_summary,
    timed_settings,
)
from deevisum.evaluation.context import evaluation_shots
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.evaluation.scores import scores_file
from deevisum.evaluation.stats import cluster_ci, paired_comparison
from deevisum.headlines import QUALITY
from deevisum.io import BadInputReport, InputError
from deevisum.models.scoring import answer_token_ids, expected_score
from deevisum.models.vlm import load_vlm, model_modalities


@dataclass
class RunOutputs:
    """One run's test rows: each exit's answers and confidences, full depth's answers, the timings."""

    run: Run
    examples: list[dict]
    exit_layers: list[int]
    depth: int
    """Decoder layers of the student."""
    exit_logits: torch.Tensor
    """(n_exits, N, n_answers)."""
    confidence: dict[str, np.ndarray]
    """Measure -> (n_exits, N)."""
    full_logits: torch.Tensor
    calibration: Calibration
    timed: dict[Any, TimedPass]

    def agreement(self, tolerance: float) -> np.ndarray:
        """(n_exits, N) bool: whether each exit's answer is full depth's (:func:`calibration.agrees`)."""
        return np.stack([agrees(self.exit_logits[i], self.full_logits, tolerance).numpy()
                         for i in range(len(self.exit_layers))])


def validation_calibration(exits_dir: str | Path, measure: str, p: Params) -> Calibration:
    """The Learn-then-Test threshold of one run from its saved calibration outputs (with ``ee.calibration_unit``
    video, grouped by the video codes saved with them; ``n_videos`` counts those videos wherever they are saved)."""
    val = load_validation(exits_dir)
    n_exits = sum(1 for k in val if k.startswith("logits_"))
    agree = np.stack([agrees(val[f"logits_{i}"], val["final_logits"], p.ee.score_tolerance).numpy() for i in range(n_exits)])
    conf = np.stack([val[f"{measure}_{i}"].numpy() for i in range(n_exits)])
    videos = val[VIDEO_CODES].numpy() if VIDEO_CODES in val else None
    if videos is None and p.ee.calibration_unit == "video":
        raise InputError(Path(exits_dir) / VALIDATION, "no video of each calibration row, which ee.calibration_unit "
                         "video needs (saved by train_exits since it was added: re-run it)")
    calibration = calibrate(conf, agree, p.ee.target_agreement, p.ee.delta, videos if p.ee.calibration_unit == "video" else None)
    return calibration if videos is None else dataclasses.replace(calibration, n_videos=len(np.unique(videos)))


def run_outputs(student_dir: Path, exits_dir: Path, data: ProcessedData, run: Run, calibration: Calibration,
                thresholds: Sequence[float], p: Params) -> RunOutputs:
    """Score one run's test rows: one state-keeping full-depth pass, then every timed setting."""
    examples = data.examples("test")
    model, processor = load_vlm(student_dir)
    heads = load_exit_heads(exits_dir)
    runner = EarlyExitRunner(model, answer_token_ids(processor.tokenizer), heads)
    prompts = prompts_for(examples, model_modalities(student_dir), p.prompts.template)  # as the student is scored
    batches = example_batches(processor, prompts, data.frames(examples), p.ee.batch_size)
    states, finals = zip(*(runner.collect(b) for b in batches))
    per_exit = [torch.cat([s[i] for s in states]) for i in range(len(heads.config.exit_layers))]
    with torch.no_grad():
        outs = [heads.confidences(i, h.to(heads.prototypes.device, heads.prototypes.dtype)) for i, h in enumerate(per_exit)]
    exit_logits = torch.stack([o[0].float().cpu() for o in outs])
    confidence = {m: np.stack([o[1][m].float().cpu().numpy() for o in outs]) for m in CONFIDENCES}
    # thresholds at which every row leaves at the same exit run exactly the same computation: timed once
    pattern = {t: first_exit(confidence[p.ee.confidence], t).tobytes() for t in thresholds}
    first_with = {}
    for t in thresholds:
        first_with.setdefault(pattern[t], t)
    timed = timed_settings(runner, batches, sorted(first_with.values()), p.ee.confidence, p.ee.timing_repeats)
    for t in thresholds:
        timed[t] = timed[first_with[pattern[t]]]
    return RunOutputs(run, examples, list(heads.config.exit_layers), runner.depth, exit_logits, confidence,
                      torch.cat(finals), calibration, timed)


def exited(o: RunOutputs, threshold: float, measure: str, depth: int, exit_layers: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Answers and layers run per row at ``threshold``, from the kept states (no model pass)."""
    return taken(o, first_exit(o.confidence[measure], threshold), depth, exit_layers)


def taken(o: RunOutputs, at: np.ndarray, depth: int, exit_layers: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Answers and layers run per row when row r leaves at exit ``at[r]`` (-1: full depth)."""
    logits = o.full_logits.clone()
    rows = np.flatnonzero(at >= 0)
    logits[rows] = o.exit_logits[at[rows], rows]
    layers = torch.full((len(at),), depth, dtype=torch.long)
    layers[rows] = torch.as_tensor(np.asarray(exit_layers)[at[rows]], dtype=torch.long)
    return logits, layers


PerVideo = Callable[[torch.Tensor], dict[str, dict[str, float]]]
"""Logits of the pooled test rows -> each test video's quality (``QUALITY``)."""


@dataclass
class Composed:
    """The pooled test rows under one exit rule: per-video quality and agreement, the layers run."""

    quality: dict[str, dict[str, float]]
    agreeing: dict[str, float]
    """Rows per video whose answer agrees with full depth (averaged over draws for a random rule)."""
    rows: dict[str, float]
    mean_layers: float


def compose(outputs: Sequence[RunOutputs], per_run: Sequence[np.ndarray], per_video: PerVideo, p: Params) -> Composed:
    """Score the pooled test rows when run ``k``'s row ``r`` leaves at exit ``per_run[k][r]`` (-1: full depth)."""
    depth, exit_layers = outputs[0].depth, outputs[0].exit_layers
    parts = [taken(o, at, depth, exit_layers) for o, at in zip(outputs, per_run)]
    logits, layers = torch.cat([x[0] for x in parts]), torch.cat([x[1] for x in parts])
    agree = agrees(logits, torch.cat([o.full_logits for o in outputs]), p.ee.score_tolerance).numpy()
    videos = np.array([e["video_id"] for o in outputs for e in o.examples])
    names = sorted(set(videos))
    return Composed(per_video(logits), {v: float(agree[videos == v].sum()) for v in names},
                    {v: float((videos == v).sum()) for v in names}, float(layers.float().mean()))


def mean_quality(videos: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each ``QUALITY`` figure averaged over the test videos (videos weigh the same, whatever their length)."""
    return {m: float(np.mean([q[m] for q in videos.values()])) for m in QUALITY}


def _averaged(draws: Sequence[Composed]) -> Composed:
    """Several draws of a random rule as one: per-video figures and layers averaged."""
    first = draws[0]
    return Composed({v: {m: float(np.mean([d.quality[v][m] for d in draws])) for m in QUALITY} for v in first.quality},
                    {v: float(np.mean([d.agreeing[v] for d in draws])) for v in first.agreeing}, first.rows,
                    float(np.mean([d.mean_layers for d in draws])))


def baseline_comparison(outputs: Sequence[RunOutputs], point: Composed, per_video: PerVideo,
                        p: Params) -> tuple[list[dict[str, Any]], dict[str, Any], torch.Tensor]:
    """(one row per exit rule -- the operating point, static depth at each exit, a random mix at the operating
    point's mean layers, PABEE at each patience, the oracle, the oracle at the target agreement -- with 95%
    bootstrap CIs over test videos;
    early exit - random mix at equal mean layers, paired over test videos, for agreement and Kendall tau;
    the layers the oracle at the target runs per pooled test row)."""
    depth, exit_layers = outputs[0].depth, outputs[0].exit_layers
    e = p.evaluate
    agree = [o.agreement(p.ee.score_tolerance) for o in outputs]
    rng = np.random.default_rng(e.seed)
    rules: dict[str, Composed] = {"early_exit": point}
    for i, layer in enumerate(exit_layers):
        rules[f"static_{layer}"] = compose(outputs, [static_exit(len(o.examples), i) for o in outputs], per_video, p)
    rules["random_mix"] = random = _averaged([
        compose(outputs, [random_mix(point.mean_layers, exit_layers, depth, len(o.examples), rng) for o in outputs],
                per_video, p) for _ in range(e.random_trials)])
    for patience in range(1, len(exit_layers)):
        rules[f"patience_{patience}"] = compose(outputs, [patience_exit(o.exit_logits, patience) for o in outputs],
                                                per_video, p)
    oracle = [oracle_exit(a) for a in agree]
    rules["oracle"] = compose(outputs, oracle, per_video, p)
    cheapest = oracle_at_target(oracle, exit_layers, depth, p.ee.target_agreement)
    rules["oracle_at_target"] = compose(outputs, cheapest, per_video, p)

    def row(name: str, c: Composed) -> dict[str, Any]:
        return {"method": name, "mean_layers": c.mean_layers, "layer_bound": depth / c.mean_layers,
                "agreement_vs_full": cluster_ci(c.agreeing, c.rows, e.n_bootstrap, e.seed),
                **{m: cluster_ci({v: q[m] for v, q in c.quality.items()}, None, e.n_bootstrap, e.seed) for m in QUALITY}}

    def share(c: Composed) -> dict[str, float]:
        return {v: c.agreeing[v] / c.rows[v] for v in c.rows}

    versus = {"mean_layers": point.mean_layers, "random_draws": e.random_trials,
              "agreement_vs_full": paired_comparison(share(point), share(random), e.n_bootstrap, e.n_permutations, e.seed),
              "kendall_tau": paired_comparison({v: q["kendall_tau"] for v, q in point.quality.items()},
                                               {v: q["kendall_tau"] for v, q in random.quality.items()},
                                               e.n_bootstrap, e.n_permutations, e.seed)}
    cheapest_layers = torch.cat([taken(o, at, depth, exit_layers)[1] for o, at in zip(outputs, cheapest)])
    return [row(name, c) for name, c in rules.items()], versus, cheapest_layers


PAPER_POINT = {"speedup": 1 / (1 - 0.21), "f1_drop": 0.013}
"""DEEVISum's early exit on TVSum (arXiv 2504.21831): 21% less time for 1.3 F1 points (0.013 on the 0-1 scale here)."""


def paper_point(sweep: Sequence[dict[str, Any]], full_f1: float) -> dict[str, Any]:
    """The paper's trade-off beside ours: our F1 drop at the paper's speedup, read off the measured sweep
    (linear between its points; None where no threshold reaches that speedup)."""
    timed = sorted((r["speedup"], r["f1"]) for r in sweep if r.get("speedup") is not None)
    reached = bool(timed) and timed[-1][0] >= PAPER_POINT["speedup"]
    ours = full_f1 - float(np.interp(PAPER_POINT["speedup"], *zip(*timed))) if reached else None
    return {**PAPER_POINT, "f1_drop_here_at_that_speedup": ours}


def sweep_rows(sweep: Sequence[dict[str, Any]], baselines: Sequence[dict[str, Any]], outputs: Sequence[RunOutputs],
               p: Params, full_f1: float) -> list[dict[str, Any]]:
    """The quality-vs-cost curve as one table (``plots/ee_sweep.csv``): the threshold sweep (with the expected
    agreement of a random mix at each point's mean layers), each baseline rule, and the paper's point placed
    at our full-depth F1 (:data:`PAPER_POINT`), blank where undefined."""
    depth, exit_layers = outputs[0].depth, outputs[0].exit_layers
    by_exit = np.concatenate([o.agreement(p.ee.score_tolerance) for o in outputs], axis=1).mean(1).tolist()
    rows = [{"method": "early_exit", **r,
             "random_mix_agreement": random_mix_agreement(r["mean_layers"], exit_layers, depth, by_exit)} for r in sweep]
    for b in baselines:
        if b["method"] != "early_exit":
            rows.append({"method": b["method"], "mean_layers": b["mean_layers"], "layer_bound": b["layer_bound"],
                         "agreement_vs_full": b["agreement_vs_full"]["mean"], **{m: b[m]["mean"] for m in QUALITY}})
    rows.append({"method": "paper", "speedup": PAPER_POINT["speedup"], "f1": full_f1 - PAPER_POINT["f1_drop"]})
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k) for k in columns} for r in rows]


def auroc_by_run(outputs: Sequence[RunOutputs], thresholds: Sequence[float], p: Params) -> dict[str, dict[str, dict]]:
    """Per run, exit layer and confidence measure: the AUROC for agreement with full depth on the test rows that
    reach that exit at the run's operating threshold (:func:`calibration.auroc_ci`). Each run has its own
    classifier, so runs are not pooled."""
    out: dict[str, dict[str, dict]] = {}
    for o, t in zip(outputs, thresholds):
        at = first_exit(o.confidence[p.ee.confidence], t)
        videos = np.array([e["video_id"] for e in o.examples])
        agree = o.agreement(p.ee.score_tolerance)
        out[o.run.name] = {}
        for i, layer in enumerate(o.exit_layers):
            reach = (at < 0) | (at >= i)
            out[o.run.name][str(layer)] = {m: auroc_ci(o.confidence[m][i][reach], agree[i][reach], videos[reach],
                                                       p.evaluate.n_bootstrap, p.evaluate.seed) for m in CONFIDENCES}
    return out


def _finite(x: float) -> float | None:
    """JSON has no NaN: an undefined figure (an AUROC without disagreeing rows) is null."""
    return None if np.isnan(x) else x


def early_exit_report(students: str | Path, exits: str | Path, data: ProcessedData, bench: Benchmark,
                      p: Params) -> tuple[dict[str, Any], list[dict[str, float]], list[dict[str, float]]]:
    """(metrics at the operating point with the full-depth reference, the sweep rows, the exit histogram rows),
    over the test videos of every run."""
    manual = p.ee.threshold is not None
    outputs = []
    for run in runs(data.splits_file, p.train.seeds):
        cal = validation_calibration(Path(exits) / run.name, p.ee.confidence, p)
        chosen = p.ee.threshold if manual else cal.threshold
        thresholds = sorted({*p.ee.sweep, *([chosen] if chosen != NEVER else [])})
        outputs.append(run_outputs(Path(students) / run.name, Path(exits) / run.name, data.for_fold(run.fold), run,
                                   cal, thresholds, p))
    exit_layers, depth = outputs[0].exit_layers, outputs[0].depth
    examples = [e for o in outputs for e in o.examples]
    rates = data.rates(examples)
    shots = evaluation_shots(p.evaluate, data.frames_file, sorted(rates))
    bad = BadInputReport(p.data.on_error)
    by_seed: dict[int, list[int]] = {}  # each seed's rows of the pooled test rows
    start = 0
    for o in outputs:
        by_seed.setdefault(o.run.seed, []).extend(range(start, start + len(o.examples)))
        start += len(o.examples)

    def per_video(logits: torch.Tensor, record_bad: bool = False) -> dict[str, dict[str, float]]:
        """F1/tau/rho of each test video from the pooled per-second expected scores, averaged over its seeds' runs."""
        reports = [evaluate_scores(scores_file(expected_score(logits[rows]), [examples[i] for i in rows], rates), bench,
                                   p.evaluate, shots, source=data.examples_file,
                                   bad=bad if record_bad else BadInputReport(p.data.on_error), with_baselines=False)
                   for rows in by_seed.values()]
        videos = sorted(set.intersection(*(set(r["model"]["videos"]) for r in reports)))
        return {v: {m: float(np.mean([r["model"]["videos"][v][m] for r in reports])) for m in QUALITY} for v in videos}

    def quality(logits: torch.Tensor, record_bad: bool = False) -> dict[str, float]:
        return mean_quality(per_video(logits, record_bad))

    full_logits = torch.cat([o.full_logits for o in outputs])
    full_videos = per_video(full_logits, record_bad=True)
    full = mean_quality(full_videos)
    # the premise of early exit: the layers after the first exit change the answers that matter
    first_videos = per_video(torch.cat([o.exit_logits[0] for o in outputs]))
    e = p.evaluate
    later_layers = {"exit_layer": exit_layers[0],
                    "first_exit": mean_quality(first_videos),
                    "full_minus_first_exit": {m: paired_comparison({v: q[m] for v, q in full_videos.items()},
                                                                   {v: q[m] for v, q in first_videos.items()},
                                                                   e.n_bootstrap, e.n_permutations, e.seed)
                                              for m in QUALITY}}
    full_pass = TimedPass.concat([o.timed[FULL] for o in outputs])

    def setting(threshold: float, per_run: Sequence[float] | None = None) -> tuple[dict[str, Any], torch.Tensor]:
        """Quality, agreement and layers at one threshold (or at each run's own, ``per_run``), and the layers per row."""
        parts = [exited(o, t, p.ee.confidence, depth, exit_layers)
                 for o, t in zip(outputs, per_run or [threshold] * len(outputs))]
        logits, layers = torch.cat([x[0] for x in parts]), torch.cat([x[1] for x in parts])
        agree = agrees(logits, full_logits, p.ee.score_tolerance)
        mean_layers = float(layers.float().mean())
        row = {"threshold": threshold, **quality(logits), "agreement_vs_full": float(agree.float().mean()),
               "mean_layers": mean_layers, "layer_bound": depth / mean_layers}
        timed = [o.timed.get(FULL if t == NEVER else t) for o, t in zip(outputs, per_run or [threshold] * len(outputs))]
        if all(t is not None for t in timed):
            ee_pass = TimedPass.concat(timed)
            row |= speed_summary(ee_pass, full_pass)
            row["max_abs_logit_diff_runner_vs_states"] = float((ee_pass.logits - logits).abs().max())
        return row, layers

    sweep = [setting(t)[0] for t in sorted(set(p.ee.sweep))]
    per_run = [p.ee.threshold if manual else o.calibration.threshold for o in outputs]
    point, layers = setting(per_run[0] if len(set(per_run)) == 1 else float("nan"), per_run)
    baselines, versus_random, oracle_layers = baseline_comparison(
        outputs, compose(outputs, [first_exit(o.confidence[p.ee.confidence], t) for o, t in zip(outputs, per_run)],
                         per_video, p), per_video, p)
    scoring = TimedPass.concat([o.timed[SCORING] for o in outputs])
    agree_by_exit = np.concatenate([o.agreement(p.ee.score_tolerance) for o in outputs], axis=1)
    aurocs = {m: {str(layer): _finite(auroc(np.concatenate([o.confidence[m][i] for o in outputs]), agree_by_exit[i]))
                  for i, layer in enumerate(exit_layers)} for m in CONFIDENCES}
    metrics = {
        **{k: v for k, v in point.items() if k != "threshold"},
        "threshold_source": "manual" if manual else "calibrated",
        "threshold": per_run[0] if len(set(per_run)) == 1 and per_run[0] != NEVER else None,
        "thresholds": {o.run.name: (None if t == NEVER else t) for o, t in zip(outputs, per_run)},
        "confidence": p.ee.confidence,
        "target_agreement": p.ee.target_agreement,
        "delta": p.ee.delta,
        "calibration_unit": p.ee.calibration_unit,
        "calibration_set": f"{p.ee.calibration_videos} unannotated videos of the pretraining corpus" if p.ee.calibration_videos else "the fold's validation videos",
        "score_tolerance": p.ee.score_tolerance,
        "calibration": {o.run.name: o.calibration.to_dict() for o in outputs},
        "f1_drop": full["f1"] - point["f1"],
        "kendall_tau_drop": full["kendall_tau"] - point["kendall_tau"],
        "spearman_rho_drop": full["spearman_rho"] - point["spearman_rho"],
        "confidence_auroc": aurocs[p.ee.confidence],
        "confidence_auroc_by_measure": aurocs,
        "disagreeing_rows_by_exit": {str(layer): int((~a).sum()) for layer, a in zip(exit_layers, agree_by_exit)},
        "confidence_auroc_by_run": auroc_by_run(outputs, per_run, p),
        "later_layers": later_layers,
        "paper_point": paper_point(sweep, full["f1"]),
        "ee_minus_random_mix": versus_random,
        "baselines": baselines,
        "full_depth": {**full, "seconds_per_segment": full_pass.seconds_per_segment,
                       "max_abs_logit_diff_vs_scoring": float((full_pass.logits - scoring.logits).abs().max())},
        "depth": depth,
        "exit_layers": exit_layers,
        "n_segments": len(examples),
        "n_videos": len(rates),
        "runs": [o.run.name for o in outputs],
        "timing_repeats": p.ee.timing_repeats,
        "torch_threads": torch.get_num_threads(),
        "bad_input": bad.to_dict(),
    }
    return metrics, sweep_rows(sweep, baselines, outputs, p, full["f1"]), exit_histogram(layers, depth, oracle_layers)
