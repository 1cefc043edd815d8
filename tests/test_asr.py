"""ASR: faster-whisper with the bundled tiny.en transcribes real speech offline, with timed words; the
openai-whisper engine loads a local checkpoint through whisper's own loader."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import whisper
from tiny_whisper import WhisperSize, build_random_checkpoint

from deevisum.config import AsrParams
from deevisum.data.asr import (
    bundled_model_path,
    is_non_speech,
    is_unreliable,
    load_asr,
    parallel_files,
    transcribe_dir,
)
from deevisum.data.demo.narration import speak
from deevisum.data.wav import write_wav
from deevisum.evaluation.wer import corpus_wer, edit_distance, normalise
from deevisum.io import BadInputReport, InputError, worker_count

SEGMENT_KEYS = {"start", "end", "text", "no_speech_prob", "avg_logprob", "compression_ratio", "words"}
SR = 16000


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 6-s WAV: quiet noise with one espeak-ng sentence from 2.0 s."""
    text = "this is important"
    audio = 0.005 * np.random.default_rng(0).normal(size=6 * SR)
    speech = speak(text, "en-us", 165, SR)
    audio[2 * SR: 2 * SR + len(speech)] += speech
    return write_wav_file(tmp_path_factory.mktemp("asr") / "spoken.wav", audio), text


def write_wav_file(path: Path, audio: np.ndarray) -> Path:
    write_wav(path, np.clip(audio, -1, 1), SR)
    return path


def test_bundled_model_transcribes_speech_with_word_timestamps(spoken: tuple[Path, str]) -> None:
    assert (bundled_model_path() / "model.bin").is_file()
    wav, text = spoken
    segments = load_asr(AsrParams())(wav)
    assert segments and all(set(s) == SEGMENT_KEYS for s in segments)
    heard = " ".join(s["text"] for s in segments)
    assert edit_distance(normalise(text), normalise(heard)) <= 1, heard
    words = [w for s in segments for w in s["words"]]
    assert words and all(w["start"] <= w["end"] for w in words)
    assert 1.5 <= words[0]["start"] <= 3.0 and words[-1]["end"] <= 4.5  # timed where it was spoken


def test_a_failed_word_alignment_keeps_the_speech(spoken: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """faster-whisper 1.2.1 raises IndexError when it aligns the words of an empty window (SYSTRAN/faster-whisper
    PR 1460; met on a generated pretraining video): the file is transcribed again without word times."""
    import faster_whisper

    original = faster_whisper.WhisperModel.transcribe

    def failing(self, audio, **kwargs):  # noqa: ANN001, ANN202 (the library's signature)
        if kwargs["word_timestamps"]:
            raise IndexError("boolean index did not match indexed array along axis 0")
        return original(self, audio, **kwargs)

    monkeypatch.setattr(faster_whisper.WhisperModel, "transcribe", failing)
    wav, text = spoken
    segments = load_asr(AsrParams())(wav)
    assert edit_distance(normalise(text), normalise(" ".join(s["text"] for s in segments))) <= 1
    assert all(s["words"] == [] and 1.0 <= s["start"] < s["end"] for s in segments)


def test_silence_and_no_audio_give_no_segments(tmp_path: Path) -> None:
    transcribe = load_asr(AsrParams())
    assert transcribe(write_wav_file(tmp_path / "quiet.wav", np.zeros(3 * SR))) == []
    assert transcribe(write_wav_file(tmp_path / "none.wav", np.zeros(0))) == []  # a video without audio track


def test_faster_whisper_rejects_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a CTranslate2 whisper model"):
        load_asr(AsrParams(model=str(tmp_path)))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_checkpoint(tmp_path_factory.mktemp("whisper") / "whisper-random.pt", WhisperSize())


def test_openai_checkpoint_is_whisper_format_and_safe_to_load(checkpoint: Path) -> None:
    ckpt = torch.load(checkpoint, weights_only=True)  # no pickled code in it
    assert set(ckpt) == {"dims", "model_state_dict"}
    assert (ckpt["dims"]["n_mels"], ckpt["dims"]["n_audio_ctx"], ckpt["dims"]["n_vocab"]) == (80, 1500, 51865)
    reference = whisper.load_model(str(checkpoint), device="cpu")
    assert reference.dims.n_text_state == WhisperSize().n_state


def test_openai_engine_transcribes_with_a_local_checkpoint(checkpoint: Path, spoken: tuple[Path, str]) -> None:
    p = AsrParams(engine="openai-whisper", model=str(checkpoint), sample_len=16, beam_size=1)
    segments = load_asr(p)(spoken[0])  # random weights: the text is noise, the format is what is checked
    assert all(set(s) == SEGMENT_KEYS for s in segments)
    assert all(not is_non_speech(s, p.no_speech_threshold, p.logprob_threshold) for s in segments)


def test_openai_engine_rejects_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nor an existing checkpoint"):
        load_asr(AsrParams(engine="openai-whisper", model=str(tmp_path / "missing.pt")))


def test_transcribe_dir_keys_by_video_and_reports_bad_files(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    write_wav_file(audio / "a.wav", np.zeros(SR))
    write_wav(audio / "b.wav", np.zeros(8000), 8000)  # the wrong rate
    calls = []

    def fake(wav: Path) -> list:
        calls.append(Path(wav).name)
        from deevisum.data.wav import read_wav

        read_wav(wav, SR)
        return [{"start": 0.0, "end": 1.0, "text": "hi"}]

    report = BadInputReport("skip")
    out = transcribe_dir(fake, audio, report)
    assert list(out) == ["a"] and calls == ["a.wav", "b.wav"]
    assert report.skipped[0]["item"] == "b" and "8000" in report.skipped[0]["problem"]
    with pytest.raises(InputError, match="8000"):
        transcribe_dir(fake, audio, BadInputReport("stop"))
    with pytest.raises(InputError, match="audio folder not found"):
        transcribe_dir(fake, tmp_path / "missing", BadInputReport("skip"))


def test_transcribe_dir_with_workers_gives_what_one_at_a_time_gives(tmp_path: Path) -> None:
    """Files transcribed side by side (finishing out of order) come back keyed in file order, bad ones reported
    in file order too."""
    import threading
    import time

    audio = tmp_path / "audio"
    audio.mkdir()
    for i, name in enumerate("abcdef"):
        if name in "bd":
            write_wav(audio / f"{name}.wav", np.zeros(8000), 8000)  # the wrong rate
        else:
            write_wav_file(audio / f"{name}.wav", np.full(SR // (i + 1), 0.01))
    threads = set()

    def fake(wav: Path) -> list:
        from deevisum.data.wav import read_wav

        threads.add(threading.get_ident())
        n = len(read_wav(wav, SR))
        time.sleep(0.3 * n / SR)  # the first files finish last
        return [{"start": 0.0, "end": n / SR, "text": Path(wav).stem}]

    reports = [BadInputReport("skip"), BadInputReport("skip")]
    serial = transcribe_dir(fake, audio, reports[0])
    threads.clear()
    parallel = transcribe_dir(fake, audio, reports[1], workers=3)
    assert len(threads) > 1
    assert list(parallel) == list(serial) == ["a", "c", "e", "f"] and parallel == serial
    assert [r["item"] for r in reports[1].skipped] == [r["item"] for r in reports[0].skipped] == ["b", "d"]
    with pytest.raises(InputError, match="8000"):
        transcribe_dir(fake, audio, BadInputReport("stop"), workers=3)


def test_bundled_model_transcribes_files_side_by_side(spoken: tuple[Path, str], tmp_path: Path) -> None:
    """One faster-whisper model serving two threads at once hears each file as it does alone."""
    assert parallel_files(AsrParams()) == worker_count() and parallel_files(AsrParams(engine="openai-whisper")) == 1
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("x", "y", "z"):
        (audio / f"{name}.wav").write_bytes(spoken[0].read_bytes())
    alone = load_asr(AsrParams())(spoken[0])
    together = transcribe_dir(load_asr(AsrParams(), workers=2), audio, BadInputReport("stop"), workers=2)
    assert together == {name: alone for name in ("x", "y", "z")}


def test_wer_counts_edits_over_reference_words() -> None:
    assert normalise("This is important.") == ["this", "is", "important"]
    assert edit_distance(["a", "b", "c"], ["a", "x", "c", "d"]) == 2  # one substitution, one insertion
    report = corpus_wer({"v1": "this is boring", "v2": "remember this moment"},
                        {"v1": "This is boring!", "v2": "remember the moment please"})
    assert report["wer"] == pytest.approx(2 / 6) and report["reference_words"] == 6
    assert report["videos"]["v1"]["wer"] == 0.0
    assert corpus_wer({"v": "a b"}, {})["wer"] == 1.0  # nothing heard: every word deleted


def test_asr_params_select_the_engine() -> None:
    assert AsrParams().engine == "faster-whisper" and AsrParams().model == "bundled"
    with pytest.raises(ValueError, match="asr.engine"):
        dataclasses.replace(AsrParams(), engine="whisperx")


def test_repetition_loops_are_dropped_and_speech_is_kept() -> None:
    """A confident segment of one phrase repeated (gzip ratio ~15) is a failed decoding; narration is not."""
    p = AsrParams()
    base = {"start": 0.0, "end": 2.0, "text": "", "no_speech_prob": 0.01, "avg_logprob": -0.16, "words": []}
    assert is_unreliable(base | {"compression_ratio": 15.0}, p)
    assert not is_unreliable(base | {"compression_ratio": 2.5}, p)
    assert is_unreliable(base | {"compression_ratio": 1.0, "no_speech_prob": 0.9, "avg_logprob": -2.0}, p)
