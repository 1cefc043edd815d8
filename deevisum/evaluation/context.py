"""Everything one video's evaluation needs besides the predictions: shots and reference summaries.

Built once per video and shared by the model and the random, human and oracle baselines, so
all are scored against the very same references by the very same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import Benchmark, VideoAnnotation
from deevisum.data.frames_store import read_videos
from deevisum.evaluation.metrics import (
    RankedAnnotators,
    f1_against,
    kendall_taus,
    spearman_rhos,
)
from deevisum.evaluation.scores import VideoScores
from deevisum.io import InputError
from deevisum.summary.keyshots import dsnet_keyshot_summary, keyshot_summaries
from deevisum.summary.shots import check_shots, fixed_shots, frame_features, kts_shots

METRICS = ("f1", "f1_mean", "f1_max", "kendall_tau", "spearman_rho")
"""Per-video and aggregate metric names; ``f1`` follows the dataset's convention (mean or max)."""


@dataclass(frozen=True)
class VideoContext:
    """One video's fixed evaluation inputs, computed once (references cost 20 knapsacks)."""

    video: VideoAnnotation
    shots: np.ndarray
    references: np.ndarray
    """(n_users, n_frames) bool: each annotator's reference summary."""
    f1_reduce: str
    """'mean' (TVSum: mean over annotators) or 'max' (SumMe: best-matching annotator)."""
    annotators: RankedAnnotators
    """The annotators' scores ranked once for every correlation against them."""


def f1_convention(video: VideoAnnotation) -> str:
    """TVSum scores are averaged over annotators, SumMe selections take the max (Gygli et al.)."""
    return "mean" if video.kind == "scores" else "max"


def mean_annotation(video: VideoAnnotation) -> np.ndarray:
    """Per frame, the annotators' mean: TVSum's mean 1..5 score, SumMe's fraction of users selecting it."""
    return (video.user_scores if video.kind == "scores" else video.user_scores > 0).mean(axis=0)


def resolve_shots(
    vid: str, video: VideoAnnotation, params: EvaluateParams, shots: Mapping[str, object] | None, entry: VideoScores | None, source: str
) -> np.ndarray:
    """The evaluation shots of one video: given ones (e.g. KTS) first, else by ``params.shots``."""
    try:
        if shots is not None and vid in shots:
            return check_shots(shots[vid], video.n_frames)
        if params.shots == "fixed":
            if not video.fps:
                raise ValueError("the annotations give no fps, so fixed-length shots cannot be cut")
            return fixed_shots(video.n_frames, max(1, round(params.fixed_shot_seconds * video.fps)))
        if params.shots == "file":
            if entry is None or entry.shots is None:
                raise ValueError("shots: file, but the scores file gives no 'shots' for this video")
            return check_shots(entry.shots, video.n_frames)
        raise ValueError("shots: kts needs KTS shots from frame features (frames.h5: evaluation_shots / --frames)")
    except ValueError as e:
        raise InputError(source, f"video {vid}: {e}") from None


def evaluation_shots(params: EvaluateParams, frames_h5: str | Path | None, video_ids: list[str] | None = None) -> dict[str, np.ndarray] | None:
    """The shots a stage passes to ``evaluate_scores``: KTS over ``frames_h5`` (all videos, or ``video_ids``)
    under ``shots: kts``, else None."""
    if params.shots != "kts" or frames_h5 is None:
        return None
    return {meta.video_id: kts_shots(frame_features(frames), meta.n_frames, meta.rate, params.kts_shot_seconds, params.kts_vmax)
            for meta, frames in read_videos(frames_h5, video_ids)}


TVSUM_SEGMENT_SECONDS = 2.0
"""Length of the segments TVSum's annotators rated (Song et al. 2015): their scores are constant over each."""


def rated_segments(user_scores: np.ndarray, fps: float | None) -> np.ndarray:
    """The TVSum release's rated segments, (n, 2) [start, end) frames.

    Cut wherever any annotator's score changes; a run longer than round(2 s x fps) frames (adjacent
    segments that every annotator scored alike, or the release's longer last segment) is cut every
    that many frames from its start, restoring the 2-s grid. Without an fps the runs alone are used.
    """
    n = user_scores.shape[1]
    cuts = np.flatnonzero(np.any(np.diff(user_scores, axis=1) != 0, axis=0)) + 1
    runs = np.stack([np.r_[0, cuts], np.r_[cuts, n]], axis=1)
    if not fps:
        return runs
    length = max(1, round(TVSUM_SEGMENT_SECONDS * fps))
    return np.concatenate([start + fixed_shots(int(end - start), length) for start, end in runs])


def reference_summaries(video: VideoAnnotation, shots: np.ndarray, params: EvaluateParams) -> np.ndarray:
    """Annotators' summaries: SumMe's raw selections; TVSum's by knapsack on their 1..5 scores
    over the prediction's ``shots`` or the rated segments (``params.tvsum_reference``)."""
    if video.kind == "selection":
        return video.user_scores > 0
    segments = rated_segments(video.user_scores, video.fps) if params.tvsum_reference == "segments" else shots
    return keyshot_summaries(video.user_scores, segments, params.budget)


def reference_protocol(params: EvaluateParams) -> str:
    """The reference summaries of ``params``, in words (written into every report)."""
    tvsum = {
        "shots": "each annotator's 1..5 scores through the same knapsack over the same shots as the prediction "
                 "(the eccv16 h5 protocol of vsumm-reinforce/DSNet/PGL-SUM)",
        "segments": "each annotator's 1..5 scores through the knapsack over the 2-s segments they rated "
                    "(the TVSum release: cut where the scores change, and every round(2 x fps) frames)",
    }[params.tvsum_reference]
    return f"TVSum: {tvsum}; SumMe: each user's raw selection"


def build_context(
    vid: str,
    benchmark: Benchmark,
    params: EvaluateParams,
    shots: Mapping[str, object] | None = None,
    entry: VideoScores | None = None,
    source: str = "scores",
) -> VideoContext:
    video = benchmark.videos[vid]
    s = resolve_shots(vid, video, params, shots, entry, source)
    return VideoContext(video, s, reference_summaries(video, s, params), f1_convention(video), RankedAnnotators.of(video.user_scores))


def f1_metrics(per_reference: np.ndarray, reduce: str) -> dict[str, float]:
    """Reduce F1s against each annotator to the reported trio."""
    f1_mean, f1_max = float(per_reference.mean()), float(per_reference.max())
    return {"f1": f1_mean if reduce == "mean" else f1_max, "f1_mean": f1_mean, "f1_max": f1_max}


KNAPSACKS = ("vsumm", "dsnet")
"""How a prediction's summary is chosen: vsumm-reinforce's knapsack on float shot means (the default),
or DSNet's (int(1000 x mean) values, OR-tools' DP solver: :func:`dsnet_keyshot_summary`)."""


def score_video(ctx: VideoContext, frame_scores: np.ndarray, budget: float, knapsack: str = "vsumm") -> dict[str, float]:
    """All metrics of per-frame predictions for one video (``knapsack``: one of :data:`KNAPSACKS`)."""
    if knapsack == "dsnet":
        summary = dsnet_keyshot_summary(frame_scores, ctx.shots, budget)
    elif knapsack == "vsumm":
        summary = keyshot_summaries(frame_scores, ctx.shots, budget)[0]
    else:
        raise ValueError(f"knapsack must be one of {KNAPSACKS}, got {knapsack!r}")
    out = f1_metrics(f1_against(summary, ctx.references), ctx.f1_reduce)
    out["kendall_tau"] = float(kendall_taus(frame_scores, ctx.annotators).mean())
    out["spearman_rho"] = float(spearman_rhos(frame_scores, ctx.annotators).mean())
    return out
