"""The one timebase: which frames make up a second, and which frame stands for it.

A video has ``n_frames`` frames at an exact rate ``fps = p/q`` (a :class:`~fractions.Fraction`:
NTSC's 30000/1001 is not 29.97). Second ``i`` covers frames ``[floor(i*fps), floor((i+1)*fps))``,
so a video has ``ceil(n_frames / fps)`` seconds (the last one may be partial). The frame that
stands for second ``i`` is the one on screen at its middle, ``floor((i + 1/2) * fps)``, clamped
to the last frame: the frame farthest from both ends of the second, so the least likely to
belong to a neighbouring shot when a cut falls near a boundary.

Everything is integer arithmetic on ``p`` and ``q``, so no frame is ever off by one through
float rounding. A unit other than one second (``frames_per_unit``, e.g. a scores file with one
score per frame) follows the same rule.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

Rate = Fraction
"""Frames per second (or per unit), exact."""


def exact_rate(value: Fraction | int | float | str) -> Fraction:
    """An exact rate from a Fraction, an int, a ``"p/q"`` string or a float (taken at its exact binary value)."""
    rate = Fraction(value)
    if rate <= 0:
        raise ValueError(f"a frame rate must be positive, got {value!r}")
    return rate


def n_units(n_frames: int, frames_per_unit: Fraction) -> int:
    """Units (seconds) needed to cover ``n_frames``: ceil(n_frames / fps)."""
    p, q = frames_per_unit.numerator, frames_per_unit.denominator
    return -(-n_frames * q // p)


def unit_starts(frames_per_unit: Fraction, n: int) -> np.ndarray:
    """First frame of units 0..n (n + 1 values, the last one the end of unit n - 1): floor(i * fps)."""
    p, q = frames_per_unit.numerator, frames_per_unit.denominator
    return (np.arange(n + 1, dtype=np.int64) * p) // q


def second_bounds(rate: Fraction, n_frames: int, n_seconds: int | None = None) -> np.ndarray:
    """Frame boundaries of seconds 0..n_seconds (default: all of a video), clipped to ``n_frames``.

    A rate with a large numerator (a float's exact binary value: 29.97 is p/2^48) would overflow int64
    in i x p after about a thousand units; those bounds are computed with Python's integers."""
    n = n_units(n_frames, rate) if n_seconds is None else n_seconds
    p, q = rate.numerator, rate.denominator
    if n * p < 2**63:
        return np.minimum(unit_starts(rate, n), n_frames)
    return np.array([min(i * p // q, n_frames) for i in range(n + 1)], dtype=np.int64)


def frames_at_seconds(seconds: np.ndarray, rate: Fraction) -> np.ndarray:
    """The first frame of each whole second in ``seconds``."""
    return (np.asarray(seconds, dtype=np.int64) * rate.numerator) // rate.denominator


def middle_frames(rate: Fraction, n_frames: int) -> np.ndarray:
    """Index of the frame standing for each second, (n_seconds,)."""
    p, q = rate.numerator, rate.denominator
    i = np.arange(n_units(n_frames, rate), dtype=np.int64)
    return np.minimum(((2 * i + 1) * p) // (2 * q), n_frames - 1)


def frame_time(frame: int | np.ndarray, rate: Fraction) -> float | np.ndarray:
    """Seconds from the start of the video to the start of ``frame``."""
    return np.asarray(frame, dtype=np.float64) * rate.denominator / rate.numerator
