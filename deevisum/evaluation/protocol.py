"""``evaluate_scores``: a scores file against a benchmark, with the baselines on the same videos."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tqdm import tqdm

from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import Benchmark
from deevisum.evaluation.baselines import baseline_blocks, protocol
from deevisum.evaluation.context import build_context, score_video
from deevisum.evaluation.scores import expand_scores, parse_scores
from deevisum.evaluation.stats import summarize
from deevisum.io import BadInputReport, InputError


def evaluate_scores(
    scores: Mapping[str, object],
    benchmark: Benchmark,
    params: EvaluateParams,
    shots: Mapping[str, object] | None = None,
    *,
    source: str | Path = "scores",
    bad: BadInputReport | None = None,
    with_baselines: bool = True,
) -> dict:
    """Score predictions (a decoded scores file, or ``read_scores``' result) for any benchmark.

    ``shots`` (video id -> [start, end) frames, e.g. from ``evaluation_shots``) take precedence
    over ``params.shots``. A bad video raises ``InputError`` naming ``source`` and the video, or,
    with ``bad`` (a ``BadInputReport``), is recorded there and left out. Baselines are computed
    on exactly the videos that were scored.
    """
    parsed = parse_scores(scores, source)
    bad = bad or BadInputReport("stop")
    contexts, per_video = {}, {}
    for vid, entry in tqdm(parsed.items(), desc="evaluate", leave=False, delay=2):  # shown only when it takes a while
        try:
            if vid not in benchmark.videos:
                raise InputError(source, f"unknown video id {vid!r}: not in {benchmark.name} at {benchmark.root}")
            video = benchmark.videos[vid]
            try:
                frame_scores = expand_scores(entry.scores, entry.frames_per_score, video.n_frames)
            except ValueError as e:
                raise InputError(source, f"video {vid}: {e}") from None
            ctx = build_context(vid, benchmark, params, shots, entry, str(source))
        except InputError as e:
            bad.handle(e, vid)
            continue
        contexts[vid] = ctx
        per_video[vid] = score_video(ctx, frame_scores, params.budget) | {"n_shots": len(ctx.shots)}
    if not per_video:
        raise InputError(source, "no video could be evaluated")
    cats = {v: benchmark.videos[v].category for v in per_video}
    report = {
        "dataset": benchmark.name,
        "protocol": protocol(params),
        "model": summarize(per_video, cats, params.n_bootstrap, params.seed),
        "bad_input": bad.to_dict(),
    }
    if with_baselines:
        report["baselines"] = baseline_blocks(contexts, benchmark, params)
    return report
