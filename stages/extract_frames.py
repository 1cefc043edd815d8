"""Stage extract_frames: one frame per second (frames.h5) and 16 kHz mono audio of every annotated video.

Bad videos (missing, corrupt, truncated, silent, annotation/frame-count mismatch) are skipped
and listed in the report under ``data.on_error: skip``; under ``stop`` the first one ends the
stage with nothing written. A bad annotation file concerns every video, so it always stops.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from deevisum.datasets import read_benchmark
from deevisum.extract import extract_benchmark
from deevisum.io import BadInputReport, InputError, write_json
from deevisum.params import load_params

OUT = Path("data/processed")
METRICS = Path("metrics/extract_frames.json")
WORKERS = min(2, os.cpu_count() or 1)
"""Videos decoded at once (not a param: it changes speed, never the outputs)."""


def main() -> None:
    p = load_params()
    report = BadInputReport(p.data.on_error)
    start = time.perf_counter()
    try:
        bench = read_benchmark(p.data.dataset, p.data.dataset_dir)
        done = extract_benchmark(
            bench, OUT / "frames.h5", OUT / "audio", p.frames.image_size, p.frames.sample_rate, report, WORKERS
        )
    except InputError as err:
        raise SystemExit(f"extract_frames: bad input, stopped without writing outputs: {err}") from None
    wall = time.perf_counter() - start
    seconds = sum(info.duration for info in done.values())
    write_json(OUT / "extract_frames_report.json", {**report.to_dict(), "processed": list(done)})
    write_json(METRICS, {
        "throughput": seconds / wall,
        "video_seconds": seconds,
        "wall_seconds": wall,
        "n_videos": len(done),
        "n_skipped": len(report.skipped),
        "workers": WORKERS,
    })
    print(f"extract_frames: {len(done)} videos ({seconds:.0f} s of video) in {wall:.1f} s, "
          f"{seconds / wall:.1f} video-s/s, {len(report.skipped)} skipped")


if __name__ == "__main__":
    main()
