"""Shot boundaries: fixed-length segments and KTS (kernel temporal segmentation).

Shots are (n_shots, 2) int arrays of [start, end) frame indices that tile the video. KTS is
what built the standard benchmark shots (Potapov et al. 2014, used by vsumm-reinforce/DSNet):
the optimal segmentation for each number of change points under a linear kernel (ruptures'
exact ``KernelCPD`` dynamic programme), then the number picked by KTS's penalty
``scatter/n + vmax * m / (2n) * (log(n/m) + 1)``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from deevisum.timebase import frames_at_seconds


def fixed_shots(n_frames: int, length: int) -> np.ndarray:
    """Consecutive segments of ``length`` frames; the last one is shorter when it does not divide."""
    if length < 1:
        raise ValueError(f"shot length must be >= 1 frame, got {length}")
    starts = np.arange(0, n_frames, length)
    return np.stack([starts, np.minimum(starts + length, n_frames)], axis=1)


def check_shots(shots: object, n_frames: int) -> np.ndarray:
    """Validate that ``shots`` tile [0, n_frames) exactly; raise ValueError saying how they do not."""
    arr = np.asarray(shots)
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
        raise ValueError(f"shots must be a non-empty list of [start, end) pairs, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError("shot boundaries must be integer frame indices")
    arr = arr.astype(np.int64)
    if arr[0, 0] != 0:
        raise ValueError(f"shots start at frame {arr[0, 0]}, not 0: they do not cover the video")
    if arr[-1, 1] != n_frames:
        raise ValueError(f"shots end at frame {arr[-1, 1]}, the video has {n_frames} frames: they do not cover it")
    if np.any(arr[:, 1] <= arr[:, 0]):
        bad = int(np.flatnonzero(arr[:, 1] <= arr[:, 0])[0])
        raise ValueError(f"shot {bad} {arr[bad].tolist()} is empty or reversed")
    gaps = np.flatnonzero(arr[1:, 0] != arr[:-1, 1])
    if len(gaps):
        i = int(gaps[0])
        raise ValueError(f"shot {i} ends at {arr[i, 1]} but shot {i + 1} starts at {arr[i + 1, 0]} (gap or overlap)")
    return arr


def _scatter(cumsum: np.ndarray, sq_cumsum: np.ndarray, bounds: np.ndarray) -> float:
    """Sum over segments of squared distances to the segment mean (the linear-kernel KTS scatter)."""
    lo, hi = bounds[:-1], bounds[1:]
    sums = cumsum[hi] - cumsum[lo]
    sq = sq_cumsum[hi] - sq_cumsum[lo]
    return float(np.sum(sq) - np.sum(np.einsum("ij,ij->i", sums, sums) / (hi - lo)))


def kts_change_points(features: np.ndarray, max_shots: int, vmax: float = 1.0) -> np.ndarray:
    """KTS on (n, d) features: indices where a new segment starts (0 excluded), ascending."""
    import ruptures

    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    max_cps = min(max_shots - 1, n - 1)
    if max_cps < 1:
        return np.zeros(0, dtype=np.int64)
    cumsum = np.vstack([np.zeros(x.shape[1]), np.cumsum(x, axis=0)])
    sq_cumsum = np.concatenate([[0.0], np.cumsum(np.einsum("ij,ij->i", x, x))])
    algo = ruptures.KernelCPD(kernel="linear", min_size=1, jump=1).fit(x)
    best_cost, best = _scatter(cumsum, sq_cumsum, np.array([0, n])) / n, np.zeros(0, dtype=np.int64)
    for m in range(1, max_cps + 1):
        cps = np.asarray(algo.predict(n_bkps=m)[:-1], dtype=np.int64)
        cost = _scatter(cumsum, sq_cumsum, np.concatenate([[0], cps, [n]])) / n
        cost += vmax * m / (2.0 * n) * (math.log(n / m) + 1)
        if cost < best_cost:
            best_cost, best = cost, cps
    return best


def frame_features(frames: np.ndarray, grid: int = 4, bins: int = 8) -> np.ndarray:
    """Cheap per-frame features for KTS: a grid x grid colour thumbnail plus colour histograms, L2-normalised.

    ``frames`` is (n, H, W, 3) uint8 (frames.h5). The thumbnail sees layout changes, the
    histogram colour changes; L2 normalisation keeps KTS's vmax on the scale it was tuned for.
    """
    f = np.asarray(frames, dtype=np.float64) / 255.0
    rows = np.array_split(np.arange(f.shape[1]), grid)
    cols = np.array_split(np.arange(f.shape[2]), grid)
    thumb = np.stack([f[:, r][:, :, c].mean(axis=(1, 2)) for r in rows for c in cols], axis=1).reshape(len(f), -1)
    levels = np.minimum((f * bins).astype(np.int64), bins - 1)
    hist = np.stack([(levels[..., ch] == b).mean(axis=(1, 2)) for ch in range(3) for b in range(bins)], axis=1)
    feats = np.concatenate([thumb, hist], axis=1)
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def kts_shots(features: np.ndarray, n_frames: int, rate: Fraction, max_shots: int, vmax: float = 1.0) -> np.ndarray:
    """KTS over per-second features (n_seconds, d) -> frame shots; a shot starting at second i starts at its first frame."""
    cps = kts_change_points(features, max_shots, vmax)
    starts = frames_at_seconds(cps, rate)
    bounds = np.unique(np.concatenate([[0], starts[starts < n_frames], [n_frames]]))
    return check_shots(np.stack([bounds[:-1], bounds[1:]], axis=1), n_frames)
