"""``deevisum export-h5``: the project's processed dataset as the field's h5 file and split file.

So models of the field (DSNet, PGL-SUM, ...) can train and be scored on our corpus, and our
predictions on theirs, through one format (:mod:`deevisum.data.h5_benchmark`). Per video:

- steps are seconds: ``picks`` = the frame standing for each second, the one mid-second whose
  features frames.h5 holds (the originals pick every 15th frame, from frame 0). As in the
  originals, a step's score holds from its pick to the next one, so a per-step prediction covers
  [pick_i, pick_(i+1)), half a second later than a per-second score of the project's scores files
  ([floor(i x fps), floor((i+1) x fps))); per-frame predictions are used as they are;
- ``features``: :func:`deevisum.summary.shots.frame_features` of each pick (72-d colour
  features, not GoogLeNet pool5: a model trained on the originals' 1024-d features cannot read them);
- ``gtscore``: the annotators' mean at each pick, min-max normalised to [0, 1] per video;
- ``gtsummary``: the knapsack summary of that mean over the shots at ``evaluate.budget``, at each pick;
- ``change_points``: the evaluation shots (KTS over frames.h5 under ``evaluate.shots: kts``);
- ``user_summary``: the annotators' reference summaries of the ``evaluate.tvsum_reference`` protocol;
- ``video_name``: the project's video id.

The split file (PGL-SUM json) has one split per fold: train_keys = train + val, test_keys = test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from deevisum.config import EvaluateParams, load_params
from deevisum.data.benchmarks import Benchmark, read_benchmark
from deevisum.data.frames_store import read_index, read_videos
from deevisum.data.h5_benchmark import H5Video, Split, step_summary, write_h5, write_split_file
from deevisum.data.splits import read_splits
from deevisum.evaluation.context import build_context, evaluation_shots, mean_annotation
from deevisum.io import InputError, check_output_path
from deevisum.summary.shots import frame_features
from deevisum.timebase import middle_frames


def unit_range(x: np.ndarray) -> np.ndarray:
    """``x`` min-max scaled to [0, 1]; a constant gives zeros."""
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def export_videos(benchmark: Benchmark, frames_h5: Path, params: EvaluateParams) -> dict[str, H5Video]:
    """Video id -> its h5 video, for each video of ``benchmark`` with frames in ``frames_h5``, in benchmark order."""
    stored = read_index(frames_h5)
    ids = [v for v in benchmark.videos if v in stored]
    if not ids:
        raise InputError(frames_h5, f"no frames for any video of {benchmark.root}")
    shots = evaluation_shots(params, frames_h5, ids)
    out = {}
    for meta, frames in read_videos(frames_h5, ids):
        video = benchmark.videos[meta.video_id]
        if meta.n_frames != video.n_frames:
            raise InputError(frames_h5, f"video {meta.video_id}: {meta.n_frames} frames, the annotations have {video.n_frames}")
        ctx = build_context(meta.video_id, benchmark, params, shots, source=str(frames_h5))
        picks = middle_frames(meta.rate, meta.n_frames)
        mean = mean_annotation(video)
        out[meta.video_id] = H5Video(
            features=frame_features(frames).astype(np.float32),
            gtscore=unit_range(mean[picks]),
            gtsummary=step_summary(mean, ctx.shots, picks, params.budget),
            user_summary=ctx.references,
            change_points=ctx.shots - [0, 1],
            picks=picks,
            n_frames=video.n_frames,
            video_name=meta.video_id,
        )
    return out


def fold_splits(splits_path: Path, keys: dict[str, str]) -> list[Split]:
    """The project's folds as h5 splits over ``keys`` (video id -> key); videos without a key are left out."""
    return [Split([keys[v] for v in fold["train"] + fold["val"] if v in keys], [keys[v] for v in fold["test"] if v in keys])
            for fold in read_splits(splits_path)["folds"]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=["tvsum", "summe"], default="tvsum", help="layout of --dataset-dir")
    parser.add_argument("--dataset-dir", type=Path, required=True, help="the benchmark folder (e.g. data/demo)")
    parser.add_argument("--frames", type=Path, required=True, help="frames.h5 of extract_frames")
    parser.add_argument("--splits", type=Path, help="the project's splits.json: also write a split file")
    parser.add_argument("--params", type=Path, help="params.yaml whose 'evaluate' section gives shots and references")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the h5 file to write")
    parser.add_argument("--split-output", type=Path, help="the split file (default: OUTPUT with suffix .splits.json)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    split_output = args.split_output or args.output.with_suffix(".splits.json")
    inputs = [args.frames, args.splits, args.params, args.dataset_dir]
    check_output_path(args.output, inputs)
    if args.splits:
        check_output_path(split_output, [*inputs, args.output])
    params = load_params(args.params).evaluate if args.params else EvaluateParams()
    benchmark = read_benchmark(args.dataset, args.dataset_dir)
    videos = export_videos(benchmark, args.frames, params)
    keys = {vid: f"video_{i}" for i, vid in enumerate(videos, 1)}
    splits = fold_splits(args.splits, keys) if args.splits else None
    write_h5(args.output, {keys[v]: h5 for v, h5 in videos.items()})
    missing = [v for v in benchmark.videos if v not in videos]
    print(f"wrote {args.output}: {len(videos)} videos" + (f" ({len(missing)} without frames left out: {missing})" if missing else ""))
    if splits is not None:
        write_split_file(split_output, splits)
        print(f"wrote {split_output}: {len(splits)} splits")
    return 0
