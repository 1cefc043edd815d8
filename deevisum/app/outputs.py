"""What ``deevisum summarize`` writes: the summary video (cut with ffmpeg), a PNG timeline and a JSON report.

All three are written to temporary paths and renamed only once all succeeded, so a failure
never leaves a partial summary behind; the output path is checked before any expensive work.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deevisum.io import InputError, atomic_path, check_output_path, ffmpeg_path, temp_dir, write_json

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")
"""Containers the summary can be written to (H.264 video + AAC audio fit all three)."""
X264_PRESET = "ultrafast"
"""Encoder speed of the summary video. Encoding is most of the cut of a long video (an hour's
9-min summary at 320x240: 6 s here, ``superfast`` 12 s, ``veryfast`` 20 s); the price is files
about 2.5x (``superfast``: 1.9x) the size of ``veryfast``'s at the same quality (CRF 23)."""
CUT_WORKERS = 2
"""ffmpeg processes cutting runs of frames at once."""


@dataclass
class SummaryResult:
    """What a summary is made of, in seconds (what the JSON report holds)."""

    duration: float
    """Length of the input video (s)."""
    scores: list[float]
    """Importance per 1-second segment (score i covers [i, i + 1) s)."""
    shots: list[tuple[float, float]]
    """All candidate shots [start, end) in seconds from the file's start (their frames' time stamps)."""
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


def check_output(output: str | Path, inputs: Iterable[str | Path | None]) -> Path:
    """Refuse, before any expensive work, a summary format we cannot write or any of the three outputs
    (video, PNG, JSON) that would be a directory, overwrite one of ``inputs`` or cannot be written."""
    output = Path(output)
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(output, f"unsupported summary format {output.suffix!r} (use one of {', '.join(VIDEO_SUFFIXES)})")
    inputs = list(inputs)
    for path in (output, *report_paths(output)):
        check_output_path(path, inputs)
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
    """ffmpeg expression true when ``var`` lies in any [start, end) range.

    The terms are summed as a balanced tree: ffmpeg's parser recurses once per ``+`` of a flat
    chain and fails past about a hundred ranges (a 2-hour summary has more), a tree is log-deep.
    """
    terms = [f"gte({var}\\,{a})*lt({var}\\,{b})" for a, b in ranges]
    while len(terms) > 1:
        terms = [f"({terms[i]}+{terms[i + 1]})" if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0]


def _runs(frames: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges with touching ones merged: runs of consecutive frames."""
    runs: list[tuple[int, int]] = []
    for a, b in frames:
        if runs and runs[-1][1] == a:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((a, b))
    return runs


def _cut_run(source: str | Path, run: tuple[int, int], times: np.ndarray, dest: Path) -> None:
    """Frames [a, b) of ``source`` alone, encoded, starting at time 0 (see :func:`cut_video`)."""
    a, b = run
    seek = ["-ss", f"{(times[a - 1] + times[a]) / 2:.6f}"] if a > 0 else []
    _ffmpeg([*seek, "-i", ffmpeg_path(source), "-map", "0:v:0", "-frames:v", str(b - a), "-fps_mode", "passthrough",
             "-vf", "setpts=PTS-STARTPTS,pad=ceil(iw/2)*2:ceil(ih/2)*2",  # yuv420p H.264 needs even sizes
             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", X264_PRESET, "-f", "nut", ffmpeg_path(dest)], source)


def _cut_audio(source: str | Path, spans: Sequence[tuple[float, float]], dest: Path) -> None:
    """The [start, end) seconds of ``source``'s first audio track back to back, AAC-encoded.

    Converted to 16 bits before the encoder, which took 3x as long on the decoder's float samples
    (an hour's summary of a decoded AAC tone: 11 s -> 3.5 s); AAC keeps less than 16 bits anyway.
    """
    af = f"aselect='{_inside('t', spans)}',asetpts=N/SR/TB,aformat=sample_fmts=s16"
    _ffmpeg(["-i", ffmpeg_path(source), "-map", "0:a:0", "-af", af, "-c:a", "aac", "-f", "mp4", ffmpeg_path(dest)], source)


def _quoted(path: Path) -> str:
    """An absolute path inside single quotes of ffmpeg's concat listing (a quote is closed, escaped, reopened)."""
    return ffmpeg_path(path).replace("'", "'\\''")


def cut_video(source: str | Path, frames: Sequence[tuple[int, int]], times: np.ndarray, dest: str | Path, has_audio: bool) -> None:
    """Write the [start, end) frame ranges (time order) of ``source`` back to back into ``dest``.

    ``times``: when each frame starts and the last one ends, from the file's start
    (:func:`deevisum.data.video.frame_times`). Each run of consecutive frames is cut by its own
    ffmpeg, :data:`CUT_WORKERS` at a time next to the audio's: an accurate seek to midway between
    its first frame and the one before (no time stamp rounding can add or drop a frame) decodes
    from the keyframe before the run only, so an hour is decoded for its summary's length plus a
    group of pictures per run, not whole. The runs are encoded once (re-encoding: stream copy could
    only cut at keyframes) and joined by stream copy, each lasting its frames' span, with the
    audio of the same spans of the source, so the streams keep their sync and the frames of a
    variable-rate video their durations. (One pass selecting frames over the whole video took
    58 s for an hour at 320x240 on 2 cores, this 13 s.)
    """
    if not frames:
        raise ValueError("no segments to cut")
    runs = _runs(frames)
    with temp_dir("cut") as tmp:
        parts = [tmp / f"run{k}.nut" for k in range(len(runs))]
        audio = tmp / "audio.m4a"
        with ThreadPoolExecutor(CUT_WORKERS) as pool:
            jobs = [pool.submit(_cut_audio, source, [(round(float(times[a]), 6), round(float(times[b]), 6)) for a, b in runs],
                                audio)] if has_audio else []
            jobs += [pool.submit(_cut_run, source, run, times, part) for run, part in zip(runs, parts)]
            for job in jobs:
                job.result()
        listing = tmp / "runs.txt"
        listing.write_text("".join(f"file '{_quoted(part)}'\nduration {times[b] - times[a]:.6f}\n" for part, (a, b) in zip(parts, runs)),
                           encoding="utf-8")
        sound = (["-i", ffmpeg_path(audio)], ["-map", "1:a"]) if has_audio else ([], [])
        _ffmpeg(["-f", "concat", "-safe", "0", "-i", ffmpeg_path(listing), *sound[0], "-map", "0:v", *sound[1], "-c", "copy",
                 "-movflags", "+faststart", ffmpeg_path(dest)], source)


def plot_timeline(result: SummaryResult, dest: str | Path, title: str) -> None:
    """PNG of the per-second scores with the selected shots shaded and shot borders marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3))
    try:
        ax.stairs(result.scores, range(len(result.scores) + 1), color="tab:blue", label="importance (per second)")
        ax.broken_barh([(start, end - start) for start, end in result.segments], (0.8, 4.4), color="tab:orange",
                       alpha=0.3, label="in summary")
        ax.vlines([start for start, _ in result.shots[1:]], 0.8, 5.2, color="grey", linewidth=0.5, alpha=0.6)  # one artist for all
        ax.set_xlim(0, max(result.duration, len(result.scores)))
        ax.set_ylim(0.8, 5.2)  # the answer scale 1..5, so flat scores do not look like big swings
        ax.set_xlabel("time (s)")
        ax.set_ylabel("score")
        ax.set_title(f"{title}: {result.summary_seconds:.1f} s of {result.duration:.1f} s", parse_math=False)  # "$" is text
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
    times: np.ndarray,
    title: str,
    settings: dict | None = None,
    model_card: dict | None = None,
) -> None:
    """Cut the video (``times``: as :func:`cut_video`) and write the PNG and JSON reports
    (``settings`` and the scoring model's ``model_card`` recorded in the JSON for provenance), renaming
    all three only once all succeeded."""
    png, js = report_paths(output)
    with contextlib.ExitStack() as stack:
        tmp_video = stack.enter_context(atomic_path(output))
        tmp_png = stack.enter_context(atomic_path(png))
        tmp_json = stack.enter_context(atomic_path(js))
        cut_video(source, [result.shot_frames[i] for i in result.selected], times, tmp_video, has_audio)
        plot_timeline(result, tmp_png, title)
        write_json(tmp_json, {"input": str(source), "title": title, "settings": settings or {},
                              "model_card": model_card or {}, **result.to_dict()})
