"""The field's h5 files: read/write, `deevisum evaluate --h5` as DSNet scores, `deevisum export-h5`."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from test_evaluation_protocol import tiny_tvsum, write_tvsum_folder

from deevisum.app.cli import main
from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import read_tvsum
from deevisum.data.frames_store import write_video
from deevisum.data.h5_benchmark import (
    H5Video,
    Split,
    read_h5,
    read_split_file,
    write_h5,
    write_split_file,
)
from deevisum.evaluation.context import build_context, evaluation_shots
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.io import InputError

H5_NAME = "eccv16_dataset_tvsum_google_pool5.h5"


def video_1() -> H5Video:
    """100 frames, a step every 10; shots [0,9] [10,19] [20,49] [50,59] [60,99]; budget 0.15 = 15 frames.

    Users select frames 0-9, 10-19 and 5-14; the gtsummary is shot [0,9].
    """
    users = np.zeros((3, 100))
    users[0, 0:10], users[1, 10:20], users[2, 5:15] = 1, 1, 1
    picks = np.arange(0, 100, 10)
    gtsummary = np.zeros(10)
    gtsummary[0] = 1
    gtscore = np.array([1.0, 0.8, 0.2, 0.2, 0.2, 0.5, 0.1, 0.1, 0.1, 0.1])
    cps = np.array([[0, 9], [10, 19], [20, 49], [50, 59], [60, 99]])
    return H5Video(np.random.default_rng(1).random((10, 4), dtype=np.float32), gtscore, gtsummary, users, cps, picks, 100, "")


def video_2() -> H5Video:
    """40 frames, a step every 8; shots of 5 frames; budget 0.15 = 6 frames: one shot. Users select [5,9] and [10,14]."""
    users = np.zeros((2, 40))
    users[0, 5:10], users[1, 10:15] = 1, 1
    cps = np.stack([np.arange(0, 40, 5), np.arange(4, 40, 5)], axis=1)
    picks = np.arange(0, 40, 8)
    return H5Video(np.zeros((5, 4), np.float32), np.linspace(1, 0, 5), np.zeros(5), users, cps, picks, 40, "Air_Force_One")


@pytest.fixture
def bench_files(tmp_path: Path) -> tuple[Path, Path]:
    """The h5 file and a DSNet yml split file (one test video per split, keys with the file's path)."""
    h5 = tmp_path / H5_NAME
    write_h5(h5, {"video_1": video_1(), "video_2": video_2()})
    splits = [{"train_keys": [f"../datasets/{H5_NAME}/video_2"], "test_keys": [f"../datasets/{H5_NAME}/video_1"]},
              {"train_keys": ["video_1"], "test_keys": ["video_2"]}]
    yml = tmp_path / "tvsum.yml"
    yml.write_text(yaml.safe_dump(splits))
    return h5, yml


def test_round_trip_in_the_eccv16_layout(bench_files):
    h5, yml = bench_files
    videos = read_h5(h5)
    assert list(videos) == ["video_1", "video_2"]
    for got, want in zip(videos.values(), (video_1(), video_2())):
        for name in ("features", "gtscore", "gtsummary", "user_summary", "change_points", "picks"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-6)
        assert got.n_frames == want.n_frames and got.video_name == want.video_name
    with h5py.File(h5) as f:
        g = f["video_1"]
        assert g["change_points"][-1].tolist() == [60, 99]  # the last frame, inclusive
        assert g["n_frame_per_seg"][()].tolist() == [10, 10, 30, 10, 40]
        assert g["n_steps"][()] == 10 and g["n_frames"][()] == 100 and g["features"].dtype == np.float32
    assert read_split_file(yml)[0] == Split([f"../datasets/{H5_NAME}/video_2"], [f"../datasets/{H5_NAME}/video_1"])
    write_split_file(h5.parent / "s.json", read_split_file(yml))
    assert read_split_file(h5.parent / "s.json") == read_split_file(yml)


def test_evaluate_h5_splits_by_hand(bench_files, tmp_path, capsys):
    h5, yml = bench_files
    preds = tmp_path / "preds.json"
    # video_1 per step: its gtsummary -> shot [0,9] alone (15 frames hold no second shot of value > 0):
    #   F1 vs users: 1 (0-9), 0 (10-19), 0.5 (overlap 5-9: P = R = 1/2) -> mean 0.5, max 1
    # video_2 per frame: high on frames 10-14 -> shot [10,14] (6 frames hold one shot): F1 0 and 1 -> mean 0.5
    v2 = np.zeros(40)
    v2[10:15] = 1
    preds.write_text(json.dumps({"video_1": video_1().gtsummary.tolist(), f"x/{H5_NAME}/video_2": v2.tolist()}))
    out = tmp_path / "report.json"
    assert main(["evaluate", str(preds), "--h5", str(h5), "--split-file", str(yml), "-o", str(out)]) == 0
    assert "2 splits" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["dataset"] == "tvsum"  # from the file name
    s0, s1 = (s["model"]["videos"] for s in report["splits"])
    assert s0["video_1"]["f1"] == pytest.approx(0.5) and s0["video_1"]["f1_max"] == pytest.approx(1.0)
    assert s1["video_2"]["f1"] == pytest.approx(0.5) and s1["video_2"]["f1_max"] == pytest.approx(1.0)
    assert report["summary"]["model"]["f1"]["mean"] == pytest.approx(0.5)
    assert report["summary"]["model"]["f1"]["std"] == pytest.approx(0.0)
    assert "gtscore" in report["protocol"]["correlation"]
    # gtscore itself as the prediction ranks frames exactly as gtscore: tau = rho = 1
    steps = {k: v.gtscore.tolist() for k, v in read_h5(h5).items()}
    preds.write_text(json.dumps(steps))
    assert main(["evaluate", str(preds), "--h5", str(h5), "--split-file", str(yml), "--dataset", "summe", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["summary"]["model"]["kendall_tau"]["mean"] == pytest.approx(1.0)
    assert report["summary"]["model"]["spearman_rho"]["mean"] == pytest.approx(1.0)
    assert all(s["model"]["videos"][k]["f1"] == s["model"]["videos"][k]["f1_max"] for s in report["splits"] for k in s["test_keys"])
    # one set of predictions per split
    preds.write_text(json.dumps([{"video_1": video_1().gtsummary.tolist()}, {"video_2": v2.tolist()}]))
    assert main(["evaluate", str(preds), "--h5", str(h5), "--split-file", str(yml)]) == 0


@pytest.mark.parametrize(
    "splits, preds, problem",
    [
        ([{"train_keys": [], "test_keys": ["video_9"]}], {}, r"tvsum.yml: split 0: test key 'video_9': .* has no video video_9"),
        ([{"train_keys": [], "test_keys": ["other.h5/video_1"]}], {}, r"split 0: test key 'other.h5/video_1' is a video of other.h5"),
        ([{"train_keys": [], "test_keys": ["video_1"]}], {"video_2": [1.0] * 40}, r"preds.json: split 0: no prediction for test video video_1"),
        ([{"train_keys": [], "test_keys": ["video_1"]}], {"video_1": [1.0] * 7}, r"video video_1: 7 scores, expected 10 .* or 100"),
        ([{"train_keys": [], "test_keys": ["video_1"]}], {"video_1": [1.0, "x"]}, r"video video_1: scores must be numbers"),
        ([{"test_keys": ["video_1"]}], {}, r"tvsum.yml: split 0: expected \{train_keys"),
    ],
)
def test_evaluate_h5_bad_input_is_named(bench_files, tmp_path, capsys, splits, preds, problem):
    h5, yml = bench_files
    yml.write_text(yaml.safe_dump(splits))
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    assert main(["evaluate", str(tmp_path / "preds.json"), "--h5", str(h5), "--split-file", str(yml)]) == 1
    assert re.search(problem, capsys.readouterr().err)


def test_bad_h5_files_name_the_file_video_and_problem(tmp_path):
    path = tmp_path / "bad.h5"
    write_h5(path, {"video_1": video_1(), "video_2": video_2()})
    with h5py.File(path, "a") as f:
        del f["video_2"]["gtscore"]
    with pytest.raises(InputError, match=r"bad.h5: video video_2: lacks the datasets \['gtscore'\]"):
        read_h5(path)
    with h5py.File(path, "a") as f:
        f["video_2"]["gtscore"] = np.zeros(5)
        f["video_2"]["change_points"][-1, 1] = 38
    with pytest.raises(InputError, match=r"video video_2: change_points .* shots end at frame 39, the video has 40"):
        read_h5(path)
    with h5py.File(path, "a") as f:
        f["video_2"]["change_points"][-1, 1] = 39
        del f["video_2"]["n_steps"]
        f["video_2"]["n_steps"] = 4
    with pytest.raises(InputError, match="video video_2: n_steps is 4 but there are 5 picks"):
        read_h5(path)
    with pytest.raises(ValueError, match=r"user_summary has shape \(2, 39\)"):
        v = video_2()
        H5Video(v.features, v.gtscore, v.gtsummary, v.user_summary[:, :39], v.change_points, v.picks, 40)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="junk.h5: not a readable HDF5 file"):
        read_h5(tmp_path / "junk.h5")


def test_usage_errors(bench_files, capsys):
    h5, yml = bench_files
    assert main(["evaluate", "--h5", str(h5), "--split-file", str(yml)]) == 2
    other = h5.with_name("mine.h5")
    h5.rename(other)
    assert main(["evaluate", "preds.json", "--h5", str(other), "--split-file", str(yml)]) == 2
    assert "give --dataset" in capsys.readouterr().err
    assert main(["evaluate", str(yml)]) == 2
    assert "--root" in capsys.readouterr().err


def test_export_h5_writes_the_processed_dataset(tmp_path, capsys):
    bench = tiny_tvsum(n_videos=4, n_frames=120, fps=4.0)
    write_tvsum_folder(tmp_path / "tvsum", bench)
    frames = tmp_path / "frames.h5"
    rng = np.random.default_rng(0)
    with h5py.File(frames, "w") as f:
        for vid in ("v0", "v1", "v3"):  # v2 failed extraction: left out
            write_video(f, vid, Fraction(4), 120, rng.integers(0, 256, (30, 8, 8, 3), dtype=np.uint8))
    folds = [{"train": ["v0"], "val": ["v1"], "test": ["v2", "v3"]}, {"train": ["v2", "v3"], "val": ["v1"], "test": ["v0"]}]
    (tmp_path / "splits.json").write_text(json.dumps({"n_folds": 2, "selected": [0], "folds": folds}))
    out = tmp_path / "demo.h5"
    assert main(["export-h5", "--dataset-dir", str(tmp_path / "tvsum"), "--frames", str(frames),
                 "--splits", str(tmp_path / "splits.json"), "-o", str(out)]) == 0
    assert "3 videos (1 without frames left out: ['v2'])" in capsys.readouterr().out
    videos = read_h5(out)
    assert [v.video_name for v in videos.values()] == ["v0", "v1", "v3"]
    params = EvaluateParams()
    bench = read_tvsum(tmp_path / "tvsum")
    shots = evaluation_shots(params, frames, ["v0"])
    v = videos["video_1"]
    ctx = build_context("v0", bench, params, shots)
    assert v.picks.tolist() == list(range(2, 120, 4)) and v.features.shape == (30, 72)  # the frames the features are of
    np.testing.assert_array_equal(v.shots, shots["v0"])
    np.testing.assert_array_equal(v.user_summary, ctx.references)
    gt = bench.videos["v0"].gt_score[v.picks]
    np.testing.assert_allclose(v.gtscore, (gt - gt.min()) / (gt.max() - gt.min()), rtol=1e-6)
    assert read_split_file(out.with_suffix(".splits.json")) == [Split(["video_1", "video_2"], ["video_3"]),
                                                                Split(["video_3", "video_2"], ["video_1"])]
    # the exported file scores per-second predictions, given per frame, exactly as the project's evaluator does
    # (same F1; per step they would hold from each mid-second pick, half a second later)
    rng = np.random.default_rng(1)
    per_second = {vid: rng.random(30).tolist() for vid in ("v0", "v1", "v3")}
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({key: np.repeat(per_second[v.video_name], 4).tolist() for key, v in videos.items()}))
    report = tmp_path / "report.json"
    assert main(["evaluate", str(preds), "--h5", str(out), "--split-file", str(out.with_suffix(".splits.json")),
                 "--dataset", "tvsum", "-o", str(report)]) == 0
    by_h5 = {videos[k].video_name: m["f1"] for s in json.loads(report.read_text())["splits"] for k, m in s["model"]["videos"].items()}
    scores = {vid: {"scores": s, "frames_per_score": 4} for vid, s in per_second.items()}
    direct = evaluate_scores(scores, bench, params, evaluation_shots(params, frames), with_baselines=False)["model"]["videos"]
    assert by_h5 == pytest.approx({vid: direct[vid]["f1"] for vid in ("v0", "v3")})  # the folds' test videos
