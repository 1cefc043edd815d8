"""Wall time and peak memory of ``deevisum summarize`` on long videos (default 10 min and 1 h).

Videos are generated with ffmpeg in a temporary folder, cheaply: a 10-min 320x240 25-fps H.264
piece (x264 ``veryfast``, B-frames and CABAC as user videos have them; shorter for a shorter video) is
encoded once and looped by stream copy to each length, muxed with an AAC tone beeping every second (onsets, no speech).
Each summary runs ``deevisum summarize`` in its own process with the repository's params; wall
time, CPU time, the peak resident memory of the largest process of its tree (``wait4``: Python
or one of its ffmpeg children) and the time at which each step began (its ``summarize:`` lines)
go to ``benchmarks/results/long_video.json`` (lengths measured before and not now are kept), with
the machine's load average at the start (other jobs on a shared machine stretch the wall time,
not the CPU time).

Models: ``summarize.student`` and ``summarize.exits`` of params.yaml (``dvc repro``). When they are absent or
were made by other code (unknown prompt modalities), a student of the same shape (the ``pretrain.student``
architecture) with random weights and random exit heads, never taken (no calibration), is built instead, and the
output says so: the timing is that of the architecture at full depth, not of the weights.

    python benchmarks/long_video.py [--lengths 600 3600 7200] [--student DIR --exits DIR] [--out FILE]

The test suite runs it on a few seconds of video with ``--out`` in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, shown_path

from deevisum.config import load_params

PIECE_SECONDS = 600
WIDTH, HEIGHT, FPS = 320, 240, 25


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_video(seconds: int, tmp_dir: Path, dest: Path) -> Path:
    """``seconds`` of a looped piece (encoded once per piece length, at most ``PIECE_SECONDS``) with a beeping
    440-Hz tone."""
    piece_seconds = min(seconds, PIECE_SECONDS)
    piece = tmp_dir / f"piece_{piece_seconds}.mp4"
    if not piece.exists():
        _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}:duration={piece_seconds}",
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(piece))
    loops = -(-seconds // piece_seconds) - 1
    _ffmpeg("-stream_loop", str(loops), "-i", str(piece), "-f", "lavfi", "-i",
            f"sine=frequency=440:beep_factor=4:sample_rate=22050:duration={seconds}", "-map", "0:v", "-map", "1:a",
            "-c:v", "copy", "-c:a", "aac", "-b:a", "48k", "-t", str(seconds), str(dest))
    return dest


def _usable(student: Path, exits: Path) -> str | None:
    """Why the saved models cannot be used by this code, or None."""
    from deevisum.data.prompts import MODALITY_FIELDS
    from deevisum.models.vlm import model_modalities

    if not (student / "config.json").is_file() or not (exits / "config.json").is_file():
        return f"{shown_path(student)} or {shown_path(exits)} not found"
    if model_modalities(student) not in MODALITY_FIELDS:
        return f"{shown_path(student)} was trained with modalities {model_modalities(student)!r}, unknown to this code"
    return None


def build_models(root: Path) -> tuple[Path, Path]:
    """A random-weight student of the demo student's shape and random exit heads (as the tests build them)."""
    import torch

    from deevisum.config import ModelParams, load_params
    from deevisum.early_exit.heads import ExitConfig, ExitHeads, save_exit_heads
    from deevisum.models.tokenizer import train_tokenizer
    from deevisum.models.vlm import build_vlm, save_vlm

    p = load_params(REPO / "params.yaml")
    words = p.prompts.template + " none demo loud quiet sudden sound speech no audio"
    train_tokenizer([words], vocab_size=p.tokenizer.vocab_size).save_pretrained(str(root / "tokenizer"))
    tiny = ModelParams(source="tiny")
    model, processor = build_vlm(tiny, p.pretrain.student, root / "tokenizer", p.frames.image_size, seed=0)
    save_vlm(model, processor, root / "student", tiny)
    torch.manual_seed(0)
    config = ExitConfig(hidden_size=p.pretrain.student.hidden_size, exit_layers=p.ee.exit_layers, n_answers=5,
                        head_dim=p.ee.train.head_dim)
    save_exit_heads(ExitHeads(config), root / "exits")
    return root / "student", root / "exits"


def run_summarize(video: Path, out: Path, student: Path, exits: Path, *extra: str) -> dict:
    """One ``deevisum summarize`` process (``extra``: its further options): wall time, CPU time of its tree (on a
    shared machine the steadier figure), peak RSS of its tree's largest process, and when each step began."""
    cmd = [sys.executable, "-m", "deevisum.app.cli", "summarize", str(video), "-o", str(out), "--student", str(student),
           "--exits", str(exits), "--params", str(REPO / "params.yaml"), *extra]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    steps, tail = [], []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        if line.startswith("summarize: "):
            step = line[len("summarize: "):].strip().replace(str(out.parent), "<tmp>").replace(f"{REPO}/", "")
            steps.append({"at_s": round(time.perf_counter() - start, 2), "step": step})
            print(f"  {steps[-1]['at_s']:7.2f} s  {steps[-1]['step']}", flush=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"deevisum summarize failed on {video}:\n" + "\n".join(tail))
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[600, 3600], help="video lengths in seconds")
    summarize = load_params(REPO / "params.yaml").summarize
    ap.add_argument("--student", type=Path, default=REPO / summarize.student)
    ap.add_argument("--exits", type=Path, default=REPO / summarize.exits)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "long_video.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="deevisum-long-") as tmp:
        tmp_dir = Path(tmp)
        student, exits = args.student, args.exits
        why = _usable(student, exits)
        models, extra = f"{shown_path(student)} + {shown_path(exits)}", []
        if why is not None:
            student, exits = build_models(tmp_dir / "models")
            models = f"random-weight student of the demo student's shape + random exit heads, never taken (built: {why})"
            extra = ["--threshold", "inf"]  # above 1: never exits
            print(f"note: {models}", flush=True)
        results = {}
        for seconds in args.lengths:
            load = os.getloadavg()[0]
            t = time.perf_counter()
            video = make_video(seconds, tmp_dir, tmp_dir / f"video_{seconds}.mp4")
            print(f"{seconds} s video ({video.stat().st_size / 1e6:.0f} MB) made in {time.perf_counter() - t:.0f} s", flush=True)
            results[str(seconds)] = {"seconds": seconds, "load_before": round(load, 2),
                                     **run_summarize(video, tmp_dir / f"summary_{seconds}.mp4", student, exits, *extra)}
            r = results[str(seconds)]
            print(f"{seconds} s: {r['wall_s']:.1f} s wall, {r['cpu_s']:.0f} s CPU, {r['peak_rss_mb']:.0f} MB peak RSS", flush=True)
            video.unlink()
    earlier = json.loads(args.out.read_text(encoding="utf-8"))["results"] if args.out.is_file() else {}
    report = {"video": f"{WIDTH}x{HEIGHT} {FPS} fps H.264 (x264 veryfast) + AAC tone", "models": models,
              "cpus": os.cpu_count(), "results": dict(sorted({**earlier, **results}.items(), key=lambda kv: int(kv[0])))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
