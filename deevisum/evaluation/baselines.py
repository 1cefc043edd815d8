"""Chance, people and the annotators' consensus, computed by the same code as the model.

Human leave-one-out (Otani et al. 2019): each annotator's reference summary is scored against
the other annotators' (F1, reduced by the dataset's convention, then averaged over annotators),
and each annotator's frame scores are correlated with every other annotator's (averaged over
pairs). Random: uniform per-frame scores, seeded per video (the same draw for a video whatever
split it is evaluated in), averaged over ``random_trials`` draws. Oracle: the annotators' mean
per frame as the prediction, the most a model of the average viewer can reach (it is scored
against the very annotators it averages, so it bounds a model from above, not a human).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

import numpy as np
from tqdm import tqdm

from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import Benchmark
from deevisum.evaluation.context import (
    METRICS,
    VideoContext,
    build_context,
    f1_metrics,
    mean_annotation,
    reference_protocol,
    score_video,
)
from deevisum.evaluation.metrics import (
    f1_against,
    pairwise_kendall_taus,
    pairwise_spearman_rhos,
)
from deevisum.evaluation.stats import summarize


def human_metrics(ctx: VideoContext) -> dict[str, float]:
    """Leave-one-out agreement of the annotators of one video."""
    refs = ctx.references
    n = len(refs)
    others = [np.delete(np.arange(n), u) for u in range(n)]
    per_user = [f1_metrics(f1_against(refs[u], refs[others[u]]), ctx.f1_reduce) for u in range(n)]
    out = {k: float(np.mean([p[k] for p in per_user])) for k in ("f1", "f1_mean", "f1_max")}
    out["kendall_tau"] = float(pairwise_kendall_taus(ctx.annotators).mean())
    out["spearman_rho"] = float(pairwise_spearman_rhos(ctx.annotators).mean())
    return out


def random_metrics(ctx: VideoContext, params: EvaluateParams) -> dict[str, float]:
    """Metrics of uniform random frame scores, averaged over ``params.random_trials`` seeded draws."""
    rng = np.random.default_rng([params.seed, zlib.crc32(ctx.video.video_id.encode("utf-8"))])
    trials = [score_video(ctx, rng.random(ctx.video.n_frames), params.budget) for _ in range(params.random_trials)]
    return {m: float(np.mean([t[m] for t in trials])) for m in METRICS}


def oracle_metrics(ctx: VideoContext, params: EvaluateParams) -> dict[str, float]:
    """Metrics of the annotators' per-frame mean taken as the prediction."""
    return score_video(ctx, mean_annotation(ctx.video), params.budget)


def baseline_blocks(contexts: Mapping[str, VideoContext], benchmark: Benchmark, params: EvaluateParams) -> dict:
    """Summarised random, human and oracle blocks over the videos of ``contexts``."""
    cats = {v: benchmark.videos[v].category for v in contexts}
    human = {v: human_metrics(c) for v, c in tqdm(contexts.items(), desc="human baseline", leave=False)}
    rand = {v: random_metrics(c, params) for v, c in tqdm(contexts.items(), desc="random baseline", leave=False)}
    oracle = {v: oracle_metrics(c, params) for v, c in contexts.items()}
    return {
        "random": summarize(rand, cats, params.n_bootstrap, params.seed),
        "human": summarize(human, cats, params.n_bootstrap, params.seed),
        "oracle": summarize(oracle, cats, params.n_bootstrap, params.seed),
    }


def baselines(benchmark: Benchmark, params: EvaluateParams, shots: Mapping[str, object] | None = None, video_ids: Iterable[str] | None = None) -> dict:
    """The random, human-leave-one-out and oracle report of ``benchmark`` (all videos, or ``video_ids``)."""
    vids = list(video_ids) if video_ids is not None else list(benchmark.videos)
    contexts = {v: build_context(v, benchmark, params, shots, source=str(benchmark.root)) for v in vids}
    return {"dataset": benchmark.name, "protocol": protocol(params), "baselines": baseline_blocks(contexts, benchmark, params)}


def protocol(params: EvaluateParams) -> dict:
    """The settings a report's figures depend on, written next to them."""
    return {
        "budget": params.budget,
        "shots": params.shots,
        "fixed_shot_seconds": params.fixed_shot_seconds,
        "summary": f"each {params.shots} shot worth its mean predicted frame score; the 0/1 knapsack packs shots "
                   f"up to floor({params.budget:g} x n_frames) frames",
        "tvsum_reference": params.tvsum_reference,
        "references": reference_protocol(params),
        "f1": "TVSum: mean over annotators; SumMe: max over annotators (f1_mean/f1_max give both)",
        "random_trials": params.random_trials,
        "n_bootstrap": params.n_bootstrap,
        "n_permutations": params.n_permutations,
        "seed": params.seed,
    }
