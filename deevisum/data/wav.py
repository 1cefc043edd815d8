"""16-bit PCM WAV files: what extract_frames writes and the audio stages read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io.wavfile

from deevisum.io import InputError


def read_wav(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 samples in [-1, 1]; InputError when missing, unreadable or at another rate."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "audio file not found (run extract_frames first)")
    try:
        rate, data = scipy.io.wavfile.read(path)
    except (ValueError, OSError) as e:
        raise InputError(path, f"unreadable WAV ({e})") from None
    if rate != sample_rate:
        raise InputError(path, f"sample rate {rate} Hz, expected {sample_rate} Hz")
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float32) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    data = data.astype(np.float32)
    return data.mean(axis=1) if data.ndim == 2 else data

