"""Calibration with videos as the unit keeps its promise when rows of a video are correlated.

Synthetic validation sets are drawn as videos: each video has a difficulty d ~ Beta(0.5, 2) shared
by its rows; a row's confidence at each of two exits is uniform, and the exit's answer disagrees
with full depth with probability d * (1 - confidence). The risk of threshold lam (a video's share
of rows that leave with a disagreeing answer, averaged over videos) is then known exactly:
E[d] (1 - lam)^2 (1 + lam) / 2. Over many draws, the chosen threshold's risk exceeds
1 - target in at most a delta share of draws (plus Monte-Carlo error) for the video unit; the row
unit, which counts correlated rows as independent, exceeds it far more often.
"""

from __future__ import annotations

import math

import numpy as np

from deevisum.early_exit.calibration import NEVER, calibrate, hoeffding_bentkus

TARGET, DELTA, DRAWS = 0.95, 0.1, 1000
MEAN_D = 0.5 / 2.5


def true_risk(lam: float) -> float:
    return 0.0 if lam == NEVER else MEAN_D * (1 - lam) ** 2 * (1 + lam) / 2


def draw(n_videos: int, rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.repeat(rng.beta(0.5, 2.0, n_videos), rows)
    conf = rng.random((2, n_videos * rows))
    agree = rng.random(conf.shape) >= d * (1 - conf)
    return conf, agree, np.repeat(np.arange(n_videos), rows)


def violations(n_videos: int, rows: int, unit: str, seed: int, draws: int = DRAWS) -> tuple[float, float]:
    """(share of draws whose chosen threshold's risk exceeds 1 - target, share of draws that certified one)."""
    rng = np.random.default_rng(seed)
    bad = certified = 0
    for _ in range(draws):
        conf, agree, videos = draw(n_videos, rows, rng)
        lam = calibrate(conf, agree, TARGET, DELTA, videos if unit == "video" else None).threshold
        bad += true_risk(lam) > 1 - TARGET
        certified += lam != NEVER
    return bad / draws, certified / draws


def test_video_unit_violates_at_most_delta_under_within_video_correlation() -> None:
    mc = 3 * math.sqrt(DELTA * (1 - DELTA) / DRAWS)
    rate, certified = violations(n_videos=400, rows=5, unit="video", seed=0)
    assert rate <= DELTA + mc and certified > 0.9  # a threshold is found in most draws, and it holds
    row_rate, _ = violations(n_videos=20, rows=100, unit="row", seed=1, draws=400)  # about 0.3
    assert row_rate > DELTA + 3 * math.sqrt(DELTA * (1 - DELTA) / 400)  # correlated rows as independent: it fails


def test_hoeffding_bentkus_by_hand() -> None:
    assert abs(hoeffding_bentkus(0.0, 45, 0.05) - (1 - 0.05) ** 45) < 1e-12  # no disagreement: Hoeffding's (1 - eps)^n
    assert hoeffding_bentkus(0.0, 3, 0.05) > 0.8 and hoeffding_bentkus(0.2, 100, 0.05) == 1.0
    assert hoeffding_bentkus(0.5, 0, 0.05) == 1.0
    # three validation videos, as in the demo's folds, can never certify anything at the video unit
    conf, agree = np.full((2, 120), 0.99), np.ones((2, 120), bool)
    cal = calibrate(conf, agree, TARGET, DELTA, np.repeat(["a", "b", "c"], 40))
    assert cal.threshold == NEVER and cal.unit == "video" and cal.n_videos == 3 and "3 calibration videos" in cal.reason
    assert calibrate(conf, agree, TARGET, DELTA).threshold == 0.0  # as rows, the same data certifies everything
