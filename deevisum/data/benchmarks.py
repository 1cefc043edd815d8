"""Readers for the benchmark layouts: TVSum's release and SumMe's.

A user who downloads TVSum points ``data.dataset_dir`` at its folder and runs the same
pipeline as on the demo corpus, which is written in the TVSum layout:

    <root>/video/<video_id>.mp4
    <root>/data/ydata-tvsum50-anno.tsv   video_id, category, comma-separated frame scores 1..5
    <root>/data/ydata-tvsum50-info.tsv   category, video_id, title, url, length (m:ss)

(the .tsv files may also sit directly in <root>, as in ../shared/data/tvsum). SumMe:
``<root>/videos/<name>.mp4`` and ``<root>/GT/<name>.mat`` with per-frame ``user_score``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from deevisum.io import InputError, read_text

TVSUM_ANNO = "ydata-tvsum50-anno.tsv"
TVSUM_INFO = "ydata-tvsum50-info.tsv"


@dataclass
class VideoAnnotation:
    """Per-frame human annotations of one video."""

    video_id: str
    category: str
    title: str
    user_scores: np.ndarray
    """(n_users, n_frames) float32. TVSum: importance 1..5; SumMe: >0 where the user selected the frame."""
    kind: Literal["scores", "selection"]
    fps: float | None = None
    """Frames per second where the annotations say (SumMe FPS, TVSum length); None if unknown."""
    duration: float | None = None
    """Video length in seconds from the annotations, when given."""

    @property
    def n_frames(self) -> int:
        return int(self.user_scores.shape[1])

    @property
    def n_users(self) -> int:
        return int(self.user_scores.shape[0])

    @property
    def gt_score(self) -> np.ndarray:
        """Mean over annotators (TVSum's ``gt_score``)."""
        return self.user_scores.mean(axis=0)


@dataclass
class Benchmark:
    """A dataset: its annotations in file order and where its videos are."""

    name: Literal["tvsum", "summe"]
    root: Path
    videos: dict[str, VideoAnnotation]
    video_dir: Path

    def video_path(self, video_id: str) -> Path:
        return self.video_dir / f"{video_id}.mp4"


def _find(root: Path, name: str) -> Path:
    for candidate in (root / "data" / name, root / name):
        if candidate.is_file():
            return candidate
    raise InputError(root / "data" / name, "annotation file not found (expected in <root>/data/ or <root>/)")


def parse_length(text: str, path: Path) -> float:
    """'m:ss' or 'h:mm:ss' or plain seconds -> seconds."""
    try:
        parts = [float(p) for p in text.strip().split(":")]
    except ValueError:
        raise InputError(path, f"bad length {text!r} (expected m:ss)") from None
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def read_tvsum_info(path: Path) -> dict[str, dict[str, str]]:
    """video_id -> {category, title, url, length}. Titles must be UTF-8 (a clear error otherwise)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(path, f"line {line} is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
    need = {"category", "video_id", "title", "length"}
    if not rows or not need <= set(rows[0]):
        raise InputError(path, f"expected tab-separated columns {sorted(need)}")
    return {r["video_id"]: r for r in rows}


def check_video_id(vid: str, path: Path, where: str) -> str:
    """``vid`` if it can name files: the pipeline writes ``<id>.wav`` and reads ``<id>.mp4``, so an id
    that is absolute, holds a path separator or is ``.``/``..`` (``where``: its line) is refused."""
    if vid in ("", ".", "..") or "/" in vid or "\\" in vid or "\0" in vid:
        raise InputError(path, f"{where}: video id {vid!r} is not a plain file name (no separators, '..' or absolute paths)")
    return vid


def read_tvsum_anno(path: Path) -> dict[str, tuple[str, np.ndarray]]:
    """video_id -> (category, (n_users, n_frames) scores), in file order."""
    users: dict[str, list[np.ndarray]] = {}
    cats: dict[str, str] = {}
    for lineno, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise InputError(path, f"line {lineno}: expected 3 tab-separated fields, got {len(fields)}")
        vid, cat, scores = fields
        check_video_id(vid, path, f"line {lineno}")
        try:
            arr = np.array([float(s) for s in scores.split(",")], dtype=np.float32)
        except ValueError:
            raise InputError(path, f"line {lineno}: scores for {vid} are not numbers") from None
        if vid in users and len(arr) != len(users[vid][0]):
            raise InputError(path, f"line {lineno}: {vid} has {len(arr)} frames, earlier rows {len(users[vid][0])}")
        users.setdefault(vid, []).append(arr)
        cats[vid] = cat
    if not users:
        raise InputError(path, "no annotation rows")
    return {vid: (cats[vid], np.stack(rows)) for vid, rows in users.items()}


def read_tvsum(root: str | Path) -> Benchmark:
    """Read a TVSum-layout folder (the release's, the demo corpus's, or ../shared/data/tvsum)."""
    root = Path(root)
    info_path = _find(root, TVSUM_INFO)
    info = read_tvsum_info(info_path)
    videos = {}
    for vid, (cat, scores) in read_tvsum_anno(_find(root, TVSUM_ANNO)).items():
        if vid not in info:
            raise InputError(info_path, f"no info row for annotated video {vid}")
        duration = parse_length(info[vid]["length"], info_path)
        fps = scores.shape[1] / duration if duration > 0 else None
        videos[vid] = VideoAnnotation(vid, cat, info[vid]["title"], scores, "scores", fps, duration)
    return Benchmark("tvsum", root, videos, root / "video")


def read_tvsum_mat(path: str | Path) -> dict[str, VideoAnnotation]:
    """Read the official ``ydata-tvsum50.mat`` (MATLAB 7.3 / HDF5; arrays are transposed in h5py)."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        t = f["tvsum50"]

        def text(ref) -> str:
            return bytes(np.asarray(f[ref][()], dtype=np.uint8).ravel()).decode("utf-8")

        for i in range(t["video"].shape[0]):
            vid = text(t["video"][i, 0])
            scores = np.asarray(f[t["user_anno"][i, 0]][()], dtype=np.float32)  # (20, n_frames) after transpose
            length = float(np.asarray(f[t["length"][i, 0]][()]).ravel()[0])
            out[vid] = VideoAnnotation(
                vid, text(t["category"][i, 0]), text(t["title"][i, 0]), scores, "scores", scores.shape[1] / length, length
            )
    return out


def read_summe(root: str | Path) -> Benchmark:
    """Read a SumMe folder: GT/*.mat (per-frame user selections) and videos/*.mp4."""
    import scipy.io

    root = Path(root)
    gt_dir = root / "GT" if (root / "GT").is_dir() else root
    mats = sorted(gt_dir.glob("*.mat"))
    if not mats:
        raise InputError(gt_dir, "no SumMe GT .mat files found")
    videos = {}
    for mat in mats:
        try:
            m = scipy.io.loadmat(mat)
        except Exception as e:  # scipy raises several types for corrupt files
            raise InputError(mat, f"unreadable .mat ({e})") from None
        if "user_score" not in m:
            raise InputError(mat, "no 'user_score' variable")
        scores = np.asarray(m["user_score"], dtype=np.float32).T  # (n_users, n_frames)
        fps = float(np.asarray(m["FPS"]).ravel()[0]) if "FPS" in m else None
        duration = float(np.asarray(m["video_duration"]).ravel()[0]) if "video_duration" in m else None
        vid = mat.stem
        videos[vid] = VideoAnnotation(vid, "", vid.replace("_", " "), scores, "selection", fps, duration)
    return Benchmark("summe", root, videos, root / "videos")


def read_benchmark(name: str, root: str | Path) -> Benchmark:
    """Dispatch on ``data.dataset``."""
    if name == "tvsum":
        return read_tvsum(root)
    if name == "summe":
        return read_summe(root)
    raise ValueError(f"unknown dataset {name!r} (tvsum or summe)")
