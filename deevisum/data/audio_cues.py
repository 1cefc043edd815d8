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
from deevisum.data.wav import read_wav, to_float
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
NO_AUDIO = "no audio"
"""The cue words of every second of a video without an audio track."""
CHUNK_SECONDS = 60
"""Audio analysed at once by the onset STFT (~15 MB of spectra at 16 kHz)."""
FLUX_SCALE_FLOOR = 1e-2
"""Lower bound on the robust spread of the flux: in a constant tone or silence the MAD is ~0 and
numerical jitter would otherwise score as a sudden sound."""


def _float_samples(audio: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Samples [lo, hi) in [-1, 1]: float audio as it is, integer PCM (a memory-mapped WAV) scaled as
    :func:`deevisum.data.wav.read_wav` scales it, so both give the same cues."""
    chunk = np.asarray(audio[lo:hi])
    return to_float(chunk) if np.issubdtype(chunk.dtype, np.integer) else chunk


def second_loudness_db(audio: np.ndarray, sr: int, n_seconds: int) -> np.ndarray:
    """RMS level (dBFS) of each second over the samples it has (silence where audio ran out).

    ``audio``: float samples in [-1, 1] or integer PCM, read one second at a time (a memory-mapped
    WAV of an hour never has to be in memory as floats).
    """
    out = np.full(n_seconds, SILENCE_DB)
    for i in range(n_seconds):
        chunk = _float_samples(audio, i * sr, (i + 1) * sr)
        if chunk.size:
            rms = float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64))))
            out[i] = 20 * np.log10(max(rms, 10 ** (SILENCE_DB / 20)))
    return out


def _log_spectra(audio: np.ndarray, first: int, stop: int, hop: int, frame: int) -> np.ndarray:
    """Log-compressed magnitude spectra of STFT frames [first, stop) (frame t starts at sample t * hop)."""
    samples = _float_samples(audio, first * hop, (stop - 1) * hop + frame)
    frames = np.lib.stride_tricks.sliding_window_view(samples, frame)[::hop]
    return np.log1p(LOG_GAIN * np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)))


def onset_strength(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Spectral flux (mean positive rise of the log-compressed magnitude) and the second of each value.

    Frame t differs from frame t-1 by its last hop of samples, so its flux is dated by that hop.
    The STFT is taken :data:`CHUNK_SECONDS` at a time, each chunk starting one frame early for the
    difference, so memory stays that of one chunk (an hour's STFT would take ~1 GB) and the flux
    is the same as from one STFT of the whole signal. ``audio``: as :func:`second_loudness_db`.
    """
    hop = max(sr // HOPS_PER_SECOND, 1)
    frame = HOPS_PER_FRAME * hop
    if audio.size < frame:
        audio = np.pad(_float_samples(audio, 0, audio.size), (0, frame - audio.size))
    n = (audio.size - frame) // hop + 1
    flux = np.zeros(n)
    step = max(CHUNK_SECONDS * sr // hop, 1)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        first = max(lo - 1, 0)
        mag = _log_spectra(audio, first, hi, hop, frame)
        rises = np.maximum(np.diff(mag, axis=0), 0.0).mean(axis=1)  # flux of frames first + 1 .. hi - 1
        flux[first + 1 : hi] = rises
    seconds = (np.arange(n) * hop + frame - hop) // sr
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
    """True for seconds [i, i+1) that a spoken word overlaps (a segment without word times: its span).

    Whisper with VAD merges speech chunks minutes apart into one segment, so a segment's span is
    not where speech is; its word timestamps are."""
    out = np.zeros(n_seconds, dtype=bool)
    for s in segments:
        for span in s.get("words") or [s]:
            lo = max(int(np.floor(span["start"])), 0)
            hi = min(int(np.ceil(span["end"])), n_seconds)
            if span["end"] > span["start"]:
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
    """One cue per second: ``{second, loudness_db (relative to the video's median), speech, onset, text}``.

    A video without an audio track (``audio`` of no samples) gets ``no audio`` for every second.
    """
    if audio.size == 0:
        return [{"second": i, "loudness_db": 0.0, "speech": False, "onset": False, "text": NO_AUDIO}
                for i in range(n_seconds)]
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
