"""Throughput of frame + audio extraction (seconds of video per wall-clock second).

Prints, measured in this one run on the same videos: the naive way (ffmpeg pipes every
full-resolution frame to Python, which keeps one per second), ``read_frames_1fps`` (select +
scale inside the ffmpeg graph), and the whole extract_frames work (probe, frames, audio,
frames.h5) with 1 and 2 videos decoded at once.

    python benchmarks/extract_speed.py [--root data/demo] [--image-size 224] [--out FILE]

``--out`` also writes the times as JSON (the test suite runs it on a miniature demo corpus).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from common import shown_path

from deevisum.data.benchmarks import read_benchmark
from deevisum.data.extraction import extract_benchmark
from deevisum.data.video import probe, read_frames_1fps
from deevisum.io import BadInputReport, write_json
from deevisum.timebase import middle_frames


def naive_frames(path: Path, width: int, height: int, idx: np.ndarray) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)[idx].copy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default="data/demo")
    ap.add_argument("--dataset", default="tvsum")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--out", type=Path, help="also write the times here as JSON")
    args = ap.parse_args()
    bench = read_benchmark(args.dataset, args.root)
    paths = {vid: bench.video_path(vid) for vid in bench.videos}
    infos = {vid: probe(p) for vid, p in paths.items()}
    seconds = sum(i.duration for i in infos.values())
    print(f"{len(paths)} videos, {seconds:.0f} s of video, image_size {args.image_size}")

    rows = {}
    t = time.perf_counter()
    for vid, p in paths.items():
        naive_frames(p, infos[vid].width, infos[vid].height, middle_frames(infos[vid].frame_rate, infos[vid].n_frames))
    rows["naive: all full-res frames to python"] = time.perf_counter() - t
    t = time.perf_counter()
    for vid, p in paths.items():
        read_frames_1fps(p, infos[vid], args.image_size)
    rows["read_frames_1fps (select+scale in ffmpeg)"] = time.perf_counter() - t
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            extract_benchmark(bench, Path(d) / "frames.h5", Path(d) / "audio", args.image_size, 16000,
                              BadInputReport("stop"), workers)
            rows[f"extract_benchmark, workers={workers} (probe+frames+audio+h5)"] = time.perf_counter() - t
    base = rows["naive: all full-res frames to python"]
    for name, wall in rows.items():
        print(f"{name:58s} {wall:7.2f} s  {seconds / wall:8.1f} video-s/s  x{base / wall:.2f} vs naive")
    if args.out:
        write_json(args.out, {"root": shown_path(Path(args.root)), "videos": len(paths), "video_seconds": seconds,
                              "image_size": args.image_size,
                              "rows": {name: {"wall_s": wall, "video_s_per_s": seconds / wall, "vs_naive": base / wall}
                                       for name, wall in rows.items()}})


if __name__ == "__main__":
    main()
