"""``deevisum summarize``: one user video in, a keyshot summary video + score timeline out.

Composition only: every step is the pipeline's own library code (frames, ASR, audio cues,
prompts, the student with early exit, shots + knapsack), so a summary scores and cuts shots
exactly as evaluation does; only the knapsack's shot value defaults to the importance a shot holds
(``summarize.shot_value: total``) rather than the field's mean score, which favours many short
low-importance shots over the video's key moment. What the command writes (the cut video, the
PNG and JSON reports, all or nothing) is :mod:`deevisum.app.outputs`.

The pipeline modules (torch, transformers, whisper: ~15 s to import on a small CPU) are
imported inside the functions that run them, so ``deevisum --help`` and ``deevisum evaluate``,
which import this module to build their parser, do not pay for them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deevisum.app.outputs import SummaryResult, check_output, write_outputs
from deevisum.config import Params, load_params
from deevisum.io import InputError


@dataclass
class SummarizeOptions:
    """What the user chose (flags), resolved against params defaults by the CLI."""

    student: Path
    exits: Path | None
    """Exit heads; None scores every second at full depth (``--no-early-exit``)."""
    asr_model: str
    budget: float
    threshold: float
    title: str
    category: str
    shot_value: str = "total"
    """Knapsack value of a shot: "total" (importance it holds) or "mean" (evaluation convention)."""


def _step(message: str) -> None:
    tqdm.write(f"summarize: {message}")


def _load_models(opts: SummarizeOptions):
    """Student, runner (with exit heads unless disabled) and ASR, loaded before any decoding so a
    wrong checkpoint path fails in seconds."""
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
    return runner, processor, load_asr(opts.asr_model)


def _transcript_and_cues(source: Path, has_audio: bool, n_seconds: int, asr, p: Params) -> tuple[list, list]:
    """Whisper segments and per-second audio cues; a silent video gets no speech and silent cues."""
    from deevisum.data.asr import transcribe
    from deevisum.data.audio_cues import audio_cues
    from deevisum.data.video import extract_audio
    from deevisum.data.wav import read_wav

    segments: list = []
    audio = np.zeros(0, dtype=np.float32)
    if has_audio:
        with tempfile.TemporaryDirectory(prefix="deevisum-") as tmp:
            wav = Path(tmp) / "audio.wav"
            extract_audio(source, wav, p.frames.sample_rate)
            segments = transcribe(asr, wav, p.asr.language, p.asr.no_speech_threshold, p.asr.logprob_threshold, p.asr.sample_len)
            audio = read_wav(wav, p.frames.sample_rate)
    return segments, audio_cues(audio, p.frames.sample_rate, segments, n_seconds, p.cues)


def _score(runner, processor, prompts: list[str], frames: np.ndarray, batch_size: int, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Expected score 1..5 and decoder layers run, per second."""
    import torch

    from deevisum.models.scoring import build_batch, expected_score

    logits, layers = [], []
    for i in tqdm(range(0, len(prompts), batch_size), desc="scoring", unit="batch"):
        out = runner.run(build_batch(processor, prompts[i : i + batch_size], frames[i : i + batch_size]), threshold=threshold)
        logits.append(out.logits)
        layers.append(out.layers)
    return expected_score(torch.cat(logits)), torch.cat(layers).numpy()


def summarize(source: str | Path, output: str | Path, opts: SummarizeOptions, p: Params) -> SummaryResult:
    """Summarize ``source`` into ``output`` (+ ``.png`` and ``.json`` next to it); returns what was selected."""
    from deevisum.data.prompts import FULL, prompt_fields, prompts_for, render_prompt
    from deevisum.data.video import probe, read_frames_1fps
    from deevisum.evaluation.scores import expand_scores
    from deevisum.models.vlm import model_modalities
    from deevisum.summary.keyshots import keyshot_summaries, shot_means
    from deevisum.summary.shots import frame_features, kts_shots
    from deevisum.timebase import frame_time

    source = Path(source)
    if not 0 < opts.budget <= 1:
        raise ValueError(f"budget must be a fraction in (0, 1], got {opts.budget}")
    output = check_output(output, source)
    info = probe(source)  # InputError: missing, unreadable, no video stream, truncated
    _step(f"{source.name}: {info.duration:.1f} s, {info.fps:g} fps, {'with' if info.has_audio else 'no'} audio")
    runner, processor, asr = _load_models(opts)
    _step("reading one frame per second")
    frames = read_frames_1fps(source, info, p.frames.image_size)
    _step("transcribing speech and measuring audio cues")
    segments, cues = _transcript_and_cues(source, info.has_audio, info.n_seconds, asr, p)
    rows = [{**f, "prompt": render_prompt(f, p.prompts.template, FULL)}
            for f in prompt_fields(opts.category, opts.title, segments, cues, p.prompts)]
    prompts = prompts_for(rows, model_modalities(opts.student), p.prompts.template)  # as the student was trained
    threshold = opts.threshold if opts.exits is not None else None
    scores, layers = _score(runner, processor, prompts, frames, p.ee.batch_size, threshold)
    _step("cutting shots and choosing the summary")
    frame_scores = expand_scores(scores, info.frame_rate, info.n_frames)
    shots = kts_shots(frame_features(frames), info.n_frames, info.frame_rate, p.evaluate.kts_max_shots, p.evaluate.kts_vmax)
    in_summary = keyshot_summaries(frame_scores, shots, opts.budget, opts.shot_value)[0]
    result = SummaryResult(
        duration=info.duration,
        scores=[round(float(s), 4) for s in scores],
        shots=[(round(float(frame_time(a, info.frame_rate)), 3), round(float(frame_time(b, info.frame_rate)), 3))
               for a, b in shots.tolist()],
        shot_frames=[(a, b) for a, b in shots.tolist()],
        shot_scores=[round(float(v), 4) for v in shot_means(frame_scores, shots)],
        selected=np.flatnonzero(in_summary[shots[:, 0]]).tolist(),
        exit_layers=layers.tolist(),
    )
    if not result.selected:
        shortest = min(end - start for start, end in result.shots)
        raise InputError(source, f"no shot fits a {opts.budget:.0%} summary ({opts.budget * info.duration:.1f} s): the shortest "
                                 f"of its {len(shots)} shots lasts {shortest:.1f} s (raise --budget, or lower "
                                 "evaluate.kts_vmax in the params for finer shots)")
    settings = {"student": str(opts.student), "exits": str(opts.exits) if opts.exits else None, "threshold": threshold,
                "budget": opts.budget, "shot_value": opts.shot_value, "category": opts.category, "has_audio": info.has_audio}
    write_outputs(source, output, result, info.has_audio, info.frame_rate, opts.title, settings)
    _step(f"wrote {output}: {result.summary_seconds:.1f} s of {info.duration:.1f} s ({result.summary_seconds / info.duration:.0%})")
    return result


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction in (0, 1]")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``deevisum summarize`` flags; defaults come from params.yaml (``summarize``, ``asr``, ``ee``)."""
    parser.add_argument("input", type=Path, help="video to summarize")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="summary video (.mp4/.mkv/.mov); OUTPUT.png (score timeline) and OUTPUT.json are written next to it")
    parser.add_argument("--budget", type=_fraction, help="summary length as a fraction of the video (default: summarize.budget)")
    parser.add_argument("--threshold", type=float, help="early-exit confidence threshold (default: ee.threshold)")
    parser.add_argument("--no-early-exit", action="store_true", help="run the student at full depth for every second")
    parser.add_argument("--student", type=Path, help="student checkpoint directory (default: summarize.student)")
    parser.add_argument("--exits", type=Path, help="exit heads trained on that student (default: summarize.exits)")
    parser.add_argument("--asr-model", help="whisper model name or local checkpoint (default: asr.model)")
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
    try:
        p = load_params(args.params) if args.params.is_file() or args.params != Path("params.yaml") else Params()
    except (OSError, ValueError) as e:
        print(f"deevisum summarize: error: params file {args.params}: {e}", file=sys.stderr)
        return 2
    try:
        summarize(args.input, args.output, options(args, p), p)
    except InputError as e:
        print(f"deevisum summarize: error: {e}", file=sys.stderr)
        return 1
    return 0
