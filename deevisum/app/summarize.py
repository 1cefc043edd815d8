"""``deevisum summarize``: one user video in, a keyshot summary video + score timeline out.

Composition only: every step is the pipeline's own library code (frames, ASR, audio cues,
prompts, the student with early exit, shots + knapsack), so a summary scores and cuts shots
as evaluation does, with two departures for viewers: the knapsack's shot value defaults to the
importance a shot holds (``summarize.shot_value: total``) rather than the field's mean score, which
favours many short low-importance shots over the video's key moment; and shots longer than
``summarize.max_shot_seconds`` or than the budget are cut into sub-shots, so a short clip or a
one-shot recording still gets a summary of about the budget. What the command writes (the cut
video, the PNG and JSON reports, all or nothing) is :mod:`deevisum.app.outputs`.

Hour-long videos run in bounded memory: frames are kept at one per second and
``frames.image_size`` pixels, the audio is memory-mapped and read in chunks (cues) and pieces
(transcriber), KTS works in windows, and the cut decodes only around the chosen frames.

The pipeline modules (torch, transformers, whisper: ~15 s to import on a small CPU) are
imported inside the functions that run them, so ``deevisum --help`` and ``deevisum evaluate``,
which import this module to build their parser, do not pay for them.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deevisum.app import cli
from deevisum.app.outputs import SummaryResult, check_output, write_outputs
from deevisum.config import Params, load_params
from deevisum.io import InputError, check_input_file, temp_dir


@dataclass
class SummarizeOptions:
    """What the user chose (flags), resolved against params defaults by the CLI."""

    student: Path
    exits: Path | None
    """Exit heads; None scores every second at full depth (``--no-early-exit``)."""
    asr_model: str
    """Overrides ``asr.model`` (``--asr-model``)."""
    budget: float
    threshold: float | None
    """Manual early-exit threshold; None: the one calibrated on the heads' validation rows."""
    title: str
    category: str
    shot_value: str = "total"
    """Knapsack value of a shot: "total" (importance it holds) or "mean" (evaluation convention)."""


def _step(message: str) -> None:
    tqdm.write(f"summarize: {message}")


def _load_models(opts: SummarizeOptions, p: Params):
    """Student, runner (with exit heads unless disabled) and the transcriber, loaded before any
    decoding so a wrong checkpoint path fails in seconds."""
    from deevisum.data.asr import load_asr
    from deevisum.early_exit.heads import load_exit_heads
    from deevisum.early_exit.runner import EarlyExitRunner
    from deevisum.models.scoring import answer_token_ids
    from deevisum.models.vlm import load_vlm

    model, processor = load_vlm(opts.student)
    heads = load_exit_heads(opts.exits) if opts.exits is not None else None
    try:
        runner = EarlyExitRunner(model, answer_token_ids(processor.tokenizer), heads)
    except ValueError as e:
        raise InputError(opts.exits or opts.student, f"does not fit the student {opts.student}: {e}") from None
    return runner, processor, load_asr(dataclasses.replace(p.asr, model=opts.asr_model))


ASR_PIECE_SECONDS = 180
"""Most audio the transcriber gets at once: it holds its input as floats and more for whisper's VAD
(+160 MB for 10 min, +25 MB for 3 min, ~1 GB for an hour). Pieces end at the quietest 100 ms of
their last 5 s, so a word is seldom cut."""


def _piece_borders(pcm: np.ndarray, sr: int) -> list[int]:
    """Sample borders of the transcriber's pieces: at most :data:`ASR_PIECE_SECONDS` long each."""
    longest, block = int(ASR_PIECE_SECONDS * sr), sr // 10
    borders = [0]
    while len(pcm) - borders[-1] > longest:
        lo = borders[-1] + longest - 50 * block
        energy = np.square(np.asarray(pcm[lo : lo + 50 * block], dtype=np.float64)).reshape(50, block).sum(axis=1)
        borders.append(lo + int(np.argmin(energy)) * block)
    return [*borders, len(pcm)]


def _shifted(segment: dict, seconds: float) -> dict:
    """A transcript segment (and its words) moved ``seconds`` later."""
    moved = {**segment, "start": round(segment["start"] + seconds, 3), "end": round(segment["end"] + seconds, 3)}
    if "words" in segment:
        moved["words"] = [{**w, "start": round(w["start"] + seconds, 3), "end": round(w["end"] + seconds, 3)}
                          for w in segment["words"]]
    return moved


def _transcribe(transcriber: Callable[[Path], list], wav: Path, pcm: np.ndarray, sr: int) -> list:
    """Segments of the whole WAV, transcribed piece by piece (:data:`ASR_PIECE_SECONDS`) in video time."""
    import scipy.io.wavfile

    borders = _piece_borders(pcm, sr)
    if len(borders) == 2:
        return transcriber(wav)
    segments: list = []
    piece = wav.with_name("piece.wav")
    for lo, hi in itertools.pairwise(borders):
        scipy.io.wavfile.write(piece, sr, np.asarray(pcm[lo:hi]))
        segments += [_shifted(s, lo / sr) for s in transcriber(piece)]
    return segments


def _transcript_and_cues(source: Path, has_audio: bool, n_seconds: int, transcriber: Callable[[Path], list], p: Params
                         ) -> tuple[list, list]:
    """Whisper segments and per-second audio cues; a video without audio gets no speech and ``no audio`` cues.

    The WAV is memory-mapped as 16-bit PCM, which the cues read a chunk at a time and the
    transcriber gets in pieces: an hour of float samples would take 230 MB, its STFT ~1 GB.
    """
    from deevisum.data.audio_cues import audio_cues
    from deevisum.data.video import extract_audio
    from deevisum.data.wav import read_pcm

    if not has_audio:
        return [], audio_cues(np.zeros(0, dtype=np.float32), p.frames.sample_rate, [], n_seconds, p.cues)
    with temp_dir("audio") as tmp:
        wav = tmp / "audio.wav"
        extract_audio(source, wav, p.frames.sample_rate)
        pcm = read_pcm(wav, p.frames.sample_rate, mmap=True)
        segments = _transcribe(transcriber, wav, pcm, p.frames.sample_rate)
        cues = audio_cues(pcm, p.frames.sample_rate, segments, n_seconds, p.cues)
        del pcm  # unmapped before the folder goes
    return segments, cues


def _thresholds(runner, opts: SummarizeOptions, p: Params) -> tuple[list[float] | None, str]:
    """Per-exit thresholds of the run (None: full depth) and where they come from."""
    if opts.exits is None:
        return None, "none (full depth)"
    if opts.threshold is not None:
        return [opts.threshold] * len(runner.heads.config.exit_layers), "manual"
    from deevisum.early_exit.report import validation_calibration

    cal = validation_calibration(opts.exits, p.ee.confidence, p)
    return [cal.threshold] * len(runner.heads.config.exit_layers), f"validation (target agreement {p.ee.target_agreement})"


def _score(runner, processor, prompts: list[str], frames: np.ndarray, batch_size: int, thresholds: list[float] | None,
           measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Expected score 1..5 and decoder layers run, per second."""
    import torch

    from deevisum.models.scoring import build_batch, expected_score

    logits, layers = [], []
    for i in tqdm(range(0, len(prompts), batch_size), desc="scoring", unit="batch"):
        out = runner.run(build_batch(processor, prompts[i : i + batch_size], frames[i : i + batch_size]),
                         thresholds=thresholds, measure=measure)
        logits.append(out.logits)
        layers.append(out.layers)
    return expected_score(torch.cat(logits)), torch.cat(layers).numpy()


def summarize(source: str | Path, output: str | Path, opts: SummarizeOptions, p: Params, inputs: Sequence[Path] = ()
              ) -> SummaryResult:
    """Summarize ``source`` into ``output`` (+ ``.png`` and ``.json`` next to it); returns what was selected.

    The paths are checked first, before the pipeline's modules are imported: none of the outputs may
    be a directory, the video, a model file or another of ``inputs`` (the params file)."""
    if not 0 < opts.budget <= 1:
        raise ValueError(f"budget must be a fraction in (0, 1], got {opts.budget}")
    source = check_input_file(source, "video file not found")
    output = check_output(output, [source, opts.student, opts.exits, *inputs])

    from deevisum.data.prompts import FULL, prompt_fields, prompts_for, render_prompt
    from deevisum.data.video import frame_times, probe, read_frames_1fps
    from deevisum.evaluation.scores import expand_scores
    from deevisum.models.vlm import model_modalities
    from deevisum.summary.keyshots import (
        capacity,
        fit_shots,
        keyshot_summaries,
        shot_means,
    )
    from deevisum.summary.shots import frame_features, kts_shots
    from deevisum.timebase import frame_time

    info = probe(source)  # InputError: missing, unreadable, no video stream, truncated
    _step(f"{source.name}: {info.duration:.1f} s, {info.fps:g} fps, {'with' if info.has_audio else 'no'} audio")
    if capacity(opts.budget, info.n_frames) < 1:
        raise InputError(source, f"a {opts.budget:g} summary of its {info.n_frames} frames is shorter than one frame (raise --budget)")
    runner, processor, transcriber = _load_models(opts, p)
    thresholds, threshold_source = _thresholds(runner, opts, p)  # heads without a calibration fail before decoding
    _step("reading one frame per second while transcribing speech and measuring audio cues")
    with ThreadPoolExecutor(1) as pool:  # ffmpeg decodes on one core while whisper runs on another
        reading = pool.submit(read_frames_1fps, source, info, p.frames.image_size)
        timing = pool.submit(frame_times, source)
        segments, cues = _transcript_and_cues(source, info.has_audio, info.n_seconds, transcriber, p)
        frames, times = reading.result(), timing.result()
    rows = [{**f, "prompt": render_prompt(f, p.prompts.template, FULL)}
            for f in prompt_fields(opts.category, opts.title, segments, cues, p.prompts)]
    prompts = prompts_for(rows, model_modalities(opts.student), p.prompts.template)  # as the student was trained
    threshold = None if thresholds is None or thresholds[0] == float("inf") else thresholds[0]
    _step(f"scoring {len(prompts)} seconds (early-exit threshold {threshold}: {threshold_source})")
    scores, layers = _score(runner, processor, prompts, frames, p.ee.batch_size, thresholds, p.ee.confidence)
    _step("cutting shots and choosing the summary")
    frame_scores = expand_scores(scores, info.frame_rate, info.n_frames)
    shots = kts_shots(frame_features(frames), info.n_frames, info.frame_rate, p.evaluate.kts_shot_seconds, p.evaluate.kts_vmax)
    shots = fit_shots(shots, opts.budget, info.n_frames, max(1, round(p.summarize.max_shot_seconds * info.fps)))
    in_summary = keyshot_summaries(frame_scores, shots, opts.budget, opts.shot_value)[0]
    if times is None or len(times) != info.n_frames + 1:  # no time stamps: the frame model's times
        times = frame_time(np.arange(info.n_frames + 1), info.frame_rate)
    result = SummaryResult(
        duration=info.duration,
        scores=[round(float(s), 4) for s in scores],
        shots=[(round(float(times[a]), 3), round(float(times[b]), 3)) for a, b in shots.tolist()],
        shot_frames=[(a, b) for a, b in shots.tolist()],
        shot_scores=[round(float(v), 4) for v in shot_means(frame_scores, shots)],
        selected=np.flatnonzero(in_summary[shots[:, 0]]).tolist(),
        exit_layers=layers.tolist(),
    )
    settings = {"student": str(opts.student), "exits": str(opts.exits) if opts.exits else None, "threshold": threshold,
                "threshold_source": threshold_source, "confidence": p.ee.confidence, "budget": opts.budget, "shot_value": opts.shot_value, "max_shot_seconds": p.summarize.max_shot_seconds,
                "category": opts.category, "has_audio": info.has_audio}
    _step(f"cutting {len(result.selected)} of {len(shots)} shots into the summary video, PNG and JSON")
    write_outputs(source, output, result, info.has_audio, times, opts.title, settings)
    _step(f"wrote {output}: {result.summary_seconds:.1f} s of {info.duration:.1f} s ({result.summary_seconds / info.duration:.0%})")
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``deevisum summarize`` flags; defaults come from params.yaml (``summarize``, ``asr``, ``ee``)."""
    parser.add_argument("input", type=Path, help="video to summarize")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="summary video (.mp4/.mkv/.mov); OUTPUT.png (score timeline) and OUTPUT.json are written next to it")
    parser.add_argument("--budget", type=cli.fraction, help="summary length as a fraction of the video (default: summarize.budget)")
    parser.add_argument("--threshold", type=cli.threshold,
                        help="early-exit confidence threshold >= 0: 0 always exits at the first head, above 1 never "
                             "(default: ee.threshold, else the one calibrated on validation)")
    parser.add_argument("--no-early-exit", action="store_true", help="run the student at full depth for every second")
    parser.add_argument("--student", type=Path, help="student checkpoint directory (default: summarize.student)")
    parser.add_argument("--exits", type=Path, help="exit heads trained on that student (default: summarize.exits)")
    parser.add_argument("--asr-model", help="speech model, overriding asr.model: 'bundled', a local model or a model name")
    parser.add_argument("--title", help="video title for the prompt (default: the file name without extension)")
    parser.add_argument("--shot-value", choices=("total", "mean"),
                        help="knapsack value of a shot: total importance or mean score (default: summarize.shot_value)")
    parser.add_argument("--category", default="", help="video category for the prompt (default: none)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"),
                        help="params file with the pipeline settings (default: ./params.yaml; built-in defaults if absent)")
    parser.set_defaults(func=run)


def options(args: argparse.Namespace, p: Params) -> SummarizeOptions:
    """Flags over params defaults."""
    return SummarizeOptions(
        student=args.student or Path(p.summarize.student),
        exits=None if args.no_early_exit else args.exits or Path(p.summarize.exits),
        asr_model=args.asr_model or p.asr.model,
        budget=p.summarize.budget if args.budget is None else args.budget,
        threshold=p.ee.threshold if args.threshold is None else args.threshold,
        title=args.title if args.title is not None else args.input.stem,
        category=args.category,
        shot_value=args.shot_value or p.summarize.shot_value,
    )


def run(args: argparse.Namespace) -> int:
    p = load_params(args.params) if args.params.is_file() or args.params != Path("params.yaml") else Params()
    summarize(args.input, args.output, options(args, p), p, [args.params])
    return 0
