"""ASR: the random whisper checkpoint loads through whisper's own loader and transcribes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import torch
import whisper

from deevisum.config import AsrParams, WhisperBuildParams
from deevisum.data import asr
from deevisum.data.asr import build_random_checkpoint, is_non_speech, load_asr, transcribe, transcribe_dir
from deevisum.io import BadInputReport, InputError

TINY = WhisperBuildParams(seed=0, n_state=32, n_head=2, n_layer=1)
SEGMENT_KEYS = {"start", "end", "text", "no_speech_prob", "avg_logprob"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_checkpoint(tmp_path_factory.mktemp("asr") / "whisper-random.pt", TINY)


def write_wav(path: Path, audio: np.ndarray, sr: int = 16000) -> Path:
    scipy.io.wavfile.write(path, sr, (np.clip(audio, -1, 1) * 32767).astype(np.int16))
    return path


def test_checkpoint_is_whisper_format_and_safe_to_load(checkpoint: Path) -> None:
    ckpt = torch.load(checkpoint, weights_only=True)  # no pickled code in it
    assert set(ckpt) == {"dims", "model_state_dict"}
    dims = ckpt["dims"]
    assert (dims["n_mels"], dims["n_audio_ctx"], dims["n_vocab"]) == (80, 1500, 51865)
    assert (dims["n_text_state"], dims["n_text_layer"], dims["n_audio_head"]) == (32, 1, 2)


def test_checkpoint_is_deterministic_per_seed(checkpoint: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    same = build_random_checkpoint(tmp_path / "a" / checkpoint.name, TINY)
    assert same.read_bytes() == checkpoint.read_bytes()
    other = build_random_checkpoint(tmp_path / "other.pt", WhisperBuildParams(seed=1, n_state=32, n_head=2, n_layer=1))
    a = torch.load(checkpoint, weights_only=True)["model_state_dict"]
    b = torch.load(other, weights_only=True)["model_state_dict"]
    assert not torch.equal(a["decoder.token_embedding.weight"], b["decoder.token_embedding.weight"])


def test_loads_through_whisper_load_model(checkpoint: Path) -> None:
    model = load_asr(str(checkpoint))
    assert isinstance(model, whisper.model.Whisper)
    assert model.dims.n_text_state == TINY.n_state and model.is_multilingual
    reference = whisper.load_model(str(checkpoint), device="cpu")
    for (name, p), (_, q) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(p.cpu(), q), name


def test_load_asr_rejects_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nor an existing checkpoint"):
        load_asr(str(tmp_path / "missing.pt"))


def test_transcribes_wav_into_segment_format(checkpoint: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    wav = write_wav(tmp_path / "a.wav", 0.1 * rng.standard_normal(16000 * 3))
    # no_speech_threshold 1.0: no probability exceeds it, so nothing is dropped and the format is exercised.
    segments = transcribe(load_asr(str(checkpoint)), wav, "en", 1.0, -1.0, sample_len=16)
    assert segments
    for s in segments:
        assert set(s) == SEGMENT_KEYS
        assert 0.0 <= s["start"] <= s["end"]
        assert isinstance(s["text"], str) and "\ufffd" not in s["text"]
        assert 0.0 <= s["no_speech_prob"] <= 1.0 and s["avg_logprob"] <= 0.0
    again = transcribe(load_asr(str(checkpoint)), wav, "en", 1.0, -1.0, sample_len=16)
    assert again == segments


def test_transcribe_rejects_bad_wav(checkpoint: Path, tmp_path: Path) -> None:
    model = load_asr(str(checkpoint))
    with pytest.raises(InputError, match="not found"):
        transcribe(model, tmp_path / "none.wav", "en", 0.6, -1.0)
    wav = write_wav(tmp_path / "8k.wav", np.zeros(8000), sr=8000)
    with pytest.raises(InputError, match="8000 Hz"):
        transcribe(model, wav, "en", 0.6, -1.0)


@pytest.mark.parametrize(
    ("no_speech_prob", "avg_logprob", "dropped"),
    [
        (0.9, -2.0, True),  # likely silence and unconfident text
        (0.9, -0.5, False),  # confident text overrides the no-speech probability (whisper's rule)
        (0.2, -2.0, False),  # unconfident but probably speech
        (0.6, -2.0, False),  # no-speech probability must exceed the threshold
        (0.9, -1.0, True),  # logprob must be strictly above the threshold to keep it
    ],
)
def test_non_speech_rule(no_speech_prob: float, avg_logprob: float, dropped: bool) -> None:
    seg = {"start": 0.0, "end": 1.0, "text": "x", "no_speech_prob": no_speech_prob, "avg_logprob": avg_logprob}
    assert is_non_speech(seg, 0.6, -1.0) is dropped


def test_transcribe_drops_non_speech_segments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", np.zeros(16000))
    raw = [
        {"start": 0.0, "end": 1.0, "text": " hello  world", "no_speech_prob": 0.1, "avg_logprob": -0.3},
        {"start": 1.0, "end": 2.0, "text": " hmm", "no_speech_prob": 0.95, "avg_logprob": -1.5},
    ]
    seen = {}

    def fake_transcribe(model: object, audio: np.ndarray, **options: object) -> dict:
        seen.update(options, n_samples=audio.shape[0])
        return {"segments": [{**s, "tokens": [], "seek": 0} for s in raw]}

    monkeypatch.setattr(asr.whisper, "transcribe", fake_transcribe)
    segments = transcribe(None, wav, "en", 0.6, -1.0, sample_len=8)
    assert segments == [{**raw[0], "text": "hello world"}]
    assert seen["temperature"] == 0.0 and seen["condition_on_previous_text"] is False
    assert seen["sample_len"] == 8 and seen["language"] == "en" and seen["n_samples"] == 16000


def test_transcribe_dir_by_video_id_and_bad_wavs_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    write_wav(audio / "v1.wav", np.zeros(16000))
    write_wav(audio / "v2.wav", np.zeros(8000), sr=8000)  # wrong rate: skipped, named
    (audio / "notes.txt").write_text("not audio")  # only *.wav files are transcribed
    seg = {"start": 0.0, "end": 1.0, "text": " hi", "no_speech_prob": 0.1, "avg_logprob": -0.3}
    seen = {}

    def fake_transcribe(model: object, audio: np.ndarray, **options: object) -> dict:
        seen.update(options)
        return {"segments": [seg]}

    monkeypatch.setattr(asr.whisper, "transcribe", fake_transcribe)
    p = AsrParams(language="de", sample_len=8)
    report = BadInputReport("skip")
    assert transcribe_dir(None, audio, p, report) == {"v1": [{**seg, "text": "hi"}]}
    assert seen["language"] == "de" and seen["sample_len"] == 8
    assert [(s["item"], s["path"]) for s in report.skipped] == [("v2", str(audio / "v2.wav"))]
    with pytest.raises(InputError, match="8000 Hz"):
        transcribe_dir(None, audio, p, BadInputReport("stop"))
    with pytest.raises(InputError, match="run extract_frames"):
        transcribe_dir(None, tmp_path / "missing", p, report)
