"""Speech recognition with openai-whisper, and the offline stand-in checkpoint.

With no network the pipeline cannot download ``tiny``/``base``; ``build_random_checkpoint``
writes a small whisper checkpoint with seeded random weights in whisper's own format, so the
default run loads it through exactly the code path a real local checkpoint takes
(``whisper.load_model(path)``, which uses ``torch.load(weights_only=True)``: no unpickling).
Random weights give garbage text; what matters downstream is the segment format.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import whisper
from tqdm import tqdm
from whisper.model import ModelDimensions, Whisper

from deevisum.config import AsrParams, WhisperBuildParams
from deevisum.data.wav import read_wav
from deevisum.io import BadInputReport, InputError, atomic_path

# whisper's fixed front end: 80 log-mel bins, 30-s windows of 1500 encoder positions, and its
# multilingual tokenizer (51865 ids); a checkpoint with other values cannot run its pipeline.
N_MELS = 80
N_AUDIO_CTX = 1500
N_VOCAB = 51865
N_TEXT_CTX = 448
RANDOM_CHECKPOINT = "whisper-random.pt"
"""File name of the random checkpoint inside the build_asr output folder (``asr.model`` points at it)."""


def build_random_checkpoint(path: str | Path, p: WhisperBuildParams) -> Path:
    """Write a seeded random-weight whisper checkpoint ``{"dims", "model_state_dict"}`` atomically."""
    dims = ModelDimensions(
        n_mels=N_MELS,
        n_audio_ctx=N_AUDIO_CTX,
        n_audio_state=p.n_state,
        n_audio_head=p.n_head,
        n_audio_layer=p.n_layer,
        n_vocab=N_VOCAB,
        n_text_ctx=N_TEXT_CTX,
        n_text_state=p.n_state,
        n_text_head=p.n_head,
        n_text_layer=p.n_layer,
    )
    torch.manual_seed(p.seed)
    model = Whisper(dims)
    with torch.no_grad():
        # whisper leaves this parameter as torch.empty (real checkpoints overwrite it): without
        # an explicit init the same seed would give different weights.
        model.decoder.positional_embedding.normal_(0.0, 0.02)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": state}, tmp)
    return path


def load_asr(model: str) -> Whisper:
    """A whisper model by name (``tiny``... needs the network) or a local checkpoint path."""
    if model not in whisper.available_models() and not Path(model).is_file():
        raise InputError(model, f"not a whisper model name {whisper.available_models()} nor an existing checkpoint")
    return whisper.load_model(model)


def is_non_speech(segment: dict[str, Any], no_speech_threshold: float, logprob_threshold: float) -> bool:
    """Whisper's own silence rule: likely no speech and the decoded text is not confident."""
    return segment["no_speech_prob"] > no_speech_threshold and not segment["avg_logprob"] > logprob_threshold


def transcribe(
    model: Whisper,
    wav_path: str | Path,
    language: str,
    no_speech_threshold: float,
    logprob_threshold: float,
    sample_len: int | None = None,
) -> list[dict[str, Any]]:
    """Transcribe a 16 kHz WAV into ``[{start, end, text, no_speech_prob, avg_logprob}]``.

    Decoding is greedy at temperature 0 with no conditioning on the previous window: one
    decode per 30-s window, deterministic, and bounded even for random weights (whisper's
    temperature fallback would otherwise re-decode every window up to six times).
    ``sample_len`` caps tokens per window (None: whisper's n_text_ctx // 2).
    """
    audio = read_wav(wav_path, whisper.audio.SAMPLE_RATE)
    if audio.size == 0:
        return []
    result = whisper.transcribe(
        model,
        audio,
        language=language,
        temperature=0.0,
        condition_on_previous_text=False,
        no_speech_threshold=no_speech_threshold,
        logprob_threshold=logprob_threshold,
        sample_len=sample_len,
        fp16=False,
        verbose=None,
    )
    segments = [
        {
            "start": round(float(s["start"]), 3),
            "end": round(float(s["end"]), 3),
            "text": clean_text(s["text"]),
            "no_speech_prob": float(s["no_speech_prob"]),
            "avg_logprob": float(s["avg_logprob"]),
        }
        for s in result["segments"]
    ]
    return [s for s in segments if not is_non_speech(s, no_speech_threshold, logprob_threshold)]


def clean_text(text: str) -> str:
    """Collapse whitespace and drop undecodable byte fragments (U+FFFD) from decoded text."""
    return " ".join(text.replace("\ufffd", " ").split())


def transcribe_dir(model: Whisper, audio_dir: str | Path, p: AsrParams, report: BadInputReport) -> dict[str, list[dict[str, Any]]]:
    """Segments of every ``<video_id>.wav`` in ``audio_dir``, by video id (bad files: ``report``)."""
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise InputError(audio_dir, "audio folder not found (run extract_frames first)")
    transcripts = {}
    for wav in tqdm(sorted(audio_dir.glob("*.wav")), desc="transcribe", unit="video"):
        try:
            transcripts[wav.stem] = transcribe(model, wav, p.language, p.no_speech_threshold, p.logprob_threshold, p.sample_len)
        except InputError as e:
            report.handle(e, wav.stem)
    return transcripts
