"""16-bit PCM WAV files: what extract_frames writes and the audio stages read.

A video without an audio track gets a WAV of no samples: the audio stages then know it has no
sound (no speech, "no audio" cues) rather than losing the video.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import scipy.io.wavfile

from deevisum.io import InputError, atomic_path


def read_pcm(path: str | Path, sample_rate: int, mmap: bool = False) -> np.ndarray:
    """The samples as stored (16-bit integers for ours), memory-mapped with ``mmap`` so an hour of
    audio is read a chunk at a time; InputError when missing, unreadable or at another rate."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "audio file not found (run extract_frames first)")
    try:
        rate, data = scipy.io.wavfile.read(path, mmap=mmap)
    except (ValueError, OSError) as e:
        raise InputError(path, f"unreadable WAV ({e})") from None
    if rate != sample_rate:
        raise InputError(path, f"sample rate {rate} Hz, expected {sample_rate} Hz")
    return data


def to_float(samples: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1]: integer PCM scaled (the one scaling every reader uses), float samples as they are."""
    samples = np.asarray(samples)
    if np.issubdtype(samples.dtype, np.integer):
        info = np.iinfo(samples.dtype)
        samples = (samples.astype(np.float32) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    return samples.astype(np.float32)


def read_wav(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 samples in [-1, 1] (channels averaged)."""
    data = to_float(read_pcm(path, sample_rate))
    return data.mean(axis=1) if data.ndim == 2 else data


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Mono 16-bit PCM from float samples in [-1, 1], atomically."""
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes((np.asarray(audio) * 32767).round().astype("<i2").tobytes())
