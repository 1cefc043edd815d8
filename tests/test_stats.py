"""Paired comparisons of two systems on the same videos, on cases small enough to count by hand."""

from __future__ import annotations

import numpy as np
import pytest

from deevisum.evaluation.stats import cluster_ci, paired_comparison


def pair(diffs: list[float]) -> tuple[dict[str, float], dict[str, float]]:
    """Two systems whose per-video differences are ``diffs`` (b scores 0.5 everywhere)."""
    return {f"v{i}": 0.5 + d for i, d in enumerate(diffs)}, {f"v{i}": 0.5 for i in range(len(diffs))}


def test_exact_sign_flip_p_values_by_hand():
    # diffs (1, 1, 1): of the 8 sign flips only all-plus and all-minus reach |mean| 1
    a, b = pair([1, 1, 1])
    out = paired_comparison(a, b, n_bootstrap=200, n_permutations=8, seed=0)
    assert out["p_value"] == pytest.approx(2 / 8) and out["mean_diff"] == pytest.approx(1.0)
    assert out["ci95"] == pytest.approx([1.0, 1.0]) and out["holds"] and out["n_videos"] == 3
    # no difference at all: every flip reaches 0, p = 1, and the CI [0, 0] does not lie above 0
    a, b = pair([0, 0, 0])
    out = paired_comparison(a, b, n_bootstrap=200, n_permutations=8, seed=0)
    assert out["p_value"] == 1.0 and out["ci95"] == [0.0, 0.0] and not out["holds"]
    # (1, -1, 2): sums over the flips are +-2, +-2, +-4, 0, 0 -> 6 of 8 reach |2|
    a, b = pair([1, -1, 2])
    assert paired_comparison(a, b, n_bootstrap=200, n_permutations=100, seed=0)["p_value"] == pytest.approx(6 / 8)


def test_symmetric_and_order_free():
    a, b = pair([0.3, -0.1, 0.2, 0.4])
    ab = paired_comparison(a, b, 500, 100, seed=1)
    ba = paired_comparison(b, a, 500, 100, seed=1)
    assert ba["mean_diff"] == pytest.approx(-ab["mean_diff"]) and ba["p_value"] == pytest.approx(ab["p_value"])
    assert ba["ci95"] == pytest.approx([-ab["ci95"][1], -ab["ci95"][0]])
    shuffled = dict(reversed(list(a.items())))
    assert paired_comparison(shuffled, b, 500, 100, seed=1) == ab  # videos are taken in sorted order


def test_monte_carlo_p_value_keeps_the_plus_one():
    # 20 equal positive diffs: 2^20 flips > 999, so 999 random ones; only all-plus or all-minus reach
    # the observed mean, and at most by chance: p = (1 + hits) / 1000, never 0
    a, b = pair([1.0] * 20)
    out = paired_comparison(a, b, n_bootstrap=100, n_permutations=999, seed=0)
    assert out["p_value"] == pytest.approx(1 / 1000)
    rng = np.random.default_rng(0)
    a, b = pair(rng.normal(0, 1, 30).tolist())
    assert 0.05 < paired_comparison(a, b, 200, 2000, seed=0)["p_value"] <= 1


def test_different_videos_are_named():
    with pytest.raises(ValueError, match=r"only in a \['v2'\], only in b \['x'\]"):
        paired_comparison({"v1": 1.0, "v2": 1.0}, {"v1": 0.0, "x": 0.0}, 10, 10, 0)


def test_cluster_ci_pools_rows_and_resamples_videos() -> None:
    agreeing, rows = {"a": 9.0, "b": 1.0, "c": 5.0}, {"a": 10.0, "b": 10.0, "c": 5.0}
    out = cluster_ci(agreeing, rows, 2000, 0)
    assert out["mean"] == 15 / 25 and out["n_videos"] == 3
    assert 0.1 <= out["ci95"][0] < out["mean"] < out["ci95"][1] <= 1.0  # videos, not rows, are resampled: wide
    assert cluster_ci({"a": 0.2, "b": 0.4}, None, 100, 0)["mean"] == pytest.approx(0.3)  # no counts: mean of the values
    assert cluster_ci(agreeing, rows, 2000, 0) == out  # the same seed draws the same resamples
