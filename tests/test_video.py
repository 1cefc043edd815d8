"""deevisum.data.video on small videos made with ffmpeg's lavfi sources (testsrc, geq, sine)."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from deevisum.data.benchmarks import VideoAnnotation
from deevisum.data.video import (
    VideoInfo,
    check_annotation,
    extract_audio,
    probe,
    read_frames_1fps,
)
from deevisum.io import InputError
from deevisum.timebase import middle_frames

S = 8


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_video(path: Path, seconds: float, rate: str, audio: bool = True, codec: tuple[str, ...] = ()) -> Path:
    """Frame n is a flat grey of level 8*n mod 256 (plus a moving test pattern corner), so frames differ."""
    src = f"testsrc=size=32x24:rate={rate}:duration={seconds},geq=lum='mod(8*N,256)':cb=128:cr=128"
    args = ["-f", "lavfi", "-i", src]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}", "-c:a", "aac"]
    ffmpeg(*args, *(codec or ("-c:v", "libx264", "-pix_fmt", "yuv420p")), str(path))
    return path


def make_vfr(path: Path) -> Path:
    """Variable frame rate: 3 s at 15 fps, then 3 s at 30 fps (135 frames in 6 s), time stamps kept."""
    parts = [f"testsrc=size=32x24:rate={r}:duration=3,geq=lum='mod(8*N+{o},256)':cb=128:cr=128" for r, o in ((15, 0), (30, 4))]
    ffmpeg("-f", "lavfi", "-i", parts[0], "-f", "lavfi", "-i", parts[1], "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0",
           "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


def decode_all(path: Path) -> np.ndarray:
    """Reference: every frame, scaled exactly as read_frames_1fps scales them."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vf", f"scale={S}:{S}:flags=area+accurate_rnd+bitexact",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-vsync", "passthrough", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, S, S, 3)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    v = {
        "good": make_video(d / "good.mp4", 3.5, "15"),
        "ntsc": make_video(d / "ntsc.mp4", 2.3, "30000/1001"),
        "slow": make_video(d / "slow.mkv", 7, "1/2", audio=False, codec=("-c:v", "ffv1")),  # < 1 fps, no nb_frames
        "silent": make_video(d / "silent.mp4", 2, "15", audio=False),
        "faststart": d / "faststart.mp4",
        "vfr_mp4": make_vfr(d / "vfr.mp4"),
        "vfr_mkv": make_vfr(d / "vfr.mkv"),
    }
    ffmpeg("-i", str(v["good"]), "-c", "copy", "-movflags", "+faststart", str(v["faststart"]))
    return v


def _bad(kind: str, videos: dict[str, Path], d: Path) -> Path:
    """A bad file of the given kind, made from the good videos."""
    if kind == "missing":
        return d / "missing.mp4"
    path = d / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    elif kind in ("truncated", "truncated_faststart"):
        data = videos["good" if kind == "truncated" else "faststart"].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "audio_only":
        ffmpeg("-i", str(videos["good"]), "-vn", "-c", "copy", str(path))
    return path


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("missing", "not found"),
        ("empty", "empty file"),
        ("random", "not a readable video"),
        ("truncated", "not a readable video"),  # moov at the end: cut off
        ("truncated_faststart", "truncated"),  # header intact, half the frames gone
        ("audio_only", "no video stream"),
    ],
)
def test_bad_files_raise_input_error_naming_file(kind, problem, videos, tmp_path):
    path = _bad(kind, videos, tmp_path)
    with pytest.raises(InputError) as e:
        probe(path)
    assert e.value.path == str(path)
    assert problem in e.value.problem
    assert str(path) in str(e.value)


@pytest.mark.parametrize("name", ["good", "ntsc", "slow"])
def test_probe_counts_real_frames(name, videos):
    info = probe(videos[name])
    assert info.n_frames == len(decode_all(videos[name]))
    assert info.frame_rate == {"good": Fraction(15), "ntsc": Fraction(30000, 1001), "slow": Fraction(1, 2)}[name]
    assert (info.width, info.height) == (32, 24)
    assert info.has_audio == (name != "slow")
    assert info.duration == pytest.approx(info.n_frames / info.fps)
    assert info.n_seconds == math.ceil(info.n_frames / info.frame_rate)


RATES = [Fraction(15), Fraction(30000, 1001), Fraction(25), Fraction(2), Fraction(24000, 1001)]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("n_frames", [1, 14, 15, 16, 301])
def test_second_frame_is_the_middle_one_inside_its_second(rate, n_frames):
    info = VideoInfo(rate, n_frames, 8, 8, True)
    idx = middle_frames(info.frame_rate, info.n_frames)
    assert len(idx) == math.ceil(n_frames / rate)
    for i, n in enumerate(idx):
        lo, hi = math.floor(i * rate), min(math.floor((i + 1) * rate), n_frames)
        assert lo <= n < hi  # the contract's frames of second i
        assert n == min(math.floor((i + Fraction(1, 2)) * rate), n_frames - 1)


@pytest.mark.parametrize("name", ["vfr_mp4", "vfr_mkv"])
def test_variable_frame_rate_is_modelled_at_the_average_rate(name, videos):
    """MP4 reports the average rate; Matroska the first part's 15 fps, under which 135 frames would
    last 9 s: there the rate comes from the packets' time stamps (135 frames over their 6-s span)."""
    header = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=avg_frame_rate",
                             "-of", "csv=p=0", str(videos[name])], check=True, capture_output=True, text=True).stdout
    assert (header.strip() == "15/1") == (name == "vfr_mkv")
    info = probe(videos[name])
    assert info.n_frames == len(decode_all(videos[name])) == 135
    assert info.duration == pytest.approx(6.0, abs=2 / info.fps)
    assert info.n_seconds in (6, 7)  # a last second of a few ms when the span rounds above 6 s
    frames = read_frames_1fps(videos[name], info, S)
    np.testing.assert_array_equal(frames, decode_all(videos[name])[middle_frames(info.frame_rate, info.n_frames)])


@pytest.mark.parametrize("name", ["good", "ntsc", "slow"])
def test_read_frames_returns_the_second_frames(name, videos):
    info = probe(videos[name])
    frames = read_frames_1fps(videos[name], info, S)
    assert frames.dtype == np.uint8 and frames.shape == (info.n_seconds, S, S, 3)
    np.testing.assert_array_equal(frames, decode_all(videos[name])[middle_frames(info.frame_rate, info.n_frames)])


def test_read_frames_short_decode_is_input_error(videos):
    info = probe(videos["good"])
    claims_more = dataclasses.replace(info, n_frames=info.n_frames + 40)
    with pytest.raises(InputError, match="truncated or corrupt") as e:
        read_frames_1fps(videos["good"], claims_more, S)
    assert e.value.path == str(videos["good"])


def test_extract_audio_writes_mono_wav_at_rate(videos, tmp_path):
    out = tmp_path / "a" / "good.wav"
    extract_audio(videos["good"], out, 16000)
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 16000, 2)
        assert w.getnframes() / 16000 == pytest.approx(3.5, abs=0.05)
    again = tmp_path / "again.wav"
    extract_audio(videos["good"], again, 16000)
    assert again.read_bytes() == out.read_bytes()  # deterministic bytes


def test_extract_audio_without_track_is_input_error(videos, tmp_path):
    out = tmp_path / "silent.wav"
    with pytest.raises(InputError, match="no audio track") as e:
        extract_audio(videos["silent"], out, 16000)
    assert e.value.path == str(videos["silent"])
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_check_annotation_requires_exact_frame_count(videos):
    info = probe(videos["good"])
    for n in (info.n_frames - 1, info.n_frames + 1):
        ann = VideoAnnotation("good", "VT", "t", np.ones((2, n), np.float32), "scores")
        with pytest.raises(InputError, match=f"{n} frames but the video has {info.n_frames}"):
            check_annotation(info, ann, videos["good"])
    exact = VideoAnnotation("good", "VT", "t", np.ones((2, info.n_frames), np.float32), "scores")
    check_annotation(info, exact, videos["good"])  # no error
