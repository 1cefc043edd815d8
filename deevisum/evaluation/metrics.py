"""Per-video metrics: F1 of a keyshot summary against reference summaries, rank correlations.

Keyshot F1 as vsumm-reinforce/DSNet compute it: the summary from
:func:`deevisum.summary.keyshots.keyshot_summaries`, F1 = 2PR/(P+R) of the frame-level
overlap, 0 when nothing overlaps. Rank correlation as Otani et al.
(CVPR 2019): Kendall tau-b and Spearman rho between predicted and annotator frame scores
(tau-b on ranks equals tau-b on the values, ranking being monotone, so no re-ranking is done).
scipy.stats (a second to import) is imported where it is used, so the ``deevisum`` commands start fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def f1_against(summary: np.ndarray, references: np.ndarray) -> np.ndarray:
    """F1 of one bool summary (n,) against each reference row (U, n); 0 where nothing overlaps."""
    overlap = (references & summary).sum(axis=1).astype(np.float64)
    n_pred, n_ref = summary.sum(), references.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = overlap / n_pred, overlap / n_ref
        f1 = 2 * precision * recall / (precision + recall)
    return np.where(overlap > 0, f1, 0.0)


TABLE_CELLS = 250_000
"""Largest contingency table for the counting path of tau-b; beyond it scipy's O(n log n) is used."""


def _tau_b_tables(tables: np.ndarray) -> np.ndarray:
    """Kendall tau-b from contingency tables (..., levels_x, levels_y) of pairs of rankings.

    Concordant pairs pair a cell with every cell strictly below-right, discordant ones with
    every cell strictly below-left: exact integer counts in O(cells), vectorised over tables,
    instead of an O(n log n) sort per pair (20 annotators: 190 pairs per video). The counts fit int64
    (at most n^2 / 2); the product under the square root does not above ~85k frames, so it is float64.
    """
    t = tables.astype(np.int64)
    below_right = np.flip(np.flip(t, (-2, -1)).cumsum(-2).cumsum(-1), (-2, -1))
    below_left = np.flip(np.flip(t, -2).cumsum(-2), -2).cumsum(-1)
    concordant = (t[..., :-1, :-1] * below_right[..., 1:, 1:]).sum((-2, -1))
    discordant = (t[..., :-1, 1:] * below_left[..., 1:, :-1]).sum((-2, -1))
    rows, cols = t.sum(-1), t.sum(-2)
    n = rows.sum(-1)
    n0 = n * (n - 1) // 2
    denom = (n0 - (rows * (rows - 1) // 2).sum(-1)).astype(np.float64) * (n0 - (cols * (cols - 1) // 2).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (concordant - discordant) / np.sqrt(denom), 0.0)


@dataclass(frozen=True)
class RankedAnnotators:
    """Annotators' frame scores prepared once per video for any number of rank correlations."""

    codes: np.ndarray
    """(U, n) dense rank codes 0..n_levels-1, ties sharing a code (the tau-b tables' axis)."""
    n_levels: int
    ranks: np.ndarray
    """(U, n) average ranks, centred per annotator (Spearman = Pearson on these)."""

    @classmethod
    def of(cls, user_scores: np.ndarray) -> RankedAnnotators:
        from scipy.stats import rankdata

        levels, codes = np.unique(user_scores, return_inverse=True)
        ranks = rankdata(user_scores, axis=1)
        return cls(codes.reshape(user_scores.shape), len(levels), ranks - ranks.mean(axis=1, keepdims=True))


def _taus_coded(codes_p: np.ndarray, n_p: int, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """tau-b of one coded ranking against each row of ``codes``, through one batched bincount."""
    cells = n_p * n_levels
    flat = np.arange(len(codes))[:, None] * cells + codes_p * n_levels + codes
    return _tau_b_tables(np.bincount(flat.ravel(), minlength=len(codes) * cells).reshape(len(codes), n_p, n_levels))


def kendall_taus(pred: np.ndarray, annotators: RankedAnnotators) -> np.ndarray:
    """Kendall tau-b of ``pred`` (n,) against each annotator; 0 where a side is constant."""
    from scipy.stats import kendalltau

    levels_p, codes_p = np.unique(pred, return_inverse=True)
    if len(levels_p) * annotators.n_levels <= TABLE_CELLS:
        return _taus_coded(codes_p, len(levels_p), annotators.codes, annotators.n_levels)
    return np.nan_to_num(np.array([kendalltau(codes_p, c).statistic for c in annotators.codes]))


def pairwise_kendall_taus(annotators: RankedAnnotators) -> np.ndarray:
    """Kendall tau-b of every annotator pair i < j (human leave-one-out), in ``np.triu_indices`` order."""
    from scipy.stats import kendalltau

    codes, n_levels = annotators.codes, annotators.n_levels
    if n_levels * n_levels > TABLE_CELLS:
        return np.nan_to_num([kendalltau(codes[i], codes[j]).statistic for i, j in zip(*np.triu_indices(len(codes), 1))])
    return np.concatenate([_taus_coded(codes[i], n_levels, codes[i + 1 :], n_levels) for i in range(len(codes) - 1)])


def _correlate(centred: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Pearson correlation of centred vectors; a constant side has no ranking and counts as 0 (chance)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num((others @ centred.T) / np.sqrt(np.outer((others * others).sum(-1), (centred * centred).sum(-1))))


def spearman_rhos(pred: np.ndarray, annotators: RankedAnnotators) -> np.ndarray:
    """Spearman rho (Pearson on average ranks) of ``pred`` against each annotator, vectorised.

    A constant side gives 0 rather than NaN, so one flat prediction cannot turn a table into NaN.
    """
    from scipy.stats import rankdata

    rp = rankdata(pred)
    return _correlate((rp - rp.mean())[None], annotators.ranks)[:, 0]


def pairwise_spearman_rhos(annotators: RankedAnnotators) -> np.ndarray:
    """Spearman rho of every annotator pair i < j, in ``np.triu_indices`` order."""
    r = annotators.ranks
    return _correlate(r, r)[np.triu_indices(len(r), 1)]
