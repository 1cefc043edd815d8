"""Stage extract_frames: one frame per second (the frames store) and 16 kHz mono audio of every annotated video.

Bad videos (missing, corrupt, truncated, annotation/frame-count mismatch) are skipped and listed
in the report under ``data.on_error: skip``; under ``stop`` the first one ends the stage with
nothing written. A bad annotation file concerns every video, so it always stops.
"""

import os

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.benchmarks import read_benchmark
from deevisum.data.extraction import extract_benchmark
from deevisum.io import BadInputReport, InputError, write_json

WORKERS = min(2, os.cpu_count() or 1)
"""Videos decoded at once (not a param: it changes speed, never the outputs)."""

if __name__ == "__main__":
    args = stage_args(__doc__, ["dataset", "frames", "audio", "report"])
    p = load_params()
    report = BadInputReport(p.data.on_error)
    try:
        bench = read_benchmark(p.data.dataset, args.dataset)
        done = extract_benchmark(bench, args.frames, args.audio, p.frames.image_size, p.frames.sample_rate, report, WORKERS)
    except InputError as err:
        raise SystemExit(f"extract_frames: bad input, stopped without writing outputs: {err}") from None
    write_json(args.report, {**report.to_dict(), "processed": list(done)})
    seconds = sum(info.duration for info in done.values())
    print(f"extract_frames: {len(done)} videos ({seconds:.0f} s of video), {len(report.skipped)} skipped")
