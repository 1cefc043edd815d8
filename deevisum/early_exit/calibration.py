"""Early-exit thresholds calibrated on held-out calibration videos, with a guarantee on agreement.

A row *agrees* when its exited answer is the one full depth gives: the same most likely answer
and, with ``ee.score_tolerance``, an expected score within that tolerance (:func:`agrees`).
With one threshold ``lam`` shared by the exits, a row leaves at the first exit whose
confidence reaches ``lam``; the risk ``R(lam)`` is the fraction of rows that leave with an
answer that does not agree (rows that run to full depth agree by definition).

Calibration is Learn-then-Test (Angelopoulos et al. 2021) with fixed-sequence testing, the
procedure CALM (Schuster et al. 2022) uses for early exit: for ``lam`` on a grid fixed in
advance, from 1 down to 0, test H0: R(lam) > 1 - target_agreement with the exact binomial
p-value of the calibration disagreements; walk down while H0 is rejected at level ``delta``
and keep the last rejected ``lam``. When even the first grid point cannot be certified (too
few calibration rows, or disagreements at every confidence) nothing exits.

What is guaranteed depends on the unit that is drawn at random (``ee.calibration_unit``):

- ``row``: P(R(lam) <= 1 - target) >= 1 - delta over draws of calibration *rows* exchangeable
  with the test rows. Rows of one video are not independent (neighbouring seconds look alike),
  so with a few calibration videos this holds only as an approximation, and can fail often.
- ``video``: the risk is a video's share of rows that leave with a disagreeing answer, averaged
  over videos (``R_video``); each calibration video gives one bounded value, its share, and the
  p-value is Hoeffding-Bentkus (Bates et al. 2021) on their mean, valid for videos drawn i.i.d.
  from the distribution of the test videos, however correlated the rows within a video are.
  P(R_video(lam) <= 1 - target) >= 1 - delta over draws of calibration videos. The price: with n
  videos the smallest p-value is (1 - epsilon)^n, so certifying anything at all needs
  n >= log(delta) / log(1 - epsilon) videos (45 for epsilon 0.05, delta 0.1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.stats import binom, rankdata

GRID = tuple(round(1 - k / 200, 3) for k in range(201))
"""Thresholds tested, in the fixed order of the sequence (1.0, 0.995, ..., 0.0)."""
NEVER = math.inf
"""The threshold that no confidence reaches: every row runs to full depth."""


def agrees(exit_logits: torch.Tensor, full_logits: torch.Tensor, tolerance: float | None) -> torch.Tensor:
    """(N,) bool: the exit's answer equals full depth's (argmax; and expected scores within ``tolerance``)."""
    same = exit_logits.argmax(-1) == full_logits.argmax(-1)
    if tolerance is None:
        return same
    scale = torch.arange(1, exit_logits.shape[-1] + 1, dtype=torch.float32)
    gap = (exit_logits.float().softmax(-1) @ scale - full_logits.float().softmax(-1) @ scale).abs()
    return same & (gap <= tolerance)


def auroc(confidence: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``confidence`` for ``positive`` (Mann-Whitney, ties count half);
    NaN when one class is absent."""
    confidence, positive = np.asarray(confidence, np.float64), np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(confidence)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


MIN_NEGATIVES = 10
"""Fewer disagreeing rows than this and an AUROC says too little to report (:func:`auroc_ci`)."""


def auroc_ci(confidence: np.ndarray, positive: np.ndarray, videos: np.ndarray, n_bootstrap: int, seed: int) -> dict:
    """AUROC of ``confidence`` for ``positive`` with a 95% percentile-bootstrap CI over videos (rows of a
    video are correlated, so videos are resampled) and the class counts; withheld (null, with the
    reason) below :data:`MIN_NEGATIVES` negatives or positives."""
    positive, videos = np.asarray(positive, bool), np.asarray(videos)
    out: dict = {"n_rows": len(positive), "n_negatives": int((~positive).sum()), "n_videos": len(set(videos.tolist()))}
    if min(out["n_negatives"], len(positive) - out["n_negatives"]) < MIN_NEGATIVES:
        return out | {"auroc": None, "ci95": None, "withheld": f"fewer than {MIN_NEGATIVES} rows of a class"}
    names, codes = np.unique(videos, return_inverse=True)
    members = [np.flatnonzero(codes == k) for k in range(len(names))]
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_bootstrap):
        rows = np.concatenate([members[k] for k in rng.integers(0, len(names), len(names))])
        boot.append(auroc(confidence[rows], positive[rows]))
    lo, hi = np.nanpercentile(boot, [2.5, 97.5])
    return out | {"auroc": auroc(confidence, positive), "ci95": [float(lo), float(hi)]}


def first_exit(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """(N,) index of the first exit whose confidence reaches ``threshold``, -1 for full depth;
    ``confidence`` is (n_exits, N)."""
    reached = np.asarray(confidence) >= threshold
    return np.where(reached.any(0), reached.argmax(0), -1)


def wrong_rows(confidence: np.ndarray, agree: np.ndarray, threshold: float) -> np.ndarray:
    """(N,) bool: the row leaves early with an answer that does not agree with full depth."""
    exit_at = first_exit(confidence, threshold)
    rows = np.flatnonzero(exit_at >= 0)
    out = np.zeros(len(exit_at), bool)
    out[rows] = ~np.asarray(agree, bool)[exit_at[rows], rows]
    return out


def disagreements(confidence: np.ndarray, agree: np.ndarray, threshold: float) -> int:
    """Rows that leave early with an answer that does not agree with full depth."""
    return int(wrong_rows(confidence, agree, threshold).sum())


def _kl(a: float, b: float) -> float:
    """Bernoulli KL divergence KL(a || b), 0 log 0 = 0."""
    return sum(x * math.log(x / y) for x, y in ((a, b), (1 - a, 1 - b)) if x > 0)


def hoeffding_bentkus(mean: float, n: int, epsilon: float) -> float:
    """p-value of H0: E[X] > epsilon from the mean of n i.i.d. X in [0, 1] (Bates et al. 2021, RCPS):
    the smaller of Hoeffding's exp(-n KL(min(mean, epsilon) || epsilon)) and Bentkus'
    e * P(Binomial(n, epsilon) <= ceil(n * mean))."""
    if n == 0:
        return 1.0
    hoeffding = math.exp(-n * _kl(min(mean, epsilon), epsilon))
    bentkus = math.e * float(binom.cdf(math.ceil(n * mean - 1e-9), n, epsilon))
    return min(1.0, hoeffding, bentkus)


@dataclass(frozen=True)
class Calibration:
    """The threshold chosen on the calibration rows and the evidence for it."""

    threshold: float
    """The smallest certified threshold (``NEVER``: nothing could be certified)."""
    target_agreement: float
    delta: float
    n_rows: int
    val_agreement: float
    """Agreement with full depth on the calibration rows at ``threshold``."""
    val_exit_fraction: float
    p_value: float
    """p-value of H0 "risk > 1 - target" at ``threshold`` (NaN when nothing was certified): binomial on
    rows, or Hoeffding-Bentkus on the videos' shares (``unit``)."""
    reason: str
    unit: str = "row"
    """What the guarantee draws at random: calibration ``row`` or ``video`` (module docstring)."""
    n_videos: int | None = None
    """Videos of the calibration rows (the ``video`` unit's sample size)."""

    def to_dict(self) -> dict:
        """JSON-able: no threshold and no p-value (null) when nothing was certified."""
        d = asdict(self)
        d["threshold"] = None if self.threshold == NEVER else self.threshold
        d["p_value"] = None if math.isnan(self.p_value) else self.p_value
        return d


def calibrate(confidence: np.ndarray, agree: np.ndarray, target_agreement: float, delta: float,
              videos: np.ndarray | None = None) -> Calibration:
    """Learn-then-Test fixed-sequence calibration on held-out rows.

    ``confidence`` and ``agree`` are (n_exits, N): each exit's confidence and whether its answer
    agrees with full depth, for the same N calibration rows. ``videos`` (N,): each row's video, to
    test the videos' shares of disagreeing rows instead of the rows (the ``video`` unit).
    """
    n = confidence.shape[1]
    epsilon = 1 - target_agreement
    if videos is not None:
        codes = np.unique(np.asarray(videos), return_inverse=True)[1]
        per_video = np.bincount(codes)
        n_units, unit = len(per_video), "video"

        def p_value(wrong: np.ndarray) -> float:
            return hoeffding_bentkus(float(np.mean(np.bincount(codes, wrong.astype(np.float64), len(per_video)) / per_video)), n_units, epsilon)
    else:
        n_units, unit = n, "row"

        def p_value(wrong: np.ndarray) -> float:
            return float(binom.cdf(int(wrong.sum()), n, epsilon)) if n else 1.0
    chosen, p_chosen, k = NEVER, float("nan"), 0
    for lam in GRID:
        wrong = wrong_rows(confidence, agree, lam)
        p = p_value(wrong)
        if p > delta:
            break
        chosen, p_chosen, k = lam, p, int(wrong.sum())
    n_videos = n_units if unit == "video" else None
    if chosen == NEVER:
        reason = (f"no threshold certified: {n_units} calibration {unit}s cannot show agreement >= {target_agreement} "
                  f"with confidence {1 - delta:g} even for the most confident exits; every row runs to full depth")
        return Calibration(NEVER, target_agreement, delta, n, 1.0, 0.0, float("nan"), reason, unit, n_videos)
    leave = first_exit(confidence, chosen) >= 0
    return Calibration(chosen, target_agreement, delta, n, 1 - k / max(n, 1), float(leave.mean()), p_chosen,
                       f"smallest threshold of the fixed sequence whose risk test ({unit}s) rejects at delta={delta:g}",
                       unit, n_videos)
