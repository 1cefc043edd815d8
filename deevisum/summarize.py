"""``deevisum summarize``: one user video in, a keyshot summary video + score timeline out.

Composition only: every step is the pipeline's own library code (frames, ASR, audio cues,
prompts, the student with early exit, shots + knapsack), so a summary scores and cuts shots
exactly as evaluation does; only the knapsack's shot value defaults to the importance a shot holds
(``summarize.shot_value: total``) rather than the field's mean score, which favours many short
low-importance shots over the video's key moment. What lives here is what only the command needs: checking the
user's paths up front, cutting the selected shots out of the video with ffmpeg (audio kept),
and the PNG/JSON reports. All three outputs are written to temporary paths and renamed at the
end, so a failure never leaves a partial summary behind.

The pipeline modules (torch, transformers, whisper: ~15 s to import on a small CPU) are
imported inside the functions that run them, so ``deevisum --help`` and ``deevisum evaluate``,
which import this module to build their parser, do not pay for them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from deevisum.io import InputError, atomic_path, write_json
from deevisum.params import Params, load_params

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")
"""Containers the summary can be written to (H.264 video + AAC audio fit all three)."""


@dataclass
class SummaryResult:
    """What a summary is made of, in seconds (what the JSON report holds)."""

    duration: float
    """Length of the input video (s)."""
    scores: list[float]
    """Importance per 1-second segment (score i covers [i, i + 1) s)."""
    shots: list[tuple[float, float]]
    """All candidate shots [start, end) in seconds."""
    shot_scores: list[float]
    """Value of each shot the knapsack saw (same order as ``shots``)."""
    selected: list[int]
    """Indices into ``shots`` of the shots in the summary, in time order."""
    exit_layers: list[int] = field(default_factory=list)
    """Decoder layers run per second (the student's depth where no early exit happened)."""

    @property
    def segments(self) -> list[tuple[float, float]]:
        return [self.shots[i] for i in self.selected]

    @property
    def summary_seconds(self) -> float:
        return sum(end - start for start, end in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "summary_seconds": self.summary_seconds,
            "ratio": self.summary_seconds / self.duration if self.duration > 0 else 0.0,
            "segments": [
                {"start": self.shots[i][0], "end": self.shots[i][1], "shot": i, "score": self.shot_scores[i]}
                for i in self.selected
            ],
            "shots": [{"start": s, "end": e, "score": v} for (s, e), v in zip(self.shots, self.shot_scores)],
            "scores": self.scores,
            "exit_layers": self.exit_layers,
        }


def report_paths(output: str | Path) -> tuple[Path, Path]:
    """The PNG timeline and JSON segments written next to ``output`` (same stem)."""
    output = Path(output)
    return output.with_suffix(".png"), output.with_suffix(".json")


def check_output(output: str | Path, source: str | Path) -> Path:
    """Refuse an output we could not write, before any expensive work starts."""
    output = Path(output)
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(output, f"unsupported summary format {output.suffix!r} (use one of {', '.join(VIDEO_SUFFIXES)})")
    if output.exists() and output.resolve() == Path(source).resolve():
        raise InputError(output, "the summary would overwrite the input video")
    if output.is_dir():
        raise InputError(output, "is a directory")
    parent = output.parent
    while not parent.exists():  # atomic_path creates missing folders: the first existing one must be writable
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(output, f"{parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(output, f"directory {parent} is not writable")
    return output


def _ffmpeg(args: Sequence[str | Path], what: str | Path) -> None:
    """Run ffmpeg quietly; on failure raise an InputError with ffmpeg's last message."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise RuntimeError("ffmpeg is not installed (scripts/setup.sh installs it)")
    done = subprocess.run([exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise InputError(what, f"ffmpeg failed: {tail}")


def _inside(var: str, ranges: Sequence[tuple[float, float]]) -> str:
    """ffmpeg expression true when ``var`` lies in any [start, end) range."""
    return "+".join(f"gte({var}\\,{a})*lt({var}\\,{b})" for a, b in ranges)


def cut_video(source: str | Path, segments: Sequence[tuple[float, float]], dest: str | Path, has_audio: bool, fps: float) -> None:
    """Write the ``segments`` (seconds, time order) of ``source`` back to back into ``dest``.

    One re-encoding pass (stream copy could only cut at keyframes). Video frames are picked by
    index, frame n belonging to second n / fps exactly as in the frame model the shots were cut
    in; audio by time, which ffmpeg counts from the file's start, so a container that does not
    start at 0 is cut at the same instants and the streams keep their relative sync.
    """
    if not segments:
        raise ValueError("no segments to cut")
    frames = [(round(a * fps), round(b * fps)) for a, b in segments]
    vf = f"select='{_inside('n', frames)}',setpts=N/FRAME_RATE/TB"
    args: list[str | Path] = ["-i", source, "-map", "0:v:0", "-vf", vf]
    if has_audio:
        af = f"aselect='{_inside('t', segments)}',asetpts=N/SR/TB"
        args += ["-map", "0:a:0", "-af", af, "-c:a", "aac"]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-movflags", "+faststart", dest]
    _ffmpeg(args, source)


def plot_timeline(result: SummaryResult, dest: str | Path, title: str) -> None:
    """PNG of the per-second scores with the selected shots shaded and shot borders marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3))
    try:
        ax.stairs(result.scores, range(len(result.scores) + 1), color="tab:blue", label="importance (per second)")
        for k, (start, end) in enumerate(result.segments):
            ax.axvspan(start, end, color="tab:orange", alpha=0.3, label="in summary" if k == 0 else None)
        for start, _ in result.shots[1:]:
            ax.axvline(start, color="grey", linewidth=0.5, alpha=0.6)
        ax.set_xlim(0, max(result.duration, len(result.scores)))
        ax.set_ylim(0.8, 5.2)  # the answer scale 1..5, so flat scores do not look like big swings
        ax.set_xlabel("time (s)")
        ax.set_ylabel("score")
        ax.set_title(f"{title}: {result.summary_seconds:.1f} s of {result.duration:.1f} s")
        ax.legend(loc="upper right", fontsize="small")
        fig.tight_layout()
        fig.savefig(dest, format="png", dpi=100)
    finally:
        plt.close(fig)


def write_outputs(
    source: str | Path,
    output: str | Path,
    result: SummaryResult,
    has_audio: bool,
    fps: float,
    title: str,
    settings: dict | None = None,
) -> None:
    """Cut the video and write the PNG and JSON reports (``settings`` recorded in the JSON for
    provenance), renaming all three only once all succeeded."""
    png, js = report_paths(output)
    with contextlib.ExitStack() as stack:
        tmp_video = stack.enter_context(atomic_path(output))
        tmp_png = stack.enter_context(atomic_path(png))
        tmp_json = stack.enter_context(atomic_path(js))
        cut_video(source, result.segments, tmp_video, has_audio, fps)
        plot_timeline(result, tmp_png, title)
        write_json(tmp_json, {"input": str(source), "title": title, "settings": settings or {}, **result.to_dict()})


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
    from deevisum.asr import load_asr
    from deevisum.early_exit import EarlyExitRunner, load_exit_heads
    from deevisum.models import load_vlm
    from deevisum.scoring import answer_token_ids

    model, processor = load_vlm(opts.student)
    heads = load_exit_heads(opts.exits) if opts.exits is not None else None
    try:
        runner = EarlyExitRunner(model, answer_token_ids(processor.tokenizer), heads)
    except ValueError as e:
        raise InputError(opts.exits or opts.student, f"does not fit the student {opts.student}: {e}") from None
    return runner, processor, load_asr(opts.asr_model)


def _transcript_and_cues(source: Path, has_audio: bool, n_seconds: int, asr, p: Params) -> tuple[list, list]:
    """Whisper segments and per-second audio cues; a silent video gets no speech and silent cues."""
    from deevisum.asr import transcribe
    from deevisum.audio_cues import audio_cues, read_wav
    from deevisum.video import extract_audio

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

    from deevisum.scoring import build_batch, expected_score

    logits, layers = [], []
    for i in tqdm(range(0, len(prompts), batch_size), desc="scoring", unit="batch"):
        out = runner.run(build_batch(processor, prompts[i : i + batch_size], frames[i : i + batch_size]), threshold=threshold)
        logits.append(out.logits)
        layers.append(out.layers)
    return expected_score(torch.cat(logits)), torch.cat(layers).numpy()


def summarize(source: str | Path, output: str | Path, opts: SummarizeOptions, p: Params) -> SummaryResult:
    """Summarize ``source`` into ``output`` (+ ``.png`` and ``.json`` next to it); returns what was selected."""
    from deevisum.evaluation.metrics import keyshot_summaries, shot_means
    from deevisum.evaluation.scores import expand_scores
    from deevisum.evaluation.shots import frame_features, kts_shots
    from deevisum.mskd import model_prompts
    from deevisum.prompts import prompt_fields, render_prompt
    from deevisum.video import probe, read_frames_1fps

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
    rows = [{**f, "prompt": render_prompt(f, p.prompts.template)}
            for f in prompt_fields(opts.category, opts.title, segments, cues, p.prompts)]
    prompts = model_prompts(opts.student, rows, p.prompts.template)  # the modalities the student was trained on
    threshold = opts.threshold if opts.exits is not None else None
    scores, layers = _score(runner, processor, prompts, frames, p.ee.batch_size, threshold)
    _step("cutting shots and choosing the summary")
    frame_scores = expand_scores(scores, info.fps, info.n_frames)
    shots = kts_shots(frame_features(frames), info.n_frames, info.fps, p.evaluate.kts_max_shots, p.evaluate.kts_vmax)
    in_summary = keyshot_summaries(frame_scores, shots, opts.budget, opts.shot_value)[0]
    result = SummaryResult(
        duration=info.duration,
        scores=[round(float(s), 4) for s in scores],
        shots=[(round(a / info.fps, 3), round(b / info.fps, 3)) for a, b in shots.tolist()],
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
    write_outputs(source, output, result, info.has_audio, info.fps, opts.title, settings)
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
