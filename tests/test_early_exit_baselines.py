"""The exit rules early exit is compared with (deevisum.early_exit.baselines) and their report rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deevisum.config import Params
from deevisum.data.splits import Run
from deevisum.early_exit import baselines
from deevisum.early_exit.baselines import oracle_exit, patience_exit, random_mix, random_mix_agreement, static_exit
from deevisum.early_exit.calibration import NEVER, Calibration, agrees, auroc_ci, first_exit
from deevisum.early_exit.heads import CONFIDENCES
from deevisum.early_exit.report import (
    QUALITY,
    RunOutputs,
    auroc_by_run,
    baseline_comparison,
    compose,
    paper_point,
    sweep_rows,
)

EXITS, DEPTH = [2, 4], 6


def layers_of(at: np.ndarray) -> np.ndarray:
    return np.where(at < 0, DEPTH, np.asarray(EXITS)[at])


def test_random_mix_matches_the_mean_layers_with_the_adjacent_depths() -> None:
    rng = np.random.default_rng(0)
    at = random_mix(5.4, EXITS, DEPTH, 1000, rng)
    assert set(at.tolist()) == {1, -1} and layers_of(at).mean() == pytest.approx(5.4, abs=1e-3)
    at = random_mix(2.5, EXITS, DEPTH, 1000, rng)
    assert set(at.tolist()) == {0, 1} and layers_of(at).mean() == pytest.approx(2.5, abs=1e-3)
    assert (random_mix(1.0, EXITS, DEPTH, 5, rng) == 0).all() and (random_mix(4.0, EXITS, DEPTH, 5, rng) == 1).all()
    assert (random_mix(6.0, EXITS, DEPTH, 5, rng) == -1).all()
    assert random_mix_agreement(3.0, EXITS, DEPTH, [0.8, 0.9]) == pytest.approx(0.85)
    assert random_mix_agreement(5.0, EXITS, DEPTH, [0.8, 0.9]) == pytest.approx(0.95)


def test_static_patience_and_oracle_by_hand() -> None:
    answers = torch.tensor([[1, 0, 0, 2], [1, 1, 1, 2], [1, 1, 2, 0]])  # 3 exits x 4 rows
    logits = torch.nn.functional.one_hot(answers, 5).float()
    assert patience_exit(logits, 1).tolist() == [1, 2, -1, 1]
    assert patience_exit(logits, 2).tolist() == [2, -1, -1, -1]
    agree = np.array([[False, True, False, False], [True, True, False, False], [True, True, False, True]])
    assert oracle_exit(agree).tolist() == [1, 0, -1, 2]
    assert static_exit(3, 1).tolist() == [1, 1, 1]
    # two runs (4 + 6 rows), exits after layers 2, 4, 6 of 8; at 80% agreement 2 of the 10 rows may leave wrongly:
    # the two whose oracle exit costs most (full depth, 8 layers), wherever they are, go to the first exit
    second = np.array([[True, False, False, False, True, False], [True, False, False, True, True, False],
                       [True, True, False, True, True, False]])
    oracle = [oracle_exit(agree), oracle_exit(second)]
    runs = baselines.oracle_at_target(oracle, [2, 4, 6], 8, 0.8)
    assert [r.tolist() for r in runs] == [[1, 0, 0, 2], [0, 2, 0, 1, 0, -1]]
    assert [r.tolist() for r in baselines.oracle_at_target(oracle, [2, 4, 6], 8, 0.999)] == \
        [oracle_exit(agree).tolist(), oracle_exit(second).tolist()]


def fake_outputs(n_videos: int = 12, rows: int = 30, seed: int = 0) -> list[RunOutputs]:
    """Two runs whose exit answers agree with full depth on 70% / 90% of rows, with a confidence that knows which."""
    rng = np.random.default_rng(seed)
    out = []
    for fold in range(2):
        n = n_videos // 2 * rows
        full = torch.as_tensor(rng.normal(size=(n, 5)) * 3, dtype=torch.float32)
        agree = np.stack([rng.random(n) < 0.7, rng.random(n) < 0.9])
        exit_logits = torch.stack([torch.where(torch.as_tensor(a)[:, None], full, full.roll(1, dims=-1)) for a in agree])
        conf = np.clip(agree * 0.5 + rng.random(agree.shape) * 0.5, 0, 1)
        confidence = {m: conf for m in CONFIDENCES}
        examples = [{"video_id": f"v{fold}{r // rows:02d}", "second": r % rows} for r in range(n)]
        cal = Calibration(NEVER, 0.95, 0.1, 0, 1.0, 0.0, float("nan"), "")
        out.append(RunOutputs(Run(fold, 0), examples, EXITS, DEPTH, exit_logits, confidence, full, cal, {}))
    return out


def per_video_of(outputs: list[RunOutputs]):
    """Stands in for the evaluation protocol: each video's share of rows whose answer is full depth's."""
    full = torch.cat([o.full_logits for o in outputs])
    videos = np.array([e["video_id"] for o in outputs for e in o.examples])

    def per_video(logits: torch.Tensor) -> dict[str, dict[str, float]]:
        same = (logits.argmax(-1) == full.argmax(-1)).numpy()
        return {v: {m: float(same[videos == v].mean()) for m in QUALITY} for v in sorted(set(videos))}

    return per_video


def test_baseline_rows_and_the_paired_comparison_with_a_random_mix() -> None:
    p = Params()
    outputs = fake_outputs()
    per_video = per_video_of(outputs)
    point = compose(outputs, [first_exit(o.confidence["classifier"], 0.75) for o in outputs], per_video, p)
    rows, versus, oracle_layers = baseline_comparison(outputs, point, per_video, p)
    by = {r["method"]: r for r in rows}
    assert list(by) == ["early_exit", "static_2", "static_4", "random_mix", "patience_1", "oracle", "oracle_at_target"]
    pooled = [float(np.mean(np.concatenate([agrees(o.exit_logits[i], o.full_logits, p.ee.score_tolerance).numpy()
                                            for o in outputs]))) for i in range(2)]
    for i, k in enumerate(EXITS):
        assert by[f"static_{k}"]["mean_layers"] == k and by[f"static_{k}"]["agreement_vs_full"]["mean"] == pytest.approx(pooled[i])
    assert by["random_mix"]["mean_layers"] == pytest.approx(point.mean_layers, abs=0.01)
    assert by["oracle"]["agreement_vs_full"]["mean"] == 1.0 and by["oracle"]["mean_layers"] < by["static_4"]["mean_layers"]
    ceiling = by["oracle_at_target"]  # the cheapest rule at the target: 5% of the 360 rows (18) leave wrongly
    assert ceiling["agreement_vs_full"]["mean"] == pytest.approx(1 - 18 / 360) and ceiling["mean_layers"] < point.mean_layers
    assert len(oracle_layers) == 360 and float(oracle_layers.float().mean()) == pytest.approx(ceiling["mean_layers"])
    for r in rows:
        for m in ("agreement_vs_full", *QUALITY):
            lo, hi = r[m]["ci95"]
            assert lo <= r[m]["mean"] + 1e-12 and r[m]["mean"] <= hi + 1e-12 and r[m]["n_videos"] == 12
    # the confidence knows which rows agree: early exit beats chance at the same cost
    assert versus["agreement_vs_full"]["holds"] and versus["agreement_vs_full"]["n_videos"] == 12
    assert versus["mean_layers"] == point.mean_layers
    table = sweep_rows([{"threshold": 0.75, "agreement_vs_full": 0.99, "mean_layers": point.mean_layers, "speedup": 1.5}],
                       rows, outputs, p, full_f1=0.6)
    assert [r["method"] for r in table] == ["early_exit", "static_2", "static_4", "random_mix", "patience_1", "oracle",
                                            "oracle_at_target", "paper"]
    assert all(list(r) == list(table[0]) for r in table) and table[1]["speedup"] is None
    assert table[-1]["f1"] == pytest.approx(0.587) and table[-1]["speedup"] == pytest.approx(1 / 0.79)
    assert 0.7 < table[0]["random_mix_agreement"] < 1


def test_the_papers_point_is_read_off_the_measured_curve() -> None:
    sweep = [{"speedup": 1.0, "f1": 0.60}, {"speedup": 1.5, "f1": 0.50}, {"threshold": 2.0, "f1": 0.1}]  # the last untimed
    got = paper_point(sweep, full_f1=0.60)
    assert got["speedup"] == pytest.approx(1.2658, abs=1e-4) and got["f1_drop"] == 0.013
    assert got["f1_drop_here_at_that_speedup"] == pytest.approx(0.2658 / 0.5 * 0.10, abs=1e-4)  # linear between 1.0 and 1.5
    assert paper_point(sweep[:1], 0.6)["f1_drop_here_at_that_speedup"] is None  # the curve never gets that fast


def test_auroc_per_run_and_exit_on_the_rows_that_reach_it() -> None:
    p = Params()
    outputs = fake_outputs()
    got = auroc_by_run(outputs, [0.75, NEVER], p)
    assert set(got) == {"fold0-seed0", "fold1-seed0"} and set(got["fold0-seed0"]) == {"2", "4"}
    first = outputs[0]
    reach = first_exit(first.confidence["classifier"], 0.75) != 0  # rows that did not leave at layer 2
    row = got["fold0-seed0"]["4"]["classifier"]
    assert row["n_rows"] == int(reach.sum()) < len(first.examples) and row["n_videos"] == 6
    assert got["fold1-seed0"]["4"]["classifier"]["n_rows"] == len(outputs[1].examples)  # nothing exits: all reach
    r = got["fold1-seed0"]["2"]["classifier"]
    assert r["n_negatives"] >= 10 and r["ci95"][0] <= r["auroc"] <= r["ci95"][1] and r["auroc"] > 0.9  # it knows


def test_auroc_is_withheld_below_ten_negatives() -> None:
    conf = np.linspace(0, 1, 100)
    positive = np.arange(100) >= 9
    out = auroc_ci(conf, positive, np.repeat(np.arange(10), 10), 200, 0)
    assert out["auroc"] is None and out["n_negatives"] == 9 and "fewer than 10" in out["withheld"]
    out = auroc_ci(conf, np.arange(100) >= 10, np.repeat(np.arange(10), 10), 200, 0)
    assert out["auroc"] == 1.0 and out["n_negatives"] == 10 and out["ci95"] == [1.0, 1.0]
