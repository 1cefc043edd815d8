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
