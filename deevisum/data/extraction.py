"""Frames and audio of a whole benchmark into ``frames.h5`` + ``audio/`` (the extract_frames stage).

Two passes: every video is probed and checked against its annotation first (cheap: ffprobe
only demuxes), then the survivors are decoded. Under ``on_error: stop`` a bad video therefore
stops the stage within seconds, and since all outputs are written to temporary paths and
renamed only at the end, a stop (or a kill) leaves no output behind.

``frames.h5`` is written through :mod:`deevisum.data.frames_store`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import h5py
import numpy as np
from tqdm import tqdm

from deevisum.data.benchmarks import Benchmark
from deevisum.data.frames_store import write_video
from deevisum.data.video import (
    VideoInfo,
    check_annotation,
    extract_audio,
    probe,
    read_frames_1fps,
)
from deevisum.data.wav import write_wav
from deevisum.io import BadInputReport, InputError, atomic_path

T = TypeVar("T")


def _in_order(
    pool: ThreadPoolExecutor, fn: Callable[..., T], vids: Iterable[str], *args: object
) -> Iterator[tuple[str, T | InputError]]:
    """Run ``fn(vid, *args)`` for all ``vids`` on the pool (ffmpeg does the work, so threads suffice);
    yield ``(vid, result or its InputError)`` in ``vids`` order, so outputs do not depend on timing."""
    futures = [(vid, pool.submit(fn, vid, *args)) for vid in vids]
    for vid, fut in futures:
        try:
            yield vid, fut.result()
        except InputError as err:
            yield vid, err


def _check(vid: str, bench: Benchmark) -> VideoInfo:
    path = bench.video_path(vid)
    info = probe(path)
    check_annotation(info, bench.videos[vid], path)
    return info


def _extract(
    vid: str, bench: Benchmark, infos: dict[str, VideoInfo], image_size: int, audio_dir: Path, sample_rate: int
) -> np.ndarray:
    """Frames first, audio second: the WAV is written atomically, so a failure leaves nothing of this video.

    A video without an audio track gets an empty WAV (no speech, "no audio" cues), not a skip.
    """
    path = bench.video_path(vid)
    frames = read_frames_1fps(path, infos[vid], image_size)
    if infos[vid].has_audio:
        extract_audio(path, audio_dir / f"{vid}.wav", sample_rate)
    else:
        write_wav(audio_dir / f"{vid}.wav", np.zeros(0), sample_rate)
    return frames


def extract_benchmark(
    bench: Benchmark,
    frames_h5: str | Path,
    audio_dir: str | Path,
    image_size: int,
    sample_rate: int,
    report: BadInputReport,
    workers: int = 1,
) -> dict[str, VideoInfo]:
    """Write ``frames_h5`` and ``audio_dir`` for every good video of ``bench``; returns those videos.

    Pass 1 probes every video and checks it against its annotation (ffprobe only demuxes), so
    under ``on_error: stop`` a bad video ends the stage within seconds; pass 2 decodes the
    good ones, ``workers`` at a time. Both outputs are renamed into place only after every
    video has been handled, so an ``InputError`` (stop, or no usable video at all) leaves
    neither behind.
    """
    with contextlib.ExitStack() as stack:
        h5_tmp = stack.enter_context(atomic_path(frames_h5))
        audio_tmp = stack.enter_context(atomic_path(audio_dir))
        audio_tmp.mkdir()
        pool = ThreadPoolExecutor(max_workers=workers)
        # on the way out (LIFO) running ffmpegs finish before the temp paths are removed; queued ones are dropped
        stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        infos = {}
        checks = _in_order(pool, _check, bench.videos, bench)
        for vid, result in tqdm(checks, total=len(bench.videos), desc="probe", unit="video"):
            if isinstance(result, InputError):
                report.handle(result, vid)
            else:
                infos[vid] = result
        h5 = stack.enter_context(h5py.File(h5_tmp, "w"))
        done = {}
        decoded = _in_order(pool, _extract, infos, bench, infos, image_size, audio_tmp, sample_rate)
        for vid, result in tqdm(decoded, total=len(infos), desc="frames+audio", unit="video"):
            if isinstance(result, InputError):
                report.handle(result, vid)
            else:
                write_video(h5, vid, infos[vid].frame_rate, infos[vid].n_frames, result)
                done[vid] = infos[vid]
        if not done:
            raise InputError(bench.root, "no usable video: every annotated video was bad (see the messages above)")
    return done
