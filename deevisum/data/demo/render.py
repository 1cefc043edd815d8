"""Pixels and samples of a planned demo video, and its encoding (single-threaded, bit-exact).

Frames: each shot's background pattern panned slowly with pixel noise, event objects drawn over
it or the frame washed white for a flash. Sound: quiet noise, a meaningless murmur, loud bursts on
events that carry a sound, and the narrator's lines (:mod:`deevisum.data.demo.narration`).
"""

from __future__ import annotations

import contextlib
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from deevisum.config import DemoParams
from deevisum.data.demo.narration import speak
from deevisum.data.demo.plan import (
    COLOURS,
    NOISE_LEVEL,
    OBJECTS,
    Shot,
    VideoPlan,
    rng_for,
)
from deevisum.io import ffmpeg_path


def _background(shot: Shot, h: int, w: int) -> np.ndarray:
    """The shot's pattern on a canvas larger than the frame (the margin is room for camera motion)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx * math.cos(shot.angle) + yy * math.sin(shot.angle)) / max(h, w)
    if shot.pattern == "solid":
        t = np.zeros_like(u)
    elif shot.pattern == "gradient":
        t = (u - u.min()) / max(float(np.ptp(u)), 1e-6)
    elif shot.pattern == "blocks":
        t = ((xx * 3 // w + yy * 3 // h) % 2).astype(np.float32)
    elif shot.pattern == "stripes":
        t = (np.floor(u * 4) % 2).astype(np.float32)
    else:  # vignette
        r = np.hypot(xx / w - 0.5, yy / h - 0.5)
        t = r / r.max()
    a, b = np.asarray(shot.colour_a, np.float32), np.asarray(shot.colour_b, np.float32)
    return a + t[..., None] * (b - a)


def _shape_mask(obj: str, cx: float, cy: float, r: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    shape = OBJECTS[obj]
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if shape == "square":
        return (np.abs(xx - cx) <= 0.9 * r) & (np.abs(yy - cy) <= 0.9 * r)
    top = cy - r  # triangle pointing up, base 2.4 r wide
    return (yy >= top) & (yy <= cy + r) & (np.abs(xx - cx) <= 0.6 * (yy - top))


def _bounce(x: float, lo: float, hi: float) -> float:
    """Position reflected into [lo, hi] (an object bouncing off the borders)."""
    span = hi - lo
    x = (x - lo) % (2 * span)
    return lo + (x if x <= span else 2 * span - x)


def render_frames(plan: VideoPlan, p: DemoParams) -> Iterator[np.ndarray]:
    """The video's RGB frames, (height, width, 3) uint8, in order."""
    h, w, fps = p.height, p.width, p.fps
    margin = max(4, w // 10)
    rng = rng_for(p, plan.index + 1, 1)
    noise_bank = rng.normal(0, NOISE_LEVEL, (8, h, w, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    events_at = {f: e for e in plan.events for f in range(e.start * fps, e.end * fps)}
    for shot in plan.shots:
        canvas = _background(shot, h + 2 * margin, w + 2 * margin)
        length = shot.end - shot.start
        for f in range(shot.start, shot.end):
            progress = (f - shot.start) / max(length - 1, 1) - 0.5
            ox = int(round(margin * (1 + 0.9 * shot.pan[0] * progress * 2))) + int(rng.integers(-1, 2))
            oy = int(round(margin * (1 + 0.9 * shot.pan[1] * progress * 2))) + int(rng.integers(-1, 2))
            ox, oy = min(max(ox, 0), 2 * margin), min(max(oy, 0), 2 * margin)
            frame = canvas[oy: oy + h, ox: ox + w].copy()
            event = events_at.get(f)
            if event is not None:
                t = f / fps - event.start
                if event.kind == "flash":
                    a = 0.65 + 0.1 * math.sin(2 * math.pi * 3 * t)
                    frame = frame * (1 - a) + 255 * a
                else:
                    r = event.size * h
                    cx = _bounce((event.position[0] + event.velocity[0] * t) * w, r, w - r)
                    cy = _bounce((event.position[1] + event.velocity[1] * t) * h, r, h - r)
                    frame[_shape_mask(event.obj, cx, cy, r, yy, xx)] = COLOURS[event.colour]
            frame += noise_bank[int(rng.integers(len(noise_bank)))]
            yield np.clip(frame, 0, 255).astype(np.uint8)


def synth_audio(plan: VideoPlan, p: DemoParams) -> np.ndarray:
    """Mono float soundtrack in [-1, 1]: quiet noise, a meaningless murmur, loud cues on some events,
    the narrator's lines."""
    sr = p.sample_rate
    n = plan.n_seconds * sr
    rng = rng_for(p, plan.index + 1, 2)
    white = rng.normal(0, 1, n)
    noise = np.convolve(white, np.ones(8) / 8, mode="same")  # soft low-pass
    audio = 0.005 * noise / noise.std()
    for _ in range(3):  # murmur: voices of harmonic "syllables" (the demo speech carries no meaning)
        t0 = float(rng.uniform(0, 0.3))
        while t0 < plan.n_seconds:
            dur = float(rng.uniform(0.08, 0.25))
            i0, i1 = int(t0 * sr), min(int((t0 + dur) * sr), n)
            tt = np.arange(i1 - i0) / sr
            f0 = rng.uniform(100, 240)
            syl = sum(np.sin(2 * np.pi * k * f0 * tt) / k for k in range(1, 5))
            audio[i0:i1] += 0.012 * np.hanning(i1 - i0) * syl
            t0 += dur + float(rng.uniform(0.02, 0.15))
    for e in plan.events:
        if e.sound is None:
            continue
        for t in np.arange(e.start, e.end, 0.5):  # a train of bursts: every second of the event is loud
            i0 = int(t * sr)
            m = min(int(0.25 * sr), n - i0)
            tt = np.arange(m) / sr
            if e.sound == "beep":
                burst = 0.3 * (np.sin(2 * np.pi * 1000 * tt) + 0.5 * np.sin(2 * np.pi * 2000 * tt))
                burst *= np.minimum(1, tt / 0.01)
            else:
                burst = 0.7 * rng.normal(0, 1, m).clip(-3, 3) / 3 * np.exp(-tt / 0.03)
            audio[i0: i0 + m] += burst
    for line in plan.narration:
        speech = speak(line.text, plan.voice, plan.rate, sr)
        i0 = round(line.start * sr)
        m = min(len(speech), n - i0)
        audio[i0: i0 + m] += speech[:m]
    return np.clip(audio, -1, 1)


def encode_mp4(frames: Iterator[np.ndarray], wav: Path, p: DemoParams, out: Path) -> None:
    """H.264 (yuv420p) + AAC mp4 from raw RGB frames on stdin; single-threaded and bit-exact."""
    cmd = [
        "ffmpeg", "-nostdin", "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{p.width}x{p.height}", "-framerate", str(p.fps), "-i", "pipe:0",
        "-i", ffmpeg_path(wav),
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-g", str(2 * p.fps),
        "-c:a", "aac", "-b:a", "32k", "-ac", "1",
        "-threads", "1", "-filter_threads", "1",
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
        ffmpeg_path(out),
    ]
    log = out.with_suffix(".log")
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=err)
        try:
            for frame in frames:
                proc.stdin.write(frame.tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg died; its log says why
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()  # a second close is a no-op; a close that flushes into a dead ffmpeg fails
            rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"ffmpeg failed encoding {out} (exit {rc}): {log.read_text(errors='replace').strip()}")
    log.unlink()
