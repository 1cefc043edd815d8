"""``frames.h5``, the one frames store: the only code that knows its HDF5 layout.

One group per video id, holding dataset ``frames`` uint8 (n_seconds, S, S, 3), chunked per
second so one frame loads cheaply, and attrs ``fps_num``/``fps_den`` (the exact frame rate,
e.g. 30000/1001), ``n_frames`` and ``n_seconds``. Frame ``i`` of the dataset stands for second
``i`` (:mod:`deevisum.timebase`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np

from deevisum.io import InputError, open_h5
from deevisum.timebase import n_units

ATTRS = ("fps_num", "fps_den", "n_frames", "n_seconds")


@dataclass(frozen=True)
class StoredVideo:
    """What the store knows of one video besides its frames."""

    video_id: str
    rate: Fraction
    """Exact frame rate of the source video."""
    n_frames: int
    n_seconds: int

    @property
    def fps(self) -> float:
        return float(self.rate)


def write_video(h5: h5py.File, video_id: str, rate: Fraction, n_frames: int, frames: np.ndarray) -> None:
    """Add one video's group (one frame per second of a video of ``n_frames`` frames at ``rate``)."""
    if len(frames) != n_units(n_frames, rate):
        raise ValueError(f"{video_id}: {len(frames)} frames for {n_units(n_frames, rate)} seconds")
    g = h5.create_group(video_id)
    g.create_dataset("frames", data=frames, chunks=(1, *frames.shape[1:]), track_times=False)
    g.attrs["fps_num"] = rate.numerator
    g.attrs["fps_den"] = rate.denominator
    g.attrs["n_frames"] = n_frames
    g.attrs["n_seconds"] = len(frames)


def _open(path: str | Path) -> h5py.File:
    return open_h5(path, "file not found (run extract_frames first)")


def _meta(path: str | Path, video_id: str, group: h5py.Group) -> StoredVideo:
    missing = [a for a in ATTRS if a not in group.attrs]
    if missing:
        raise InputError(path, f"group {video_id} lacks the attrs {missing} (written by an older version: re-run extract_frames)")
    a = group.attrs
    return StoredVideo(video_id, Fraction(int(a["fps_num"]), int(a["fps_den"])), int(a["n_frames"]), int(a["n_seconds"]))


def read_index(path: str | Path) -> dict[str, StoredVideo]:
    """Every stored video (the ones that survived extraction), by id."""
    with _open(path) as f:
        return {vid: _meta(path, vid, g) for vid, g in f.items()}


def read_videos(path: str | Path, video_ids: Iterable[str] | None = None) -> Iterable[tuple[StoredVideo, np.ndarray]]:
    """(meta, frames) of each video (all, or ``video_ids`` in that order), one at a time."""
    with _open(path) as f:
        for vid in video_ids if video_ids is not None else sorted(f):
            if vid not in f:
                raise InputError(path, f"no frames for video {vid}")
            yield _meta(path, vid, f[vid]), f[vid]["frames"][()]


def load_example_frames(path: str | Path, examples: Sequence[Mapping]) -> np.ndarray:
    """(n, S, S, 3) uint8: the frame of each example's (``video_id``, ``second``)."""
    order = list(dict.fromkeys(e["video_id"] for e in examples))
    frames = {meta.video_id: f for meta, f in read_videos(path, order)}
    out = []
    for e in examples:
        stored = frames[e["video_id"]]
        if not 0 <= e["second"] < len(stored):
            raise InputError(path, f"video {e['video_id']} has {len(stored)} seconds of frames, example asks second {e['second']}")
        out.append(stored[e["second"]])
    return np.stack(out) if out else np.zeros((0, 1, 1, 3), np.uint8)


def video_rates(path: str | Path, video_ids: Iterable[str]) -> dict[str, Fraction]:
    """Exact frame rate of each video: the frames_per_score of its per-second scores."""
    index = read_index(path)
    missing = [v for v in video_ids if v not in index]
    if missing:
        raise InputError(path, f"no frames for video(s) {missing[:3]}")
    return {v: index[v].rate for v in video_ids}
