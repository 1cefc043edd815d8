"""The field's h5 benchmark files and split files: one reader and writer for each.

The eccv16 layout of vsumm-reinforce, DSNet and PGL-SUM (``eccv16_dataset_{tvsum,summe}_google_pool5.h5``),
one group per video (``video_1``, ``video_2``, ...)::

    features         (n_steps, D) float32   one feature vector per step
    gtscore          (n_steps,)             mean annotation at each step, in [0, 1]
    gtsummary        (n_steps,)             a 0/1 summary at each step (a training target)
    user_summary     (n_users, n_frames)    each annotator's 0/1 summary of every frame
    change_points    (n_segs, 2) int        [first, last] frame of each shot (last inclusive, as in the originals)
    n_frame_per_seg  (n_segs,)              frames of each shot
    n_frames, n_steps                       scalars
    picks            (n_steps,)             the frame each step stands for; its score holds until the next pick
    video_name                              optional (only SumMe's original file has it)

Files made by DSNet's ``make_dataset.py`` lack ``gtsummary`` and ``n_steps``: both are derived
(:data:`DERIVED`) and :attr:`H5Video.derived` says which were. Files whose data live elsewhere
(links, external storage) are refused (:func:`deevisum.io.open_h5`).

Split files list ``{train_keys: [...], test_keys: [...]}`` per split: DSNet's ``splits/*.yml`` and
PGL-SUM's json. A key is ``video_1`` or DSNet's ``path/to/file.h5/video_1``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import yaml

from deevisum.io import InputError, atomic_path, one_line, open_h5, read_json, read_text, write_json
from deevisum.summary.keyshots import keyshot_summaries
from deevisum.summary.shots import check_shots

REQUIRED = ("features", "gtscore", "user_summary", "change_points", "n_frame_per_seg", "n_frames", "picks")
"""Datasets every group must hold."""
DERIVED = {
    "gtsummary": "the knapsack summary of gtscore (upsampled) over change_points at 15%, at the picks",
    "n_steps": "the number of picks",
}
"""Datasets of the eccv16 files that DSNet's make_dataset.py does not write, and how they are derived."""
GTSUMMARY_BUDGET = 0.15
"""Summary length of a ``gtsummary`` (the eccv16 files' and the field's 15%)."""


@dataclass(frozen=True)
class H5Video:
    """One video of an h5 benchmark file; checked on construction (ValueError saying what is wrong)."""

    features: np.ndarray
    gtscore: np.ndarray
    gtsummary: np.ndarray
    user_summary: np.ndarray
    change_points: np.ndarray
    """(n_segs, 2) [first, last] frames, last inclusive."""
    picks: np.ndarray
    n_frames: int
    video_name: str = ""
    derived: tuple[str, ...] = ()
    """Datasets the file lacked and the reader derived (:data:`DERIVED`)."""

    def __post_init__(self) -> None:
        n_steps, n_frames = len(self.picks), self.n_frames
        if self.features.ndim != 2 or len(self.features) != n_steps:
            raise ValueError(f"features have shape {self.features.shape}, expected ({n_steps}, D): one row per pick")
        for name in ("gtscore", "gtsummary"):
            arr = getattr(self, name)
            if arr.shape != (n_steps,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({n_steps},): one value per pick")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} holds non-finite values")
        if self.picks.ndim != 1 or n_steps == 0 or self.picks[0] < 0 or np.any(np.diff(self.picks) <= 0) \
                or self.picks[-1] >= n_frames:
            raise ValueError(f"picks must rise strictly from frame >= 0 and stay below n_frames = {n_frames}")
        if self.user_summary.ndim != 2 or self.user_summary.shape[1] != n_frames or len(self.user_summary) == 0:
            raise ValueError(f"user_summary has shape {self.user_summary.shape}, expected (n_users >= 1, {n_frames})")
        if not np.all(np.isin(self.user_summary, (0, 1))):
            raise ValueError("user_summary must hold only 0 and 1")
        if self.change_points.ndim != 2 or self.change_points.shape[1:] != (2,):
            raise ValueError(f"change_points have shape {self.change_points.shape}, expected (n_segs, 2)")
        try:
            check_shots(self.shots, n_frames)
        except ValueError as e:
            raise ValueError(f"change_points (last frame inclusive) are not shots of the {n_frames} frames: {e}") from None

    @property
    def n_steps(self) -> int:
        return len(self.picks)

    @property
    def shots(self) -> np.ndarray:
        """The change points as the project's [start, end) shots."""
        return self.change_points + [0, 1]

    @property
    def n_frame_per_seg(self) -> np.ndarray:
        return self.change_points[:, 1] - self.change_points[:, 0] + 1

    def frame_scores(self, scores: Sequence[float] | np.ndarray, dsnet: bool = False) -> np.ndarray:
        """Per-frame scores from per-step ones (each pick's score holds until the next pick, as DSNet
        upsamples; frames before the first pick take its score) or from per-frame ones (returned as
        they are). ``dsnet``: exactly DSNet's upsampling, in float32 with 0 before the first pick."""
        scores = np.asarray(scores, dtype=np.float32 if dsnet else np.float64)
        if len(scores) == self.n_frames:
            return scores
        if len(scores) != self.n_steps:
            raise ValueError(f"{len(scores)} scores, expected {self.n_steps} (one per step, at picks) or "
                             f"{self.n_frames} (one per frame)")
        head = np.zeros(self.picks[0], scores.dtype) if dsnet else np.full(self.picks[0], scores[0])
        return np.concatenate([head, np.repeat(scores, np.diff(np.r_[self.picks, self.n_frames]))])


def _natural(key: str) -> list:
    """video_2 before video_10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def _scalar(value: object) -> object:
    """A scalar dataset's value, whether stored as a scalar or a one-element array."""
    return np.asarray(value).ravel()[0]


def step_summary(frame_scores: np.ndarray, shots: np.ndarray, picks: np.ndarray, budget: float = GTSUMMARY_BUDGET
                 ) -> np.ndarray:
    """A ``gtsummary``: the knapsack summary of ``frame_scores`` over ``shots``, at the picks."""
    return keyshot_summaries(frame_scores, shots, budget)[0][picks].astype(np.float64)


def _video(group: h5py.Group) -> H5Video:
    missing = [k for k in REQUIRED if k not in group]
    if missing:
        raise ValueError(f"lacks the datasets {missing}")
    get = {k: group[k][()] for k in (*REQUIRED, *DERIVED) if k in group}
    derived = tuple(k for k in DERIVED if k not in get)
    name = _scalar(group["video_name"][()]) if "video_name" in group else ""
    picks = np.asarray(get["picks"]).astype(np.int64).ravel()
    gtscore = np.asarray(get["gtscore"], dtype=np.float64).ravel()
    video = H5Video(
        np.asarray(get["features"], dtype=np.float32), gtscore,
        np.asarray(get["gtsummary"], dtype=np.float64).ravel() if "gtsummary" in get else np.zeros(len(picks)),
        np.asarray(get["user_summary"]), np.asarray(get["change_points"]).astype(np.int64), picks,
        int(_scalar(get["n_frames"])), name.decode("utf-8") if isinstance(name, bytes) else str(name), derived,
    )
    if "gtsummary" in derived:
        video = dataclasses.replace(video, gtsummary=step_summary(video.frame_scores(gtscore), video.shots, picks))
    if "n_steps" in get and int(_scalar(get["n_steps"])) != video.n_steps:
        raise ValueError(f"n_steps is {int(_scalar(get['n_steps']))} but there are {video.n_steps} picks")
    nfps = np.asarray(get["n_frame_per_seg"]).ravel()
    if nfps.shape != video.n_frame_per_seg.shape or np.any(nfps != video.n_frame_per_seg):
        raise ValueError("n_frame_per_seg does not match change_points (last - first + 1 per shot)")
    return video


def read_h5(path: str | Path) -> dict[str, H5Video]:
    """Every video of an h5 benchmark file by key, in key order (video_1, video_2, ..., video_10)."""
    path = Path(path)
    with open_h5(path) as f:
        out = {}
        for key in sorted(f, key=_natural):
            if not isinstance(f[key], h5py.Group):
                raise InputError(path, f"{key} is not a group (expected one group per video)")
            try:
                out[key] = _video(f[key])
            except (ValueError, TypeError, IndexError) as e:
                raise InputError(path, f"video {key}: {e}") from None
    if not out:
        raise InputError(path, "no video groups")
    return out


def write_h5(path: str | Path, videos: Mapping[str, H5Video]) -> None:
    """Write ``videos`` (key -> video) in the eccv16 layout, atomically.

    The file is built in memory and written by Python: HDF5 writing to a full disk can crash the
    process (a segfault at close), Python's write raises an OSError naming the problem.
    """
    with h5py.File(f"{path}.in-memory", "w", driver="core", backing_store=False) as f:  # the name is a label only
        for key, v in videos.items():
            g = f.create_group(key)
            g["features"] = v.features.astype(np.float32)
            g["gtscore"] = v.gtscore.astype(np.float32)
            g["gtsummary"] = v.gtsummary.astype(np.float32)
            g["user_summary"] = v.user_summary.astype(np.float32)
            g["change_points"] = v.change_points.astype(np.int32)
            g["n_frame_per_seg"] = v.n_frame_per_seg.astype(np.int32)
            g["n_frames"] = np.int32(v.n_frames)
            g["picks"] = v.picks.astype(np.int32)
            g["n_steps"] = np.int32(v.n_steps)
            g["video_name"] = v.video_name
        f.flush()
        image = f.id.get_file_image()
    with atomic_path(path) as tmp:
        tmp.write_bytes(image)


@dataclass(frozen=True)
class Split:
    """One split of a split file: keys as written there (``video_1`` or ``path/file.h5/video_1``)."""

    train_keys: list[str]
    test_keys: list[str]


def parse_key(key: str) -> tuple[str | None, str]:
    """(file name of the h5 the key names, or None; the video's group name): DSNet writes
    ``../datasets/eccv16_dataset_tvsum_google_pool5.h5/video_1``, PGL-SUM ``video_1``."""
    prefix, _, name = key.rpartition("/")
    return (Path(prefix).name or None) if prefix else None, name


def read_split_file(path: str | Path) -> list[Split]:
    """A DSNet yml (``.yml``/``.yaml``) or PGL-SUM json split file, checked."""
    path = Path(path)
    if path.suffix in (".yml", ".yaml"):
        try:
            raw = yaml.safe_load(read_text(path))
        except yaml.YAMLError as e:
            raise InputError(path, f"not valid YAML ({one_line(e, 300)})") from None
    else:
        raw = read_json(path)
    if not isinstance(raw, list) or not raw:
        raise InputError(path, "expected a non-empty list of {train_keys: [...], test_keys: [...]}")
    splits = []
    for i, s in enumerate(raw):
        if not isinstance(s, Mapping) or not all(isinstance(s.get(k), list) and all(isinstance(x, str) for x in s[k])
                                                for k in ("train_keys", "test_keys")):
            raise InputError(path, f"split {i}: expected {{train_keys: [...], test_keys: [...]}} lists of keys")
        if not s["test_keys"]:
            raise InputError(path, f"split {i}: no test keys")
        splits.append(Split(list(s["train_keys"]), list(s["test_keys"])))
    return splits


def write_split_file(path: str | Path, splits: Sequence[Split]) -> None:
    """Write splits as PGL-SUM's json (DSNet reads the same list from yml)."""
    write_json(path, [{"train_keys": s.train_keys, "test_keys": s.test_keys} for s in splits])
