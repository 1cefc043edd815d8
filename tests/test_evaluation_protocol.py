"""Evaluator end to end on tiny hand-made benchmarks: conventions, bad input, reports, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from deevisum.app.cli import main
from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import Benchmark, VideoAnnotation
from deevisum.evaluation.baselines import baselines
from deevisum.evaluation.context import METRICS, rated_segments, reference_summaries
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.evaluation.stats import fold_summary, plot_rows
from deevisum.io import BadInputReport, InputError

FIXED = EvaluateParams(shots="fixed", fixed_shot_seconds=1.0, n_bootstrap=50, random_trials=1)


def tiny_tvsum(n_videos: int = 4, n_frames: int = 40, fps: float = 4.0) -> Benchmark:
    """Annotators' 1..5 scores constant over 4-frame segments, two categories."""
    rng = np.random.default_rng(0)
    videos = {}
    for i in range(n_videos):
        users = np.repeat(rng.integers(1, 6, (5, n_frames // 4)), 4, axis=1).astype(np.float32)
        videos[f"v{i}"] = VideoAnnotation(f"v{i}", "AB"[i % 2], f"video {i}", users, "scores", fps, n_frames / fps)
    return Benchmark("tvsum", Path("tiny"), videos, Path("tiny/video"))


def per_second(bench: Benchmark, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {v: {"scores": rng.random(math.ceil(a.n_frames / a.fps)).tolist(), "frames_per_score": a.fps} for v, a in bench.videos.items()}


def test_summe_reports_max_and_mean_over_annotators():
    # 3 users' raw selections of a 10-frame video; fixed 2-frame shots, budget 0.2 -> 2 frames
    users = np.zeros((3, 10), np.float32)
    users[0, 0:2] = 1  # agrees with the summary below: F1 1
    users[1, 0:4] = 1  # overlap 2, P 1, R 0.5: F1 2/3
    users[2, 6:8] = 1  # no overlap: F1 0
    video = VideoAnnotation("s", "", "s", users, "selection", 1.0, 10.0)
    bench = Benchmark("summe", Path("summe"), {"s": video}, Path("summe/videos"))
    scores = {"s": {"scores": [9, 9, 1, 1, 1, 1, 1, 1, 1, 1], "frames_per_score": 1}}
    params = EvaluateParams(shots="fixed", fixed_shot_seconds=2.0, budget=0.2, n_bootstrap=10)
    m = evaluate_scores(scores, bench, params)["model"]["videos"]["s"]
    assert m["f1_max"] == pytest.approx(1.0)
    assert m["f1_mean"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["f1"] == m["f1_max"]


def test_tvsum_uses_mean_and_report_has_every_part():
    bench = tiny_tvsum()
    report = evaluate_scores(per_second(bench), bench, FIXED)
    model = report["model"]
    assert set(report["baselines"]) == {"random", "human", "oracle"}
    for block in (model, *report["baselines"].values()):
        assert block["n_videos"] == 4 and set(block["mean"]) == set(METRICS)
        for m in METRICS:
            lo, hi = block["ci95"][m]
            assert lo <= block["mean"][m] <= hi
        assert {c: d["n_videos"] for c, d in block["per_category"].items()} == {"A": 2, "B": 2}
        cat_a = np.mean([block["videos"][v]["f1"] for v in ("v0", "v2")])
        assert block["per_category"]["A"]["f1"] == pytest.approx(cat_a)
    assert all(v["f1"] == v["f1_mean"] for v in model["videos"].values())
    assert report["bad_input"]["n_skipped"] == 0
    assert {r["method"] for r in plot_rows(report)} == {"model", "baseline_random", "baseline_human", "baseline_oracle"}


def test_same_inputs_give_identical_reports_and_subsets_keep_random_draws():
    bench = tiny_tvsum()
    scores = per_second(bench)
    a, b = evaluate_scores(scores, bench, FIXED), evaluate_scores(scores, bench, FIXED)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    part = baselines(bench, FIXED, video_ids=["v1"])["baselines"]["random"]["videos"]["v1"]
    assert part == a["baselines"]["random"]["videos"]["v1"]


def test_perfect_scores_match_the_reference_summaries():
    bench = tiny_tvsum(n_videos=1)
    video = bench.videos["v0"]
    # one annotator, scored by their own scores over the reference segments: F1 exactly 1
    solo = VideoAnnotation("v0", "A", "t", video.user_scores[:1], "scores", video.fps, video.duration)
    bench.videos["v0"] = solo
    params = EvaluateParams(shots="fixed", fixed_shot_seconds=1.0, n_bootstrap=10)
    scores = {"v0": {"scores": solo.user_scores[0].tolist(), "frames_per_score": 1}}
    assert evaluate_scores(scores, bench, params, with_baselines=False)["model"]["mean"]["f1"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"scores": [0.5] * 9, "frames_per_score": 4}, "expected 10 scores"),
        ({"scores": [0.5] * 11, "frames_per_score": 4}, "expected 10 scores"),
        ({"scores": [0.5] * 9 + [float("nan")], "frames_per_score": 4}, "score 9 is nan"),
        ({"scores": [float("inf")] + [0.5] * 9, "frames_per_score": 4}, "score 0 is inf"),
        ({"scores": [0.5] * 10, "frames_per_score": 0}, "frames_per_score must be a positive"),
        ({"scores": [0.5] * 10, "frames_per_score": "-4/1"}, "frames_per_score must be a positive"),
        ({"scores": [0.5] * 10, "frames_per_score": "4/0"}, "a number or 'p/q'"),
        ({"scores": [0.5] * 10, "frames_per_score": "four"}, "a number or 'p/q'"),
        ({"scores": "high", "frames_per_score": 4}, "must be numbers|flat list"),
        ({"frames_per_score": 4}, "expected an object"),
    ],
)
def test_bad_scores_name_the_video(entry, problem):
    bench = tiny_tvsum()
    scores = per_second(bench) | {"v2": entry}
    with pytest.raises(InputError, match=f"scores.json: video v2: .*({problem})"):
        evaluate_scores(scores, bench, FIXED, source="scores.json")


def test_exact_ratio_frames_per_score_as_in_the_contract():
    # "p/q" strings are exact rates: "8/2" is 4 frames per score, the same report as the number 4
    bench = tiny_tvsum()
    scores = per_second(bench)
    as_ratio = {v: {**e, "frames_per_score": "8/2"} for v, e in scores.items()}
    a, b = evaluate_scores(scores, bench, FIXED), evaluate_scores(json.loads(json.dumps(as_ratio)), bench, FIXED)
    assert a["model"] == b["model"]
    # 40 frames at 40/11 frames per score: 11 scores (10 cover only floor(400/11) = 36 frames)
    odd = {"v0": {"scores": [0.5] * 11, "frames_per_score": "40/11"}}
    assert evaluate_scores(odd, bench, FIXED, with_baselines=False)["model"]["n_videos"] == 1
    with pytest.raises(InputError, match="expected 11 scores"):
        evaluate_scores({"v0": {"scores": [0.5] * 10, "frames_per_score": "40/11"}}, bench, FIXED)


def test_unknown_video_and_bad_shots_are_errors_or_skipped():
    bench = tiny_tvsum()
    with pytest.raises(InputError, match="unknown video id 'nope'"):
        evaluate_scores(per_second(bench) | {"nope": {"scores": [1.0], "frames_per_score": 1}}, bench, FIXED)
    gap = {"v1": [[0, 10], [12, 40]]}
    with pytest.raises(InputError, match="video v1: shot 0 ends at 10 but shot 1 starts at 12"):
        evaluate_scores(per_second(bench), bench, FIXED, shots=gap)
    short = per_second(bench)
    for v in short:
        short[v]["shots"] = [[0, 20], [20, 40]]
    short["v3"]["shots"] = [[0, 20], [20, 39]]
    file_params = EvaluateParams(shots="file", n_bootstrap=10, random_trials=1)
    with pytest.raises(InputError, match="video v3: shots end at frame 39, the video has 40"):
        evaluate_scores(short, bench, file_params)
    short["v3"]["shots"] = [[0, 8], [8, 20], [20, 40]]
    by_file = evaluate_scores(short, bench, file_params)["model"]["videos"]
    assert [by_file[v]["n_shots"] for v in short] == [2, 2, 2, 3]
    del short["v0"]["shots"]
    with pytest.raises(InputError, match="video v0: shots: file, but the scores file gives no 'shots'"):
        evaluate_scores(short, bench, file_params)
    with pytest.raises(InputError, match="video v0: shots: kts needs KTS shots"):
        evaluate_scores(per_second(bench), bench, EvaluateParams(shots="kts"))
    bad = BadInputReport("skip")
    report = evaluate_scores(per_second(bench), bench, FIXED, shots=gap, bad=bad)
    assert report["model"]["n_videos"] == report["baselines"]["human"]["n_videos"] == 3
    assert report["bad_input"]["skipped"][0]["item"] == "v1"


def test_fold_summary_mean_and_std():
    bench = tiny_tvsum()
    reports = [evaluate_scores(per_second(bench, seed), bench, FIXED) for seed in (1, 2, 3)]
    folds = fold_summary(reports)
    values = [r["model"]["mean"]["kendall_tau"] for r in reports]
    assert folds["n_folds"] == 3
    assert folds["model"]["kendall_tau"]["mean"] == pytest.approx(np.mean(values))
    assert folds["model"]["kendall_tau"]["std"] == pytest.approx(np.std(values))
    assert folds["baseline_human"]["f1"]["std"] == pytest.approx(0.0)


def write_tvsum_folder(root: Path, bench: Benchmark) -> None:
    """The TVSum release's two tables for ``bench`` (what read_tvsum reads)."""
    (root / "data").mkdir(parents=True)
    anno = [f"{v}\t{a.category}\t{','.join(str(int(s)) for s in u)}" for v, a in bench.videos.items() for u in a.user_scores]
    (root / "data" / "ydata-tvsum50-anno.tsv").write_text("\n".join(anno) + "\n")
    info = ["category\tvideo_id\ttitle\turl\tlength"] + [
        f"{a.category}\t{v}\t{a.title}\thttp://x\t0:{int(a.duration):02d}" for v, a in bench.videos.items()
    ]
    (root / "data" / "ydata-tvsum50-info.tsv").write_text("\n".join(info) + "\n")


def test_cli_evaluates_a_scores_file_and_prints_baselines(tmp_path, capsys):
    bench = tiny_tvsum()
    write_tvsum_folder(tmp_path / "tvsum", bench)
    (tmp_path / "scores.json").write_text(json.dumps(per_second(bench)))
    out = tmp_path / "report.json"
    args = ["evaluate", str(tmp_path / "scores.json"), "--root", str(tmp_path / "tvsum"), "--shots", "fixed", "-o", str(out)]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "model" in table and "random" in table and "human" in table
    report = json.loads(out.read_text())
    assert report["model"]["n_videos"] == 4 and report["protocol"]["shots"] == "fixed"
    assert main(["evaluate", "--baselines", "--root", str(tmp_path / "tvsum")]) == 0
    assert "human" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text(json.dumps({"v0": {"scores": [1.0], "frames_per_score": 1}}))
    assert main(["evaluate", str(tmp_path / "bad.json"), "--root", str(tmp_path / "tvsum")]) == 1
    assert "video v0" in capsys.readouterr().err


# a 30-frame video at 5 fps (2-s segments = 10 frames) rated by 3 annotators on segments
# [0,4) [4,14) [14,24) [24,30) (the first one short); every annotator scores the last two alike,
# so their scores change only at frames 4 and 14
RATED = np.repeat(np.array([[5, 1, 2, 2], [1, 5, 3, 3], [2, 2, 5, 5]], np.float32), [4, 10, 10, 6], axis=1)


def frames_of(*ranges: tuple[int, int]) -> list[bool]:
    return [any(lo <= f < hi for lo, hi in ranges) for f in range(30)]


def test_rated_segments_follow_the_annotations_and_the_2s_grid():
    # runs [0,4) [4,14) [14,30); the 16-frame run is longer than round(2 x 5) = 10: cut at 14 + 10
    assert rated_segments(RATED, 5.0).tolist() == [[0, 4], [4, 14], [14, 24], [24, 30]]
    assert rated_segments(RATED, None).tolist() == [[0, 4], [4, 14], [14, 30]]  # no fps: the runs alone
    assert rated_segments(RATED, 2.4).tolist() == [[0, 4], [4, 9], [9, 14], [14, 19], [19, 24], [24, 29], [29, 30]]


def test_tvsum_references_over_rated_segments_by_hand():
    video = VideoAnnotation("r", "A", "r", RATED, "scores", 5.0, 6.0)
    params = EvaluateParams(tvsum_reference="segments", budget=0.34)  # capacity floor(10.2) = 10 frames
    # segments of 4, 10, 10, 6 frames; what fits in 10: one segment, or [0,4) + [24,30)
    # annotator 1 (5,1,2,2): 5 + 2 = 7 beats any single segment -> [0,4) + [24,30)
    # annotator 2 (1,5,3,3): [4,14) alone (5) beats 1 + 3 = 4
    # annotator 3 (2,2,5,5): 2 + 5 = 7 beats 5
    expected = [frames_of((0, 4), (24, 30)), frames_of((4, 14)), frames_of((0, 4), (24, 30))]
    assert reference_summaries(video, np.zeros((0, 2), int), params).tolist() == expected
    # without an fps the last run stays 16 frames (too long): [0,4) (5 > 1) / [4,14) (5 > 1) /
    # a tie 2 = 2 between [0,4) and [4,14), which the knapsack settles for the earlier item
    no_fps = VideoAnnotation("r", "A", "r", RATED, "scores", None, None)
    assert reference_summaries(no_fps, np.zeros((0, 2), int), params).tolist() == [
        frames_of((0, 4)), frames_of((4, 14)), frames_of((0, 4))]


def test_tvsum_references_over_the_prediction_shots_by_hand():
    video = VideoAnnotation("r", "A", "r", RATED, "scores", 5.0, 6.0)
    params = EvaluateParams(tvsum_reference="shots", budget=0.5)  # capacity 15: one of the two shots
    shots = np.array([[0, 15], [15, 30]])
    # shot means: annotator 1 (4*5 + 10*1 + 2)/15 = 2.13 vs 2; annotator 2 (4 + 50 + 3)/15 = 3.8 vs 3;
    # annotator 3 (8 + 20 + 5)/15 = 2.2 vs 5
    expected = [frames_of((0, 15)), frames_of((0, 15)), frames_of((15, 30))]
    assert reference_summaries(video, shots, params).tolist() == expected


def test_report_states_the_protocol_in_words():
    bench = tiny_tvsum(n_videos=2)
    for reference, words in (("shots", "same shots as the prediction"), ("segments", "2-s segments they rated")):
        params = EvaluateParams(shots="fixed", tvsum_reference=reference, n_bootstrap=10, random_trials=1)
        p = evaluate_scores(per_second(bench), bench, params)["protocol"]
        assert p["tvsum_reference"] == reference and words in p["references"] and "raw selection" in p["references"]
        assert "knapsack" in p["summary"] and "reference_segment_frames" not in p
    assert EvaluateParams().tvsum_reference == "shots"


def test_oracle_is_the_annotators_mean_scored_like_the_model():
    # 20 frames at 4 fps, 1-s shots of 4 frames, budget 0.2 = one shot; per-shot scores:
    users = np.repeat(np.array([[1, 1, 5, 1, 1], [1, 1, 5, 4, 1], [1, 1, 2, 5, 1]], np.float32), 4, axis=1)
    video = VideoAnnotation("o", "A", "o", users, "scores", 4.0, 5.0)
    bench = Benchmark("tvsum", Path("o"), {"o": video}, Path("o/video"))
    params = EvaluateParams(shots="fixed", fixed_shot_seconds=1.0, budget=0.2, n_bootstrap=10, random_trials=5)
    blocks = baselines(bench, params)["baselines"]
    oracle = blocks["oracle"]["videos"]["o"]
    # references: shot 2, shot 2, shot 3; the mean (1, 1, 4, 3.3, 1) picks shot 2: F1 1, 1, 0
    assert oracle["f1"] == pytest.approx(2 / 3) and oracle["f1_max"] == pytest.approx(1.0)
    assert oracle["f1"] >= blocks["random"]["videos"]["o"]["f1"]  # 2/3 is the best any one shot can do
    mean = users.mean(axis=0)
    assert oracle["kendall_tau"] == pytest.approx(np.mean([kendalltau(mean, u).statistic for u in users]))
    assert oracle["spearman_rho"] == pytest.approx(np.mean([spearmanr(mean, u).statistic for u in users]))
    # SumMe: the share of users selecting each frame (2/3 on frames 0-1) picks their first 2-frame shot
    selections = np.zeros((3, 10), np.float32)
    selections[0, 0:2], selections[1, 0:4], selections[2, 6:8] = 1, 1, 1
    summe = Benchmark("summe", Path("s"), {"s": VideoAnnotation("s", "", "s", selections, "selection", 1.0, 10.0)}, Path("s"))
    params = EvaluateParams(shots="fixed", fixed_shot_seconds=2.0, budget=0.2, n_bootstrap=10, random_trials=1)
    oracle = baselines(summe, params)["baselines"]["oracle"]["videos"]["s"]
    assert oracle["f1_max"] == pytest.approx(1.0) and oracle["f1_mean"] == pytest.approx((1 + 2 / 3 + 0) / 3)
