"""What ``deevisum summarize`` writes: the summary video (cut with ffmpeg), a PNG timeline and a JSON report.

All three are written to temporary paths and renamed only once all succeeded, so a failure
never leaves a partial summary behind; the output path is checked before any expensive work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from deevisum.io import InputError, atomic_path, write_json
from deevisum.timebase import frame_time

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")
"""Containers the summary can be written to (H.264 video + AAC audio fit all three)."""


@dataclass
class SummaryResult:
    """What a summary is made of, in seconds (what the JSON report holds)."""

    duration: float
    """Length of the input video (s)."""
    scores: list[float]
    """Importance per 1-second segment (score i covers [i, i + 1) s)."""
    shots: list[tuple[float, float]]
    """All candidate shots [start, end) in seconds."""
    shot_frames: list[tuple[int, int]]
    """The same shots as [start, end) frame indices (what is cut)."""
    shot_scores: list[float]
    """Value of each shot the knapsack saw (same order as ``shots``)."""
    selected: list[int]
    """Indices into ``shots`` of the shots in the summary, in time order."""
    exit_layers: list[int] = field(default_factory=list)
    """Decoder layers run per second (the student's depth where no early exit happened)."""

    @property
    def segments(self) -> list[tuple[float, float]]:
        return [self.shots[i] for i in self.selected]

    @property
    def summary_seconds(self) -> float:
        return sum(end - start for start, end in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "summary_seconds": self.summary_seconds,
            "ratio": self.summary_seconds / self.duration if self.duration > 0 else 0.0,
            "segments": [
                {"start": self.shots[i][0], "end": self.shots[i][1], "shot": i, "score": self.shot_scores[i]}
                for i in self.selected
            ],
            "shots": [{"start": s, "end": e, "score": v} for (s, e), v in zip(self.shots, self.shot_scores)],
            "scores": self.scores,
            "exit_layers": self.exit_layers,
        }


def report_paths(output: str | Path) -> tuple[Path, Path]:
    """The PNG timeline and JSON segments written next to ``output`` (same stem)."""
    output = Path(output)
    return output.with_suffix(".png"), output.with_suffix(".json")


def check_output(output: str | Path, source: str | Path) -> Path:
    """Refuse an output we could not write, before any expensive work starts."""
    output = Path(output)
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(output, f"unsupported summary format {output.suffix!r} (use one of {', '.join(VIDEO_SUFFIXES)})")
    if output.exists() and output.resolve() == Path(source).resolve():
        raise InputError(output, "the summary would overwrite the input video")
    if output.is_dir():
        raise InputError(output, "is a directory")
    parent = output.parent
    while not parent.exists():  # atomic_path creates missing folders: the first existing one must be writable
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(output, f"{parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(output, f"directory {parent} is not writable")
    return output


def _ffmpeg(args: Sequence[str | Path], what: str | Path) -> None:
    """Run ffmpeg quietly; on failure raise an InputError with ffmpeg's last message."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is not installed (scripts/setup.sh installs it)")
    done = subprocess.run([exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise InputError(what, f"ffmpeg failed: {tail}")


def _inside(var: str, ranges: Sequence[tuple[float, float]] | Sequence[tuple[int, int]]) -> str:
    """ffmpeg expression true when ``var`` lies in any [start, end) range."""
    return "+".join(f"gte({var}\\,{a})*lt({var}\\,{b})" for a, b in ranges)


def cut_video(source: str | Path, frames: Sequence[tuple[int, int]], rate: Fraction, dest: str | Path, has_audio: bool) -> None:
    """Write the [start, end) frame ranges (time order) of ``source`` back to back into ``dest``.

    One re-encoding pass (stream copy could only cut at keyframes). Video frames are picked by
    index, as the shots were cut; audio by the ranges' times (:func:`deevisum.timebase.frame_time`),
    which ffmpeg counts from the file's start, so a container that does not start at 0 is cut at
    the same instants and the streams keep their relative sync.
    """
    if not frames:
        raise ValueError("no segments to cut")
    vf = f"select='{_inside('n', frames)}',setpts=N/FRAME_RATE/TB"
    args: list[str | Path] = ["-i", source, "-map", "0:v:0", "-vf", vf]
    if has_audio:
        times = [(float(frame_time(a, rate)), float(frame_time(b, rate))) for a, b in frames]
        af = f"aselect='{_inside('t', times)}',asetpts=N/SR/TB"
        args += ["-map", "0:a:0", "-af", af, "-c:a", "aac"]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-movflags", "+faststart", dest]
    _ffmpeg(args, source)


def plot_timeline(result: SummaryResult, dest: str | Path, title: str) -> None:
    """PNG of the per-second scores with the selected shots shaded and shot borders marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3))
    try:
        ax.stairs(result.scores, range(len(result.scores) + 1), color="tab:blue", label="importance (per second)")
        for k, (start, end) in enumerate(result.segments):
            ax.axvspan(start, end, color="tab:orange", alpha=0.3, label="in summary" if k == 0 else None)
        for start, _ in result.shots[1:]:
            ax.axvline(start, color="grey", linewidth=0.5, alpha=0.6)
        ax.set_xlim(0, max(result.duration, len(result.scores)))
        ax.set_ylim(0.8, 5.2)  # the answer scale 1..5, so flat scores do not look like big swings
        ax.set_xlabel("time (s)")
        ax.set_ylabel("score")
        ax.set_title(f"{title}: {result.summary_seconds:.1f} s of {result.duration:.1f} s")
        ax.legend(loc="upper right", fontsize="small")
        fig.tight_layout()
        fig.savefig(dest, format="png", dpi=100)
    finally:
        plt.close(fig)


def write_outputs(
    source: str | Path,
    output: str | Path,
    result: SummaryResult,
    has_audio: bool,
    rate: Fraction,
    title: str,
    settings: dict | None = None,
) -> None:
    """Cut the video and write the PNG and JSON reports (``settings`` recorded in the JSON for
    provenance), renaming all three only once all succeeded."""
    png, js = report_paths(output)
    with contextlib.ExitStack() as stack:
        tmp_video = stack.enter_context(atomic_path(output))
        tmp_png = stack.enter_context(atomic_path(png))
        tmp_json = stack.enter_context(atomic_path(js))
        cut_video(source, [result.shot_frames[i] for i in result.selected], rate, tmp_video, has_audio)
        plot_timeline(result, tmp_png, title)
        write_json(tmp_json, {"input": str(source), "title": title, "settings": settings or {}, **result.to_dict()})
