"""Early-exit thresholds calibrated on validation videos, with a guarantee on held-out agreement.

A row *agrees* when its exited answer is the one full depth gives: the same most likely answer
and, with ``ee.score_tolerance``, an expected score within that tolerance (:func:`agrees`).
With one threshold ``lam`` shared by the exits, a row leaves at the first exit whose
confidence reaches ``lam``; the risk ``R(lam)`` is the fraction of rows that leave with an
answer that does not agree (rows that run to full depth agree by definition).

Calibration is Learn-then-Test (Angelopoulos et al. 2021) with fixed-sequence testing, the
procedure CALM (Schuster et al. 2022) uses for early exit: for ``lam`` on a grid fixed in
advance, from 1 down to 0, test H0: R(lam) > 1 - target_agreement with the exact binomial
p-value of the validation disagreements; walk down while H0 is rejected at level ``delta``
and keep the last rejected ``lam``. Then P(R(lam) <= 1 - target) >= 1 - delta over draws of
validation sets exchangeable with the test rows. When even the first grid point cannot be
certified (too few validation rows, or disagreements at every confidence) nothing exits.
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


def first_exit(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """(N,) index of the first exit whose confidence reaches ``threshold``, -1 for full depth;
    ``confidence`` is (n_exits, N)."""
    reached = np.asarray(confidence) >= threshold
    return np.where(reached.any(0), reached.argmax(0), -1)


def disagreements(confidence: np.ndarray, agree: np.ndarray, threshold: float) -> int:
    """Rows that leave early with an answer that does not agree with full depth."""
    exit_at = first_exit(confidence, threshold)
    rows = np.flatnonzero(exit_at >= 0)
    return int((~np.asarray(agree, bool)[exit_at[rows], rows]).sum())


@dataclass(frozen=True)
class Calibration:
    """The threshold chosen on validation rows and the evidence for it."""

    threshold: float
    """The smallest certified threshold (``NEVER``: nothing could be certified)."""
    target_agreement: float
    delta: float
    n_rows: int
    val_agreement: float
    """Agreement with full depth on the validation rows at ``threshold``."""
    val_exit_fraction: float
    p_value: float
    """Binomial p-value of H0 "risk > 1 - target" at ``threshold`` (NaN when nothing was certified)."""
    reason: str

    def to_dict(self) -> dict:
        """JSON-able: no threshold and no p-value (null) when nothing was certified."""
        d = asdict(self)
        d["threshold"] = None if self.threshold == NEVER else self.threshold
        d["p_value"] = None if math.isnan(self.p_value) else self.p_value
        return d


def calibrate(confidence: np.ndarray, agree: np.ndarray, target_agreement: float, delta: float) -> Calibration:
    """Learn-then-Test fixed-sequence calibration on validation rows.

    ``confidence`` and ``agree`` are (n_exits, N): each exit's confidence and whether its answer
    agrees with full depth, for the same N validation rows.
    """
    n = confidence.shape[1]
    epsilon = 1 - target_agreement
    chosen, p_chosen, k = NEVER, float("nan"), 0
    for lam in GRID:
        wrong = disagreements(confidence, agree, lam)
        p = float(binom.cdf(wrong, n, epsilon)) if n else 1.0
        if p > delta:
            break
        chosen, p_chosen, k = lam, p, wrong
    if chosen == NEVER:
        reason = (f"no threshold certified: {n} validation rows cannot show agreement >= {target_agreement} "
                  f"with confidence {1 - delta:g} even for the most confident exits; every row runs to full depth")
        return Calibration(NEVER, target_agreement, delta, n, 1.0, 0.0, float("nan"), reason)
    leave = first_exit(confidence, chosen) >= 0
    return Calibration(chosen, target_agreement, delta, n, 1 - k / max(n, 1), float(leave.mean()), p_chosen,
                       f"smallest threshold of the fixed sequence whose risk test rejects at delta={delta:g}")
