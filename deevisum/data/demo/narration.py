"""The demo's narrator: short sentences spoken by espeak-ng, and what they may say.

The words are the point: a pointing-out line and a talking-down line share no word with each
other or with the fillers, and fillers are spoken over every kind of moment, so the presence of
speech says nothing; only what is said does (the rules that use them: :mod:`deevisum.data.demo.plan`).
espeak-ng is deterministic: the same text, voice and rate give the same samples (for the same
espeak-ng build).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import scipy.io.wavfile
import scipy.signal

from deevisum.io import temp_dir

LINES: dict[str, tuple[str, ...]] = {
    "point_out": ("this is important", "remember this moment", "now this is important"),
    "talk_down": ("this is boring", "you can skip this part", "not interesting at all"),
    "filler": ("we are filming outside", "people are walking by", "the camera is moving"),
}
"""What the narrator says, by intent: phrases whisper tiny.en heard best from espeak-ng's voices
over the demo's murmur (of 22 tried, each spoken by every voice at both ends of RATES)."""
VOICES = ("en-us", "en-gb", "en-us+m3", "en-gb+f2")
"""espeak-ng voices, one drawn per video."""
RATES = (155, 175)
"""espeak-ng words per minute, drawn per video: every line then fits in a 2-s segment."""
LEVEL = 0.25
"""Peak amplitude of the narration in the mix (the murmur peaks near 0.05)."""
ONSET = 0.1
"""Seconds from the start of a narrated segment to its line's first sound."""


@dataclass
class Line:
    """One spoken sentence of the narration script."""

    start: float
    end: float
    intent: str
    """'point_out', 'talk_down' or 'filler' (LINES)."""
    text: str


@functools.lru_cache(maxsize=256)
def speak(text: str, voice: str, rate: int, sample_rate: int) -> np.ndarray:
    """Mono float samples of ``text`` spoken by espeak-ng at ``sample_rate``, peak ``LEVEL`` (read-only)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (scripts/setup.sh installs it)")
    with temp_dir("tts") as tmp:
        wav = tmp / "line.wav"
        subprocess.run([exe, "-v", voice, "-s", str(rate), "-w", str(wav), text], check=True, capture_output=True)
        rate_in, data = scipy.io.wavfile.read(wav)
    ratio = Fraction(sample_rate, rate_in)
    audio = scipy.signal.resample_poly(data.astype(np.float64) / 32768.0, ratio.numerator, ratio.denominator)
    audio = LEVEL * audio / max(float(np.abs(audio).max()), 1e-9)
    audio.flags.writeable = False
    return audio


def line_seconds(text: str, voice: str, rate: int, sample_rate: int) -> float:
    """How long the narrator takes to say ``text``."""
    return len(speak(text, voice, rate, sample_rate)) / sample_rate


def read_script(events_file: str | Path) -> dict[str, str] | None:
    """Video id -> its narration as one text (the reference of the transcript's WER); None without a script."""
    path = Path(events_file)
    if not path.is_file():
        return None
    videos = json.loads(path.read_text(encoding="utf-8")).get("videos", {})
    return {vid: " ".join(line["text"] for line in v.get("narration", [])) for vid, v in videos.items()}
