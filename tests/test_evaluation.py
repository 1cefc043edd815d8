"""Evaluator units: knapsack, keyshot F1, shots (fixed, KTS), scores expansion, rank correlations."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import h5py
import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from deevisum.config import EvaluateParams
from deevisum.data.frames_store import write_video
from deevisum.evaluation import metrics
from deevisum.evaluation.context import evaluation_shots
from deevisum.evaluation.metrics import (
    RankedAnnotators,
    f1_against,
    kendall_taus,
    pairwise_kendall_taus,
    pairwise_spearman_rhos,
    spearman_rhos,
)
from deevisum.evaluation.scores import expand_scores
from deevisum.io import InputError
from deevisum.summary import shots as shots_module
from deevisum.summary.keyshots import fit_shots, keyshot_summaries
from deevisum.summary.knapsack import knapsack, knapsack_batch
from deevisum.summary.shots import (
    check_shots,
    fixed_shots,
    frame_features,
    kts_change_points,
    kts_seconds,
    kts_shots,
    kts_windows,
    split_shots,
)


def test_knapsack_hand_case():
    # classic instance: the two heavier items (100 + 120) beat any pair with the first
    assert knapsack([60, 100, 120], [10, 20, 30], 50).tolist() == [1, 2]
    assert knapsack([60, 100, 120], [10, 20, 30], 9).tolist() == []
    assert knapsack([5, 1], [3, 1], 3).tolist() == [0]


def test_knapsack_ties_keep_the_earlier_item():
    # vsumm-reinforce's rule: a later item replaces an earlier one only if strictly better
    assert knapsack([1.0, 1.0], [1, 1], 1).tolist() == [0]
    assert knapsack([1.0, 1.0, 2.0], [1, 1, 2], 2).tolist() == [0, 1]


def test_knapsack_is_optimal_and_batched_rows_agree():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 8))
        values, weights = rng.random(n), rng.integers(1, 10, n)
        cap = int(rng.integers(0, 25))
        best = max(
            sum(values[list(c)]) for r in range(n + 1) for c in itertools.combinations(range(n), r) if sum(weights[list(c)]) <= cap
        )
        picked = knapsack(values, weights, cap)
        assert weights[picked].sum() <= cap
        assert values[picked].sum() == pytest.approx(best)
    rows = rng.random((4, 6))
    w = rng.integers(1, 5, 6)
    batch = knapsack_batch(rows, w, 7)
    for row, mask in zip(rows, batch):
        assert np.flatnonzero(mask).tolist() == knapsack(row, w, 7).tolist()


def test_f1_hand_cases():
    pred = np.array([1, 1, 0, 0], bool)
    refs = np.array([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]], bool)
    # overlap 1 of 2 each way -> P = R = 0.5; identical -> 1; no overlap -> 0
    assert f1_against(pred, refs).tolist() == [0.5, 1.0, 0.0]
    assert f1_against(np.zeros(4, bool), refs).tolist() == [0.0, 0.0, 0.0]
    # P = 1/3, R = 1 -> F1 = 2 * (1/3) / (4/3) = 0.5
    assert f1_against(np.array([1, 1, 1, 0], bool), np.array([[0, 0, 1, 0]], bool))[0] == pytest.approx(0.5)


def test_keyshot_summary_takes_best_mean_shots_within_budget():
    shots = np.array([[0, 4], [4, 6], [6, 10]])
    scores = np.array([1, 1, 1, 1, 9, 9, 5, 5, 0, 0], float)  # means 1, 9, 2.5
    # budget 0.6 -> capacity 6: shot 1 (2 frames, 9) + shot 2 (4 frames, 2.5) beat shot 0 + shot 1
    summary = keyshot_summaries(scores, shots, 0.6)[0]
    assert summary.tolist() == [False] * 4 + [True] * 6
    # capacity floor(0.15 * 10) = 1 frame: nothing fits
    assert not keyshot_summaries(scores, shots, 0.15).any()


def test_expand_scores_per_frame_and_per_second():
    assert expand_scores(np.array([1.0, 2.0, 3.0]), 1, 3).tolist() == [1, 2, 3]
    # k = 2.5: score i covers [floor(2.5 i), floor(2.5 (i + 1))) -> lengths 2, 3, 2, 3
    assert expand_scores(np.arange(4.0), 2.5, 10).tolist() == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
    # the last second may be partial: 3 scores of 4 frames cover a 9-frame video
    assert expand_scores(np.arange(3.0), 4, 9).tolist() == [0] * 4 + [1] * 4 + [2]


@pytest.mark.parametrize("m", [2, 4])
def test_expand_scores_rejects_wrong_length(m):
    with pytest.raises(ValueError, match="expected 3 scores"):
        expand_scores(np.arange(float(m)), 4, 9)


def test_fixed_and_checked_shots():
    assert fixed_shots(10, 4).tolist() == [[0, 4], [4, 8], [8, 10]]
    assert check_shots([[0, 3], [3, 10]], 10).tolist() == [[0, 3], [3, 10]]
    for bad, why in [
        ([[0, 3], [4, 10]], "gap or overlap"),
        ([[0, 3], [3, 9]], "do not cover"),
        ([[1, 3], [3, 10]], "not 0"),
        ([[0, 3], [3, 3], [3, 10]], "empty"),
        ([[0, 2.5], [2.5, 10]], "integer"),
        ([], "non-empty"),
    ]:
        with pytest.raises(ValueError, match=why):
            check_shots(bad, 10)


def _kts_brute_force(x: np.ndarray, max_shots: int, vmax: float) -> list[int]:
    """KTS by enumeration (Potapov et al.'s cpd_auto objective), the oracle for tiny inputs."""
    n = len(x)

    def scatter(bounds):
        return sum(((x[a:b] - x[a:b].mean(0)) ** 2).sum() for a, b in zip(bounds[:-1], bounds[1:]))

    best, best_cost = [], scatter([0, n]) / n
    for m in range(1, min(max_shots - 1, n - 1) + 1):
        seg = min((scatter([0, *c, n]), list(c)) for c in itertools.combinations(range(1, n), m))
        cost = seg[0] / n + vmax * m / (2 * n) * (math.log(n / m) + 1)
        if cost < best_cost:
            best, best_cost = seg[1], cost
    return best


def _piecewise(rng: np.random.Generator, n: int, d: int, noise: float) -> np.ndarray:
    """Piecewise-constant features (1-6 random levels of random lengths) plus Gaussian noise."""
    k = int(rng.integers(1, min(6, n) + 1))
    sizes = rng.multinomial(n - k, np.ones(k) / k) + 1
    return np.repeat(rng.normal(size=(k, d)), sizes, axis=0) + noise * rng.normal(size=(n, d))


def test_kts_matches_brute_force_and_finds_clear_cuts():
    rng = np.random.default_rng(0)
    for vmax in (0.05, 1.0):
        for x in (rng.normal(size=(9, 3)), _piecewise(rng, 9, 2, 0.05)):
            assert kts_change_points(x, 6, vmax).tolist() == _kts_brute_force(x, 6, vmax)
    levels = np.repeat(np.eye(3), [5, 7, 4], axis=0) + 0.01 * rng.normal(size=(16, 3))
    assert kts_change_points(levels, 10).tolist() == [5, 12]
    assert kts_change_points(levels, 1).tolist() == []


def _kts_ruptures(x: np.ndarray, max_shots: int, vmax: float) -> list[int]:
    """The former implementation: ruptures' exact KernelCPD solved anew for each number of change points."""
    import ruptures

    n = len(x)
    costs = shots_module.segment_scatter(x)
    best, best_cost = [], costs[0, n] / n
    if min(max_shots - 1, n - 1) < 1:
        return best
    algo = ruptures.KernelCPD(kernel="linear", min_size=1, jump=1).fit(x)
    for m in range(1, min(max_shots - 1, n - 1) + 1):
        cps = algo.predict(n_bkps=m)[:-1]
        bounds = [0, *cps, n]
        cost = sum(costs[a, b] for a, b in itertools.pairwise(bounds)) / n + vmax * m / (2 * n) * (math.log(n / m) + 1)
        if cost < best_cost:
            best, best_cost = cps, cost
    return best


def test_kts_one_programme_equals_ruptures_per_number_of_change_points():
    pytest.importorskip("ruptures")
    rng = np.random.default_rng(1)
    for trial in range(24):
        n, d = int(rng.integers(5, 70)), int(rng.integers(1, 6))
        x = rng.normal(size=(n, d)) if trial % 2 else _piecewise(rng, n, d, 0.05)
        for vmax in (0.0, 0.1, 1.0):
            cap = int(rng.integers(1, n + 2))
            assert kts_change_points(x, cap, vmax).tolist() == _kts_ruptures(x, cap, vmax), (trial, vmax, cap)


def test_kts_cap_grows_with_the_video_and_long_videos_are_cut_into_windows():
    rng = np.random.default_rng(2)
    # 30 two-second shots of distinct levels: a cap of one shot per 2 s finds all 29 cuts, one per 6 s at most 9
    x = np.repeat(rng.normal(size=(30, 4)), 2, axis=0) + 0.01 * rng.normal(size=(60, 4))
    assert kts_seconds(x, 2.0, 0.1).tolist() == list(range(2, 60, 2))
    assert len(kts_seconds(x, 6.0, 0.1)) <= 9
    assert kts_windows(25, 10).tolist() == [0, 8, 16, 25] and kts_windows(25, 30).tolist() == [0, 25]
    # windows: each segmented alone (cap per window), borders are cuts; one window equals plain KTS
    y = np.repeat(rng.normal(size=(5, 4)), [7, 6, 5, 4, 3], axis=0)
    assert kts_seconds(y, 1.0, 0.1, window=100).tolist() == kts_change_points(y, 25, 0.1).tolist() == [7, 13, 18, 22]
    bounds = kts_windows(25, 10)
    expected = sorted({*bounds[1:-1].tolist(), *(lo + c for lo, hi in itertools.pairwise(bounds)
                                                 for c in kts_change_points(y[lo:hi], hi - lo, 0.1).tolist())})
    windowed = kts_seconds(y, 1.0, 0.1, window=10).tolist()
    assert windowed == expected and {8, 16} <= set(windowed)


def test_frame_features_in_chunks_equal_all_at_once(monkeypatch):
    frames = np.random.default_rng(3).integers(0, 256, (11, 12, 10, 3), dtype=np.uint8)
    whole = frame_features(frames)
    monkeypatch.setattr(shots_module, "FEATURE_CHUNK", 4)
    np.testing.assert_array_equal(frame_features(frames), whole)
    assert frame_features(frames[:0]).shape == (0, whole.shape[1])


def test_split_shots_cuts_long_shots_into_equal_sub_shots():
    shots = np.array([[0, 3], [3, 13], [13, 14]])
    assert split_shots(shots, 3, 3.0).tolist() == [[0, 3], [3, 5], [5, 8], [8, 10], [10, 13], [13, 14]]
    assert split_shots(shots, 10, 3.0).tolist() == shots.tolist()
    assert split_shots(np.array([[0, 5]]), 0, 1.0).tolist() == [[i, i + 1] for i in range(5)]


def test_fit_shots_gives_a_summary_of_about_the_budget():
    # one 3000-frame shot, 15%: capacity 450 = 2 sub-shots of <= 225 (max 250): 14 sub-shots, 2 chosen
    one = fit_shots(np.array([[0, 3000]]), 0.15, 3000, 250)
    check_shots(one, 3000)
    assert len(one) == 14 and np.diff(one).max() <= 225
    chosen = keyshot_summaries(np.linspace(1, 5, 3000), one, 0.15, value="total")[0].sum()
    assert 450 - np.diff(one).max() < chosen <= 450
    # a 4-s clip of 25 fps, one shot longer than the whole budget (15 frames): sub-shots of 14-15 frames
    clip = fit_shots(np.array([[0, 100]]), 0.15, 100, 250)
    assert set(np.diff(clip).ravel().tolist()) == {14, 15}
    assert keyshot_summaries(np.ones(100), clip, 0.15, value="total")[0].sum() in (14, 15)
    # short shots stay as they are
    assert fit_shots(np.array([[0, 10], [10, 200]]), 0.5, 200, 250).tolist()[0] == [0, 10]
    with pytest.raises(ValueError, match="shorter than one frame"):
        fit_shots(np.array([[0, 6]]), 0.15, 6, 250)


def test_kts_shots_map_seconds_to_frames_and_read_frames_h5(tmp_path):
    feats = np.repeat(np.eye(2), [3, 2], axis=0)
    # change at second 3 -> frame floor(3 * 5/2) = 7; 5 seconds of 5/2 fps cover 12 frames
    assert kts_shots(feats, 12, Fraction(5, 2), 1.0).tolist() == [[0, 7], [7, 12]]
    # NTSC: a change at second 3 starts at frame floor(3 * 30000/1001) = 89 (89.91 frames in)
    assert kts_shots(feats, 150, Fraction(30000, 1001), 1.0).tolist() == [[0, 89], [89, 150]]
    frames = np.zeros((6, 8, 8, 3), np.uint8)
    frames[3:] = 255
    with h5py.File(tmp_path / "frames.h5", "w") as f:
        write_video(f, "v1", Fraction(10), 55, frames)  # 55 frames at 10 fps: 6 seconds, the last one partial
    kts = EvaluateParams(shots="kts", kts_shot_seconds=2.0)
    assert evaluation_shots(kts, tmp_path / "frames.h5")["v1"].tolist() == [[0, 30], [30, 55]]
    assert evaluation_shots(kts, tmp_path / "frames.h5", video_ids=["v1"])["v1"].tolist() == [[0, 30], [30, 55]]
    assert evaluation_shots(EvaluateParams(shots="fixed"), tmp_path / "frames.h5") is None
    with pytest.raises(InputError, match="no frames for video v2"):
        evaluation_shots(kts, tmp_path / "frames.h5", video_ids=["v2"])


def test_rank_correlations_match_scipy_and_flat_inputs_count_as_zero(monkeypatch):
    rng = np.random.default_rng(1)
    users = rng.integers(1, 6, (4, 300)).astype(float)
    ann = RankedAnnotators.of(users)
    preds = [rng.random(300), rng.integers(1, 6, 300).astype(float), np.repeat(rng.random(30), 10)]

    def check():
        for p in preds:
            assert kendall_taus(p, ann) == pytest.approx([kendalltau(p, u).statistic for u in users], abs=1e-12)
            assert spearman_rhos(p, ann) == pytest.approx([spearmanr(p, u).statistic for u in users], abs=1e-12)
        pairs = list(zip(*np.triu_indices(4, 1)))
        assert pairwise_kendall_taus(ann) == pytest.approx([kendalltau(users[i], users[j]).statistic for i, j in pairs], abs=1e-12)
        assert pairwise_spearman_rhos(ann) == pytest.approx([spearmanr(users[i], users[j]).statistic for i, j in pairs], abs=1e-12)

    check()
    monkeypatch.setattr(metrics, "TABLE_CELLS", 1)  # scipy's sorting path must give the same numbers
    check()
    flat = np.ones(300)
    assert kendall_taus(flat, ann).tolist() == [0.0] * 4
    assert spearman_rhos(flat, ann).tolist() == [0.0] * 4


def test_keyshot_value_mean_prefers_short_shots_total_prefers_importance() -> None:
    # Two 1-frame shots scoring 2 and one 4-frame shot scoring 3; capacity floor(0.67 * 6) = 4 frames.
    scores = np.array([2.0, 2.0, 3.0, 3.0, 3.0, 3.0])
    shots = np.array([[0, 1], [1, 2], [2, 6]])
    mean = keyshot_summaries(scores, shots, 0.67)[0]  # values 2 + 2 > 3: the field's convention
    total = keyshot_summaries(scores, shots, 0.67, value="total")[0]  # values 2 + 2 < 12
    assert mean.tolist() == [True, True, False, False, False, False]
    assert total.tolist() == [False, False, True, True, True, True]
    with pytest.raises(ValueError, match="shot value"):
        keyshot_summaries(scores, shots, 0.67, value="max")
