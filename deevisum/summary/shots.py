"""Shot boundaries: fixed-length segments and KTS (kernel temporal segmentation).

Shots are (n_shots, 2) int arrays of [start, end) frame indices that tile the video. KTS is
what built the standard benchmark shots (Potapov et al. 2014, used by vsumm-reinforce/DSNet):
the optimal segmentation for each number of change points under a linear kernel (one exact
dynamic programme for all numbers at once), then the number picked by KTS's penalty
``scatter/n + vmax * m / (2n) * (log(n/m) + 1)``. The number of shots is capped at one per
``shot_seconds`` on average, and long videos are segmented in windows (:data:`KTS_WINDOW`).
"""

from __future__ import annotations

import itertools
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


KTS_WINDOW = 900
"""Most seconds one KTS programme sees. Longer videos are cut into equal windows of at most this
length, each segmented on its own with its own shot cap, and every window border is a cut point:
time grows linearly with the length and memory stays that of one window ((w+1)^2 floats, 6.5 MB),
where one programme over a whole hour would need O(n^2) = 100 MB and O(n^3) time. 900 s holds every
TVSum and SumMe video in one window, so the benchmarks keep KTS's whole-video segmentation."""
FEATURE_CHUNK = 256
"""Frames whose features are computed at once: the float copies of an hour of frames would take GBs."""


def segment_scatter(x: np.ndarray) -> np.ndarray:
    """(n+1, n+1): scatter of segment [i, j) around its mean under the linear kernel (upper
    triangle; inf where i >= j, so no empty segment is ever chosen).

    From cumulative sums c: |c_j - c_i|^2 through their Gram matrix (one matmul, no (n^2, d)
    temporary); the features are centred first, which keeps the sums small and exact enough.
    """
    x = x - x.mean(axis=0)
    n = len(x)
    c = np.vstack([np.zeros(x.shape[1]), np.cumsum(x, axis=0)])
    sq = np.concatenate([[0.0], np.cumsum(np.einsum("ij,ij->i", x, x))])
    gram = c @ c.T
    norms = np.diag(gram)
    idx = np.arange(n + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        costs = (sq[None, :] - sq[:, None]) - (norms[None, :] + norms[:, None] - 2 * gram) / (idx[None, :] - idx[:, None])
    costs[idx[:, None] >= idx[None, :]] = np.inf
    return costs


def kts_penalty(n: int, m: int, vmax: float) -> float:
    """KTS's cost of m change points in n samples, added to the scatter / n."""
    return vmax * m / (2.0 * n) * (math.log(n / m) + 1)


def kts_change_points(features: np.ndarray, max_shots: int, vmax: float = 1.0) -> np.ndarray:
    """KTS on (n, d) features: indices where a new segment starts (0 excluded), ascending.

    One dynamic programme gives the least scatter for every number of change points m up to
    ``max_shots - 1`` in one pass (O(m n^2) time, O(n^2) memory), where ruptures' ``KernelCPD``
    solved it anew for each m; KTS's penalty then picks m. The penalty grows with m (m < n) and the
    scatter is never negative, so once the penalty alone reaches the best cost no larger m can win
    and the programme stops there.
    """
    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    max_cps = min(max_shots - 1, n - 1)
    if max_cps < 1:
        return np.zeros(0, dtype=np.int64)
    costs = segment_scatter(x)
    best_cost, best = costs[0, n] / n, np.zeros(0, dtype=np.int64)
    # total[j]: least scatter of x[:j] in m + 1 segments (inf for j <= m); back[m][j]: where its last segment starts
    total = costs[0].copy()
    back = np.zeros((max_cps + 1, n + 1), dtype=np.int64)
    for m in range(1, max_cps + 1):
        penalty = kts_penalty(n, m, vmax)
        if penalty >= best_cost:
            break
        cand = total[m:n, None] + costs[m:n, m + 1 :]  # [i - m, j - m - 1]: x[:i] in m segments, then [i, j)
        arg = np.argmin(cand, axis=0)
        back[m, m + 1 :] = m + arg
        total = np.full(n + 1, np.inf)
        total[m + 1 :] = cand[arg, np.arange(n - m)]
        cost = total[n] / n + penalty
        if cost < best_cost:
            cps, j = [], n
            for k in range(m, 0, -1):
                j = int(back[k][j])
                cps.append(j)
            best_cost, best = cost, np.asarray(cps[::-1], dtype=np.int64)
    return best


def kts_windows(n: int, window: int = KTS_WINDOW) -> np.ndarray:
    """Borders of the fewest equal windows of at most ``window`` samples covering [0, n)."""
    k = max(1, -(-n // window))
    return (np.arange(k + 1) * n) // k


def kts_seconds(features: np.ndarray, shot_seconds: float, vmax: float, window: int = KTS_WINDOW) -> np.ndarray:
    """KTS change points over per-second features, window by window (:data:`KTS_WINDOW`).

    Each window may hold at most ceil(its seconds / ``shot_seconds``) shots, so the cap grows
    with the video; window borders are change points too.
    """
    bounds = kts_windows(len(features), window)
    cps = []
    for lo, hi in itertools.pairwise(bounds):
        if lo > 0:
            cps.append(np.array([lo]))
        cps.append(lo + kts_change_points(features[lo:hi], math.ceil((hi - lo) / shot_seconds), vmax))
    return np.concatenate(cps).astype(np.int64)


def frame_features(frames: np.ndarray, grid: int = 4, bins: int = 8) -> np.ndarray:
    """Cheap per-frame features for KTS: a grid x grid colour thumbnail plus colour histograms, L2-normalised.

    ``frames`` is (n, H, W, 3) uint8 (frames.h5). The thumbnail sees layout changes, the
    histogram colour changes; L2 normalisation keeps KTS's vmax on the scale it was tuned for.
    Computed :data:`FEATURE_CHUNK` frames at a time (each frame's features are its own).
    """
    frames = np.asarray(frames)
    rows = np.array_split(np.arange(frames.shape[1]), grid)
    cols = np.array_split(np.arange(frames.shape[2]), grid)
    out = []
    for lo in range(0, len(frames), FEATURE_CHUNK):
        f = frames[lo : lo + FEATURE_CHUNK].astype(np.float64) / 255.0
        thumb = np.stack([f[:, r][:, :, c].mean(axis=(1, 2)) for r in rows for c in cols], axis=1).reshape(len(f), -1)
        levels = np.minimum((f * bins).astype(np.int64), bins - 1)
        hist = np.stack([(levels[..., ch] == b).mean(axis=(1, 2)) for ch in range(3) for b in range(bins)], axis=1)
        out.append(np.concatenate([thumb, hist], axis=1))
    feats = np.concatenate(out) if out else np.zeros((0, grid * grid * 3 + 3 * bins))
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def kts_shots(features: np.ndarray, n_frames: int, rate: Fraction, shot_seconds: float, vmax: float = 1.0) -> np.ndarray:
    """KTS over per-second features (n_seconds, d) -> frame shots (:func:`kts_seconds`); a shot
    starting at second i starts at its first frame."""
    starts = frames_at_seconds(kts_seconds(features, shot_seconds, vmax), rate)
    bounds = np.unique(np.concatenate([[0], starts[starts < n_frames], [n_frames]]))
    return check_shots(np.stack([bounds[:-1], bounds[1:]], axis=1), n_frames)


def split_shots(shots: np.ndarray, longest: int, piece: float) -> np.ndarray:
    """Shots longer than ``longest`` frames cut into ceil(length / ``piece``) equal sub-shots
    (lengths differ by at most one frame; ``piece`` >= 1, so each has a frame at least)."""
    if piece < 1:
        raise ValueError(f"sub-shots must be >= 1 frame, got {piece}")
    lengths = shots[:, 1] - shots[:, 0]
    counts = np.where(lengths > longest, np.ceil(lengths / piece), 1).astype(np.int64)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    j = np.arange(counts.sum()) - first
    start, length, count = (np.repeat(a, counts) for a in (shots[:, 0], lengths, counts))
    return np.stack([start + j * length // count, start + (j + 1) * length // count], axis=1)
