"""Aggregation over videos and folds: means, per-category means, bootstrap CIs, fold mean ± std."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from deevisum.evaluation.context import METRICS


def summarize(per_video: Mapping[str, Mapping[str, float]], categories: Mapping[str, str], n_bootstrap: int, seed: int) -> dict:
    """Mean over videos, 95% percentile-bootstrap CI over videos, per-category means, and the per-video rows.

    The bootstrap draws the same video resamples for every metric and (same seed, same videos)
    for the model and the baselines, so their intervals are paired.
    """
    if n_bootstrap < 1:
        raise ValueError(f"evaluate.n_bootstrap must be >= 1, got {n_bootstrap}")
    vids = list(per_video)
    values = {m: np.array([per_video[v][m] for v in vids]) for m in METRICS}
    idx = np.random.default_rng(seed).integers(0, len(vids), size=(n_bootstrap, len(vids)))
    ci95 = {}
    for m, arr in values.items():
        lo, hi = np.percentile(arr[idx].mean(axis=1), [2.5, 97.5])
        ci95[m] = [float(lo), float(hi)]
    per_category: dict[str, dict] = {}
    for cat in sorted({categories[v] for v in vids if categories[v]}):
        members = [i for i, v in enumerate(vids) if categories[v] == cat]
        per_category[cat] = {m: float(values[m][members].mean()) for m in METRICS} | {"n_videos": len(members)}
    return {
        "n_videos": len(vids),
        "mean": {m: float(arr.mean()) for m, arr in values.items()},
        "ci95": ci95,
        "per_category": per_category,
        "videos": {v: dict(per_video[v]) for v in vids},
    }


def _blocks(report: Mapping) -> dict[str, Mapping]:
    """The scored blocks of a report: the model's (if any) and each baseline's."""
    out = {"model": report["model"]} if "model" in report else {}
    out.update({f"baseline_{k}": v for k, v in report.get("baselines", {}).items()})
    return out


def fold_summary(reports: Sequence[Mapping]) -> dict:
    """Mean ± std (population std, as papers report np.std) over folds of each block's mean metrics."""
    blocks = [_blocks(r) for r in reports]
    out: dict = {"n_folds": len(reports)}
    for name in blocks[0]:
        out[name] = {}
        for m in METRICS:
            vals = np.array([b[name]["mean"][m] for b in blocks])
            out[name][m] = {"mean": float(vals.mean()), "std": float(vals.std()), "values": vals.tolist()}
    return out


def plot_rows(report: Mapping) -> list[dict]:
    """One row per (block, metric) with its CI: data for a DVC bar plot of model vs chance vs people."""
    return [
        {"method": name, "metric": m, "value": block["mean"][m], "ci_low": block["ci95"][m][0], "ci_high": block["ci95"][m][1]}
        for name, block in _blocks(report).items()
        for m in METRICS
    ]


def paired_comparison(a: Mapping[str, float], b: Mapping[str, float], n_bootstrap: int, n_permutations: int, seed: int) -> dict:
    """Is system a better than b on the same videos? Mean of the per-video differences a - b, its 95%
    paired percentile-bootstrap CI over videos, and a two-sided sign-flip permutation p-value.

    Under the null (no difference) each video's difference is as likely to have either sign, so the
    p-value is the share of sign flips whose |mean| reaches the observed one: all 2^n flips when
    2^n <= ``n_permutations`` (exact), else ``n_permutations`` random ones with the +1 correction
    (Phipson & Smyth 2010), which never gives p = 0. ``holds``: the CI lies above 0.
    """
    if set(a) != set(b):
        raise ValueError(f"paired comparison needs the same videos: only in a {sorted(set(a) - set(b))}, "
                         f"only in b {sorted(set(b) - set(a))}")
    if not a:
        raise ValueError("paired comparison of no videos")
    if n_bootstrap < 1 or n_permutations < 1:
        raise ValueError(f"n_bootstrap and n_permutations must be >= 1, got {n_bootstrap} and {n_permutations}")
    vids = sorted(a)
    diff = np.array([a[v] - b[v] for v in vids], dtype=np.float64)
    n = len(diff)
    rng = np.random.default_rng(seed)
    boot = diff[rng.integers(0, n, size=(n_bootstrap, n))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    observed = abs(diff.sum())
    tolerance = 1e-9 * max(np.abs(diff).sum(), 1e-300)  # float sums of the same terms in another order
    if 2**n <= n_permutations:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        p = float(np.mean(np.abs(signs @ diff) >= observed - tolerance))
    else:
        signs = rng.choice([-1.0, 1.0], size=(n_permutations, n))
        p = float((1 + np.sum(np.abs(signs @ diff) >= observed - tolerance)) / (n_permutations + 1))
    return {"mean_diff": float(diff.mean()), "ci95": [float(lo), float(hi)], "p_value": p, "n_videos": n, "holds": bool(lo > 0)}


def cluster_ci(totals: Mapping[str, float], counts: Mapping[str, float] | None, n_bootstrap: int, seed: int) -> dict:
    """A ratio over videos, sum of ``totals`` / sum of ``counts`` (``counts`` None: the mean of the per-video
    values), with its 95% percentile-bootstrap CI over videos: rows of one video are correlated, so the
    video is the unit resampled. The same seed and videos draw the same resamples (paired intervals)."""
    if not totals:
        raise ValueError("a confidence interval over no videos")
    vids = sorted(totals)
    num = np.array([totals[v] for v in vids], dtype=np.float64)
    den = np.ones_like(num) if counts is None else np.array([counts[v] for v in vids], dtype=np.float64)
    idx = np.random.default_rng(seed).integers(0, len(vids), size=(max(1, n_bootstrap), len(vids)))
    lo, hi = np.percentile(num[idx].sum(axis=1) / den[idx].sum(axis=1), [2.5, 97.5])
    return {"mean": float(num.sum() / den.sum()), "ci95": [float(lo), float(hi)], "n_videos": len(vids)}
