"""Reading videos with ffmpeg: probing, one frame per second, audio, annotation checks.

Used by the ``extract_frames`` stage on the benchmark and by ``deevisum summarize`` on
arbitrary user videos, so every problem with a file is an :class:`InputError` naming it.

Seconds and the frame standing for each follow :mod:`deevisum.timebase`.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np

from deevisum.data.benchmarks import VideoAnnotation
from deevisum.io import InputError, atomic_path, check_input_file, ffmpeg_path
from deevisum.timebase import middle_frames, n_units

NO_AUDIO = "no audio track (audio is needed for the transcript and audio cues)"


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about a video, from ffprobe."""

    frame_rate: Fraction
    """Exact average frame rate (e.g. 30000/1001); exact so frame indices are computed without rounding."""
    n_frames: int
    """Frames actually present in the file (packets counted, not the header's claim)."""
    width: int
    height: int
    has_audio: bool

    @property
    def fps(self) -> float:
        return float(self.frame_rate)

    @property
    def duration(self) -> float:
        """Seconds covered by the frames (n_frames / fps), the duration the frame model uses."""
        return self.n_frames / self.fps

    @property
    def n_seconds(self) -> int:
        return n_units(self.n_frames, self.frame_rate)


def _ffmpeg_problem(err: ffmpeg.Error, path: Path) -> str:
    """The last line ffmpeg wrote to stderr (its own summary), without the path InputError already names."""
    text = err.stderr.decode("utf-8", "replace").replace(f"{ffmpeg_path(path)}: ", "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "ffmpeg failed without a message"


def _rate(text: str | None) -> Fraction | None:
    """'30000/1001' -> Fraction; None for ffprobe's '0/0' (unknown)."""
    if not text:
        return None
    num, _, den = text.partition("/")
    try:
        rate = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def probe(path: str | Path) -> VideoInfo:
    """Probe ``path`` with ffprobe, counting its video packets (demuxing only, no decoding).

    The header's ``nb_frames`` is what the file claims; the packet count is what is really
    there, so a truncated file whose header survived is caught here, before decoding.
    """
    path = check_input_file(path, "video file not found")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        meta = ffmpeg.probe(ffmpeg_path(path), count_packets=None, v="error")
    except ffmpeg.Error as e:
        raise InputError(path, f"not a readable video (ffprobe: {_ffmpeg_problem(e, path)})") from None
    except ValueError as e:  # ffprobe printed something that is not UTF-8 JSON
        raise InputError(path, f"not a readable video (ffprobe output unreadable: {e})") from None
    streams = meta.get("streams", [])
    video = [
        s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    if not video:
        raise InputError(path, "no video stream")
    v = video[0]
    n_frames = int(v.get("nb_read_packets") or 0)
    if n_frames == 0:
        raise InputError(path, "zero-length video (no video frames)")
    claimed = int(v.get("nb_frames") or 0)
    if claimed and claimed != n_frames:
        raise InputError(path, f"truncated or corrupt: the header says {claimed} frames but {n_frames} are present")
    rate = _frame_rate(path, v, n_frames, meta.get("format", {}).get("duration"))
    has_audio = any(s.get("codec_type") == "audio" and int(s.get("nb_read_packets") or 0) > 0 for s in streams)
    return VideoInfo(rate, n_frames, int(v.get("width") or 0), int(v.get("height") or 0), has_audio)


def _seconds(text: object) -> float | None:
    """A positive duration from ffprobe's text, else None ('N/A', missing)."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def _consistent(n_frames: int, rate: Fraction, seconds: float) -> bool:
    """Do ``n_frames`` at ``rate`` last ``seconds``, give or take two frames or 1%?"""
    return abs(n_frames / rate - seconds) <= max(2 / rate, 0.01 * seconds)


def frame_times(path: str | Path, stream: str = "v:0") -> np.ndarray | None:
    """When each frame of ``stream`` starts, in presentation order, plus when the last one ends:
    (n_frames + 1,) seconds from the file's start, as ffmpeg's ``-ss`` counts them (demuxing only).

    None where the container has no time stamps (a raw H.264 stream). A variable-rate video's
    frames are shown at these times, not at the frame model's evenly spaced ones.
    """
    path = Path(path)
    try:
        meta = ffmpeg.probe(ffmpeg_path(path), select_streams=stream, show_entries="packet=pts,duration:stream=time_base",
                            v="error")
    except (ffmpeg.Error, ValueError) as e:
        raise InputError(path, f"not a readable video (ffprobe: {e})") from None
    base = _rate((meta.get("streams") or [{}])[0].get("time_base"))
    packets = [p for p in meta.get("packets", []) if p.get("pts") is not None]
    if base is None or len(packets) < 2 or len(packets) != len(meta.get("packets", [])):
        return None
    pts = np.array([int(p["pts"]) for p in packets], dtype=np.int64)
    order = np.argsort(pts, kind="stable")
    last = packets[int(order[-1])].get("duration")
    tail = int(last) if last and int(last) > 0 else int(np.median(np.diff(pts[order])))
    ticks = np.append(pts[order], pts[order[-1]] + tail)
    start = float(meta.get("format", {}).get("start_time") or 0.0)
    return ticks * float(base) - start


def _frame_rate(path: Path, stream: dict, n_frames: int, format_duration: object) -> Fraction:
    """The rate of the frame model (:mod:`deevisum.timebase`): frames evenly spaced over the stream.

    A constant-rate stream keeps its exact header rate (``avg_frame_rate``, e.g. 30000/1001).
    A variable-rate one (phones, screen recorders, spliced clips) is modelled as evenly spaced at
    its average rate: MP4 reports that as ``avg_frame_rate``, but Matroska/WebM report the rate
    of the first frames, under which the frames would last far longer than the video (a 15 -> 30
    fps splice of 6 s would be modelled as 9 s). So when the header rate does not fit the stream's
    duration, the packet time stamps are read (demuxing only) and the rate becomes frames / the
    span they cover. Counts, seconds and total length then match the video; within a variable
    stretch a frame's model time can drift from its time stamp by the local rate difference (for
    that splice, up to 1 s mid-video), which moves which frame stands for a second there (and so
    which second's sound and words go with it). The summary itself is cut at the frames' own
    time stamps (:func:`frame_times`), so its pictures and sound stay in sync.
    """
    header = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    hint = _seconds(stream.get("duration")) or _seconds(format_duration)
    if header is not None and hint is not None and _consistent(n_frames, header, hint):
        return header
    times = frame_times(path, str(stream.get("index", "v:0")))
    span = float(times[-1] - times[0]) if times is not None else 0.0
    if span <= 0 or (header is not None and _consistent(n_frames, header, span)):
        if header is None:
            raise InputError(path, "video stream has no frame rate")
        return header
    return (n_frames / Fraction(span)).limit_denominator(1001)


def _select_expr(info: VideoInfo) -> str:
    """ffmpeg ``select`` expression true exactly for :func:`deevisum.timebase.middle_frames`.

    Frame n is shown over [n/fps, (n+1)/fps); it is picked when that interval contains a
    half-second (i + 1/2). With fps = p/q that is when an odd multiple of p lies in
    [2qn, 2q(n+1)); the number of odd multiples of p below X is floor((X + p) / (2p)).
    All operands are integers far below 2**53, so ffmpeg's double arithmetic is exact.
    """
    p, q = info.frame_rate.numerator, info.frame_rate.denominator
    expr = f"gt(floor((2*{q}*(n+1)+{p})/(2*{p}))-floor((2*{q}*n+{p})/(2*{p})),0)"
    last = info.n_frames - 1
    if ((2 * info.n_seconds - 1) * p) // (2 * q) > last:  # middle of the last second is past the end
        expr = f"({expr})+eq(n,{last})"
    return expr


def read_frames_1fps(path: str | Path, info: VideoInfo, image_size: int,
                     progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """One RGB frame per second, uint8 (n_seconds, S, S, 3), S = ``image_size``.

    Selection and resizing happen inside the ffmpeg graph (select -> scale), so only the
    chosen frames are converted and Python only ever sees S x S images. Frames are stretched
    to a square, as PaliGemma's processor does; ``area`` averaging avoids aliasing on large
    downscales and ``bitexact`` keeps pixels identical across CPUs. A stream that decodes to
    fewer frames than ``info`` promises (truncated, corrupt) is an :class:`InputError`.
    ``progress(decoded, total)`` is called as frames arrive (a long video takes minutes).
    """
    path = Path(path)
    wanted = middle_frames(info.frame_rate, info.n_frames)
    unique = np.unique(wanted)  # below 1 fps several seconds share a frame
    graph = (
        ffmpeg.input(ffmpeg_path(path))
        .video.filter("select", _select_expr(info))
        .filter("scale", image_size, image_size, flags="area+accurate_rnd+bitexact")
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", vsync="passthrough")
        .global_args("-nostdin", "-v", "error")
    )
    frame_bytes = image_size * image_size * 3
    chunks = []
    # stderr to a file, not a pipe: a corrupt stream's stream of errors could fill a pipe nobody reads yet
    with tempfile.TemporaryFile() as err, subprocess.Popen(graph.compile(), stdout=subprocess.PIPE, stderr=err) as ffmpeg_run:
        while chunk := ffmpeg_run.stdout.read(frame_bytes):
            chunks.append(chunk)
            if progress is not None:
                progress(len(chunks), len(unique))
        if ffmpeg_run.wait():
            err.seek(0)
            problem = _ffmpeg_problem(ffmpeg.Error("ffmpeg", b"", err.read()), path)
            raise InputError(path, f"decoding failed (ffmpeg: {problem})")
    raw = b"".join(chunks)
    got = len(raw) // frame_bytes
    if got != len(unique) or len(raw) % frame_bytes:
        raise InputError(
            path, f"truncated or corrupt: decoded {got} of the {len(unique)} sampled frames (of {info.n_frames} frames)"
        )
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(got, image_size, image_size, 3)
    return frames[np.searchsorted(unique, wanted)]


def extract_audio(path: str | Path, out_wav: str | Path, sample_rate: int) -> None:
    """Write the first audio track of ``path`` to ``out_wav`` as mono 16-bit PCM at ``sample_rate``.

    Written atomically; ``bitexact`` keeps encoder version strings out of the file so the
    same input gives the same bytes. A video without audio is an :class:`InputError`: the
    prompts need the speech transcript and audio cues.
    """
    path = Path(path)
    try:
        with atomic_path(out_wav) as tmp:
            (
                ffmpeg.input(ffmpeg_path(path))
                .output(
                    ffmpeg_path(tmp), map="0:a:0", ac=1, ar=sample_rate, acodec="pcm_s16le", format="wav", fflags="+bitexact"
                )
                .global_args("-nostdin", "-v", "error")
                .run(capture_stdout=True, capture_stderr=True)
            )
    except ffmpeg.Error as e:
        if b"matches no streams" in e.stderr:
            raise InputError(path, NO_AUDIO) from None
        raise InputError(path, f"audio extraction failed (ffmpeg: {_ffmpeg_problem(e, path)})") from None


def check_annotation(info: VideoInfo, ann: VideoAnnotation, path: str | Path) -> None:
    """The annotation must have exactly one score per video frame.

    No tolerance: scores are indexed by frame, so a count that differs means the annotation
    was made on another encode or cut of the video, and per-second targets would be silently
    misaligned. TVSum's and SumMe's release videos and the demo corpus match exactly.
    """
    if ann.n_frames != info.n_frames:
        raise InputError(
            path,
            f"annotations of {ann.video_id} have {ann.n_frames} frames but the video has {info.n_frames} "
            "(annotated on a different encode of the video?)",
        )
