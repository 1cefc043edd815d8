"""Audio cues per 1-second segment, as a few words for the prompt.

The VLM cannot hear, so each second's sound is summarised in words: how loud it is relative
to the rest of the same video (absolute levels differ between recordings), whether something
sudden happens (spectral-flux onsets, robust z-score within the video), and whether the ASR
heard speech. Second i covers samples [i*sr, (i+1)*sr), the same seconds as frames.h5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage
from tqdm import tqdm

from deevisum.config import CuesParams
from deevisum.data.frames_store import StoredVideo
from deevisum.data.wav import read_wav
from deevisum.io import BadInputReport, InputError

HOPS_PER_SECOND = 40
"""Onset detection hop: 25 ms. A whole number of hops per second keeps every hop's samples inside
one second, so a sound starting exactly on a second boundary is dated to that second."""
HOPS_PER_FRAME = 2
"""STFT frame = 2 hops (50 ms)."""
PEAK_HOPS = 2
"""An onset is a flux maximum over +-2 hops (+-50 ms)."""
LOG_GAIN = 1000.0
"""Flux is taken on log(1 + LOG_GAIN * |X|): near-logarithmic (a rise by a factor counts the same
loud or soft) down to about -60 dB of full scale, below which noise is compressed away."""
SILENCE_DB = -100.0
"""Level given to digital silence (RMS floor 1e-5), so log(0) never appears."""
FLUX_SCALE_FLOOR = 1e-2
"""Lower bound on the robust spread of the flux: in a constant tone or silence the MAD is ~0 and
numerical jitter would otherwise score as a sudden sound."""


def second_loudness_db(audio: np.ndarray, sr: int, n_seconds: int) -> np.ndarray:
    """RMS level (dBFS) of each second over the samples it has (silence where audio ran out)."""
    out = np.full(n_seconds, SILENCE_DB)
    for i in range(n_seconds):
        chunk = audio[i * sr : (i + 1) * sr]
        if chunk.size:
            rms = float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64))))
            out[i] = 20 * np.log10(max(rms, 10 ** (SILENCE_DB / 20)))
    return out


def onset_strength(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Spectral flux (mean positive rise of the log-compressed magnitude) and the second of each value.

    Frame t differs from frame t-1 by its last hop of samples, so its flux is dated by that hop.
    """
    hop = max(sr // HOPS_PER_SECOND, 1)
    frame = HOPS_PER_FRAME * hop
    if audio.size < frame:
        audio = np.pad(audio, (0, frame - audio.size))
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame)[::hop]
    mag = np.log1p(LOG_GAIN * np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)))
    flux = np.zeros(len(mag))
    flux[1:] = np.maximum(np.diff(mag, axis=0), 0.0).mean(axis=1)
    seconds = (np.arange(len(mag)) * hop + frame - hop) // sr
    return flux, seconds


def robust_z(x: np.ndarray, floor: float) -> np.ndarray:
    """(x - median) / (1.4826 * MAD), the spread floored so flat signals do not explode."""
    med = np.median(x)
    return (x - med) / max(1.4826 * float(np.median(np.abs(x - med))), floor)


def second_onsets(audio: np.ndarray, sr: int, n_seconds: int, threshold: float) -> np.ndarray:
    """True for seconds holding a flux peak above ``threshold`` robust z-scores of the video's flux.

    Only local maxima (within PEAK_HOPS) count: a lossy codec smears a sharp attack a few ms
    early (pre-echo), and that weaker lead-in must not be dated to the previous second.
    """
    flux, seconds = onset_strength(audio, sr)
    z = robust_z(flux, FLUX_SCALE_FLOOR)
    peak = flux >= scipy.ndimage.maximum_filter1d(flux, 2 * PEAK_HOPS + 1, mode="nearest")
    out = np.zeros(n_seconds, dtype=bool)
    hit = peak & (z > threshold) & (seconds < n_seconds)
    out[seconds[hit]] = True
    return out


def speech_seconds(segments: Sequence[dict[str, Any]], n_seconds: int) -> np.ndarray:
    """True for seconds [i, i+1) that an ASR segment overlaps."""
    out = np.zeros(n_seconds, dtype=bool)
    for s in segments:
        lo = max(int(np.floor(s["start"])), 0)
        hi = min(int(np.ceil(s["end"])), n_seconds)
        if s["end"] > s["start"]:
            out[lo:hi] = True
    return out


def cue_words(relative_db: float, speech: bool, onset: bool, p: CuesParams) -> str:
    """'loud, sudden sound, speech' / 'quiet' / 'none': the words the prompt gets."""
    words = []
    if relative_db >= p.loud_db:
        words.append("loud")
    elif relative_db <= p.quiet_db:
        words.append("quiet")
    if onset:
        words.append("sudden sound")
    if speech:
        words.append("speech")
    return ", ".join(words) or "none"


def audio_cues(
    audio: np.ndarray, sr: int, segments: Sequence[dict[str, Any]], n_seconds: int, p: CuesParams
) -> list[dict[str, Any]]:
    """One cue per second: ``{second, loudness_db (relative to the video's median), speech, onset, text}``."""
    level = second_loudness_db(audio, sr, n_seconds)
    relative = level - np.median(level) if n_seconds else level
    speech = speech_seconds(segments, n_seconds)
    onset = second_onsets(audio, sr, n_seconds, p.onset_threshold)
    return [
        {
            "second": i,
            "loudness_db": round(float(relative[i]), 2),
            "speech": bool(speech[i]),
            "onset": bool(onset[i]),
            "text": cue_words(float(relative[i]), bool(speech[i]), bool(onset[i]), p),
        }
        for i in range(n_seconds)
    ]


def corpus_cues(videos: Mapping[str, StoredVideo], audio_dir: str | Path, transcripts: Mapping[str, Sequence[dict[str, Any]]],
                sample_rate: int, p: CuesParams, report: BadInputReport) -> dict[str, list[dict[str, Any]]]:
    """Cues of every stored video from ``audio_dir/<id>.wav`` and its transcript (bad ones: ``report``)."""
    cues = {}
    for vid, meta in tqdm(sorted(videos.items()), desc="audio_cues", unit="video"):
        try:
            if vid not in transcripts:
                raise InputError(audio_dir, f"no transcript for {vid} (its audio was skipped by transcribe)")
            audio = read_wav(Path(audio_dir) / f"{vid}.wav", sample_rate)
            cues[vid] = audio_cues(audio, sample_rate, transcripts[vid], meta.n_seconds, p)
        except InputError as e:
            report.handle(e, vid)
    return cues
