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
which import this module to build their parser, do not pay for them; every check of a path or an
argument (the video, the outputs, the model folders, the budget) runs before them.

The JSON report carries a short model card (:func:`model_card`): which prompt modalities the model
was trained with and, when the params file read is the pipeline's that trained it, on what data.
A video unlike the demo's synthetic clips gets a one-line warning: its scores may mean little.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deevisum.app import cli
from deevisum.app.outputs import SummaryResult, check_output, write_outputs
from deevisum.config import DataParams, Params, load_params
from deevisum.io import InputError, check_input_file, temp_dir

LOG = logging.getLogger("deevisum.summarize")


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
    """Manual early-exit threshold; None: the one calibrated on the rows saved with the heads."""
    title: str
    category: str
    shot_value: str = "total"
    """Knapsack value of a shot: "total" (importance it holds) or "mean" (evaluation convention)."""


def _step(message: str) -> None:
    LOG.info(message)


def default_output(source: str | Path) -> Path:
    """Where the summary goes without ``-o``: ``<input stem>.summary.mp4`` beside the input."""
    source = Path(source)
    return source.with_name(f"{source.stem}.summary.mp4")


# Files of a saved model and of saved exit heads (deevisum.models.vlm, deevisum.early_exit.heads, which
# import torch): named here so that a missing model is reported before torch is imported.
MODEL_FILES = ("config.json", "deevisum_base.json")
"""A saved model holds one of these (full weights, or a 4-bit adapter naming its base)."""
PROMPT_FILE = "prompt.json"
"""The modalities the model's training prompts carried (``deevisum.models.vlm.save_modalities``)."""
HEADS_FILES = ("config.json", "model.safetensors")
HEADS_VALIDATION = "validation.safetensors"


def _repository() -> Path | None:
    """The deevisum repository this package runs from (an editable install), or None (``pip install .``)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "dvc.yaml").is_file() and (root / "params.yaml").is_file() else None


def _make_it(path: Path, flag: str, given: bool) -> str:
    """The next step for a model folder that is not there: make it with the pipeline, or pass another."""
    if given:
        example = "models/student/fold0-seed0" if flag == "--student" else "models/exits/fold0-seed0"
        return f"pass {flag} a folder the pipeline wrote (e.g. {flag} {example} after `dvc repro`)"
    if Path("dvc.yaml").is_file():
        return f"train it with `dvc repro` (or fetch it with `dvc pull`), or pass {flag} DIR"
    repo = _repository()
    if repo is not None and (repo / path).exists():
        return f"this is not the repository; run from {repo} or pass {flag} {repo / path}"
    where = str(repo) if repo is not None else "a clone of the deevisum repository"
    return f"train it with `dvc repro` (or fetch it with `dvc pull`) in {where}, then run from there or pass {flag} DIR"


def check_models(opts: SummarizeOptions, student_given: bool, exits_given: bool) -> None:
    """The student and exit-head folders hold what loading them needs (before torch is imported)."""
    if not any((opts.student / name).is_file() for name in MODEL_FILES):
        raise InputError(opts.student, f"not a saved model directory: {_make_it(opts.student, '--student', student_given)}")
    if opts.exits is None:
        return
    missing = [name for name in HEADS_FILES if not (opts.exits / name).is_file()]
    if missing:
        raise InputError(opts.exits, f"no exit heads here ({', '.join(missing)} missing): "
                                     f"{_make_it(opts.exits, '--exits', exits_given)}, or pass --no-early-exit")
    if opts.threshold is None and not (opts.exits / HEADS_VALIDATION).is_file():
        raise InputError(opts.exits / HEADS_VALIDATION, "missing: the heads were saved without validation outputs, "
                                                        "which calibrate the threshold (re-run train_exits, or pass --threshold)")


def _read_json(path: Path) -> dict:
    """A model's small JSON file, or {} when it is absent or unreadable (the card is informative only)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _training_data(student: Path, p: Params, params_file: Path | None) -> dict | None:
    """What the params file says ``student`` was trained on, or None when it cannot tell: no params
    file was read, or the model does not lie in that params file's repository."""
    if params_file is None or not params_file.is_file():
        return None
    repo = params_file.resolve().parent
    if not student.resolve().is_relative_to(repo):
        return None
    from deevisum.config import PRETRAINED

    role = student.parent.name if student.parent.name in ("teacher", "mentor") else "student"
    source = getattr(p.models, role).source
    if source == "tiny":
        start: dict = {"initialised": "random weights (models.<role>.source: tiny)"}
    elif Path(source).parent == Path(PRETRAINED):
        c = p.pretrain.corpus
        start = {"pretrained_on": f"{c.n_videos} synthetic videos of {c.min_seconds}-{c.max_seconds} s from the demo generator "
                                  f"(seed {c.seed}), scored by the generator's latent importance (stage pretrain)"}
    else:
        start = {"initialised_from": source}
    if Path(p.data.dataset_dir) == Path(DataParams().dataset_dir):
        d = p.demo
        data: dict = {"synthetic": True,
                      "finetuned_on": f"the generated demo corpus: {d.n_videos} videos of {d.min_seconds}-{d.max_seconds} s, "
                                      f"{d.width}x{d.height}, {d.fps} fps, {d.n_annotators} simulated annotators (seed {d.seed})",
                      "frame_size": [d.width, d.height], "fps": d.fps}
    else:
        data = {"synthetic": False, "finetuned_on": f"{p.data.dataset} at {p.data.dataset_dir}"}
    return {"params": str(params_file), "role": role, **start, **data}


def model_card(student: Path, p: Params, params_file: Path | None) -> dict:
    """What is known about the scoring model, from its folder (modalities, sizes) and the params file."""
    config = _read_json(student / "config.json")
    text = config.get("text_config") or {}
    vision = config.get("vision_config") or {}
    card = {"model": str(student),
            "prompt_modalities": _read_json(student / PROMPT_FILE).get("modalities", "not recorded (all)"),
            "decoder": {k: text[k] for k in ("hidden_size", "num_hidden_layers") if k in text},
            "vision": {k: vision[k] for k in ("image_size", "patch_size", "num_hidden_layers") if k in vision},
            "training_data": _training_data(student, p, params_file)}
    if card["training_data"] is None:
        card["training_data_unknown"] = ("no params file read" if params_file is None or not params_file.is_file()
                                         else f"the model is not in the repository of {params_file}")
    return card


def unlike_training(card: dict, width: int, height: int, fps: float) -> str | None:
    """Why the video is unlike the synthetic clips the model was trained on (size or rate), or None."""
    data = card.get("training_data") or {}
    if not data.get("synthetic"):
        return None
    (w, h), rate = data["frame_size"], data["fps"]
    if (width, height) == (w, h) and abs(fps - rate) <= 0.2 * rate:
        return None
    return (f"the model was trained only on synthetic {w}x{h}, {rate}-fps demo clips; this video is {width}x{height} "
            f"at {fps:.3g} fps, so its scores may mean little (docs/models.md)")


def _load_models(opts: SummarizeOptions, p: Params):
    """Student, runner (with exit heads unless disabled) and the transcriber, loaded before any
    decoding so a wrong checkpoint path fails in seconds."""
    from deevisum.data.asr import load_asr
    from deevisum.early_exit.heads import load_exit_heads
    from deevisum.early_exit.runner import EarlyExitRunner
    from deevisum.models.scoring import answer_token_ids
    from deevisum.models.vlm import load_vlm

    with cli.no_progress_bars():  # transformers' "Loading weights" bar: the step's message says it already
        model, processor = load_vlm(opts.student)
    heads = load_exit_heads(opts.exits) if opts.exits is not None else None
    try:
        runner = EarlyExitRunner(model, answer_token_ids(processor.tokenizer), heads)
    except ValueError as e:
        raise InputError(opts.exits or opts.student, f"does not fit the student {opts.student}: {e} "
                                                     "(pass --exits the heads trained on that student, or --no-early-exit)") from None
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


def _bar(total: float, desc: str) -> tqdm:
    """A progress bar in seconds of video with its ETA (hidden by ``-q``: deevisum.app.cli)."""
    return tqdm(total=round(total), desc=desc, unit="s", leave=False, dynamic_ncols=True)


def _transcribe(transcriber: Callable[[Path], list], wav: Path, pcm: np.ndarray, sr: int) -> list:
    """Segments of the whole WAV, transcribed piece by piece (:data:`ASR_PIECE_SECONDS`) in video time."""
    import scipy.io.wavfile

    borders = _piece_borders(pcm, sr)
    with _bar(len(pcm) / sr, "transcribing") as bar:
        if len(borders) == 2:
            segments = transcriber(wav)
            bar.update(bar.total)
            return segments
        segments = []
        piece = wav.with_name("piece.wav")
        for lo, hi in itertools.pairwise(borders):
            scipy.io.wavfile.write(piece, sr, np.asarray(pcm[lo:hi]))
            segments += [_shifted(s, lo / sr) for s in transcriber(piece)]
            bar.update(round(hi / sr) - bar.n)
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
    return [cal.threshold] * len(runner.heads.config.exit_layers), f"calibrated (target agreement {p.ee.target_agreement})"


def _score(runner, processor, prompts: list[str], frames: np.ndarray, batch_size: int, thresholds: list[float] | None,
           measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Expected score 1..5 and decoder layers run, per second."""
    import torch

    from deevisum.models.scoring import build_batch, expected_score

    logits, layers = [], []
    with _bar(len(prompts), "scoring") as bar:
        for i in range(0, len(prompts), batch_size):
            out = runner.run(build_batch(processor, prompts[i : i + batch_size], frames[i : i + batch_size]),
                             thresholds=thresholds, measure=measure)
            logits.append(out.logits)
            layers.append(out.layers)
            bar.update(len(out.layers))
    return expected_score(torch.cat(logits)), torch.cat(layers).numpy()


def summarize(source: str | Path, output: str | Path | None, opts: SummarizeOptions, p: Params, inputs: Sequence[Path] = (),
              *, params_file: Path | None = None, given: Sequence[str] = ()) -> SummaryResult:
    """Summarize ``source`` into ``output`` (default :func:`default_output`; + ``.png`` and ``.json`` next
    to it); returns what was selected.

    Everything that can be checked is checked first, before torch and the pipeline's models are
    imported: none of the outputs may be a directory, the video, a model file or another of ``inputs``
    (the params file); the model folders must hold a model and exit heads; the video must be readable
    and long enough for the budget. ``params_file``: where ``p`` came from (for the model card);
    ``given``: which of ``student`` / ``exits`` the user named (for the next step a message suggests)."""
    if not 0 < opts.budget <= 1:
        raise ValueError(f"budget must be a fraction in (0, 1], got {opts.budget}")
    source = check_input_file(source, "video file not found")
    output = check_output(default_output(source) if output is None else output, [source, opts.student, opts.exits, *inputs])
    check_models(opts, "student" in given, "exits" in given)

    from deevisum.data.video import probe
    from deevisum.summary.keyshots import capacity

    info = probe(source)  # InputError: missing, unreadable, no video stream, truncated
    _step(f"{source.name}: {info.duration:.1f} s, {info.width}x{info.height}, {info.fps:g} fps, "
          f"{'with' if info.has_audio else 'no'} audio")
    if capacity(opts.budget, info.n_frames) < 1:
        raise InputError(source, f"a {opts.budget:g} summary of its {info.n_frames} frames is shorter than one frame (raise --budget)")
    card = model_card(opts.student, p, params_file)
    warning = unlike_training(card, info.width, info.height, info.fps)
    card["input_unlike_training_data"] = None if not (card["training_data"] or {}).get("synthetic") else warning is not None
    if warning:
        LOG.warning(warning)
    LOG.debug("model card: %s", json.dumps(card))

    from deevisum.data.prompts import FULL, prompt_fields, prompts_for, render_prompt
    from deevisum.data.video import frame_times, read_frames_1fps
    from deevisum.evaluation.scores import expand_scores
    from deevisum.models.vlm import model_modalities
    from deevisum.summary.keyshots import fit_shots, keyshot_summaries, shot_means
    from deevisum.summary.shots import frame_features, kts_shots
    from deevisum.timebase import frame_time

    _step(f"loading the model {opts.student}" + (f" and exit heads {opts.exits}" if opts.exits else ""))
    runner, processor, transcriber = _load_models(opts, p)
    thresholds, threshold_source = _thresholds(runner, opts, p)  # heads without a calibration fail before decoding
    _step("reading one frame per second while transcribing speech and measuring audio cues")
    with ThreadPoolExecutor(1) as pool, _bar(info.n_seconds, "decoding") as decoding:
        # ffmpeg decodes on one core while whisper runs on another
        reading = pool.submit(read_frames_1fps, source, info, p.frames.image_size,
                              lambda done, total: decoding.update(round(done * decoding.total / total) - decoding.n))
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
    write_outputs(source, output, result, info.has_audio, times, opts.title, settings, card)
    _step(f"wrote {output}: {result.summary_seconds:.1f} s of {info.duration:.1f} s ({result.summary_seconds / info.duration:.0%})")
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``deevisum summarize`` flags; defaults come from params.yaml (``summarize``, ``asr``, ``ee``)."""
    parser.add_argument("input", type=Path, help="video to summarize")
    parser.add_argument("-o", "--output", type=Path,
                        help="summary video (.mp4/.mkv/.mov; default: INPUT_STEM.summary.mp4 beside the input); "
                             "OUTPUT.png (score timeline) and OUTPUT.json (segments, scores, settings, model card) go next to it")
    parser.add_argument("--budget", type=cli.fraction, help="summary length as a fraction of the video (default: summarize.budget)")
    parser.add_argument("--threshold", type=cli.threshold,
                        help="early-exit confidence threshold >= 0: 0 always exits at the first head, above 1 never "
                             "(default: ee.threshold, else the one calibrated for the heads)")
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
    read = args.params.is_file() or args.params != Path("params.yaml")
    p = load_params(args.params) if read else Params()
    opts = options(args, p)
    LOG.debug("params: %s; options: %s", args.params if read else "built-in defaults (no ./params.yaml)", opts)
    given = [name for name in ("student", "exits") if getattr(args, name) is not None]
    summarize(args.input, args.output, opts, p, [args.params], params_file=args.params if read else None, given=given)
    return 0
