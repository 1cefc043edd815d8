"""Audio cues: loudness, onsets and speech per second, from synthesized WAVs."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from deevisum.config import CuesParams
from deevisum.data import audio_cues as audio_cues_module
from deevisum.data.audio_cues import (
    audio_cues,
    corpus_cues,
    cue_words,
    onset_strength,
    speech_seconds,
)
from deevisum.data.frames_store import StoredVideo
from deevisum.data.wav import read_wav
from deevisum.io import BadInputReport, InputError

SR = 16000
P = CuesParams(loud_db=6.0, quiet_db=-10.0, onset_threshold=5.0)


def noise(seconds: float, level: float, seed: int = 0) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def test_loud_burst_in_quiet_audio_is_loud_and_sudden_at_its_second() -> None:
    audio = noise(10, 0.01)
    audio[int(6.2 * SR) : int(6.7 * SR)] += noise(0.5, 0.5, seed=1)
    cues = audio_cues(audio, SR, [], 10, P)
    assert [c["second"] for c in cues] == list(range(10))
    assert [c["second"] for c in cues if c["onset"]] == [6]
    assert [c["second"] for c in cues if "loud" in c["text"].split(", ")] == [6]
    assert cues[6]["text"] == "loud, sudden sound"
    assert cues[6]["loudness_db"] > 20
    assert all(c["text"] == "none" for c in cues if c["second"] != 6)


def test_steady_tone_has_no_onsets_and_a_quiet_stretch_is_quiet() -> None:
    t = np.arange(8 * SR) / SR
    audio = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audio[5 * SR : 6 * SR] *= 0.01  # -40 dB for one second
    cues = audio_cues(audio, SR, [], 8, P)
    assert [c["second"] for c in cues if "quiet" in c["text"]] == [5]
    assert cues[5]["loudness_db"] == pytest.approx(-40, abs=0.5)
    # the abrupt cut (its click) and the tone's return are sudden; the steady tone never is
    assert [c["second"] for c in cues if c["onset"]] == [5, 6]
    steady = audio_cues(audio[: 5 * SR], SR, [], 5, P)
    assert not any(c["onset"] for c in steady)


def test_speech_flag_from_asr_segments() -> None:
    segments = [{"start": 2.2, "end": 3.5, "text": "a b"}, {"start": 7.0, "end": 7.0, "text": ""}]
    assert np.flatnonzero(speech_seconds(segments, 10)).tolist() == [2, 3]
    cues = audio_cues(noise(10, 0.05), SR, segments, 10, P)
    assert [c["second"] for c in cues if c["speech"]] == [2, 3]
    assert cues[2]["text"].endswith("speech")


def test_speech_flag_follows_the_words_not_a_merged_segment() -> None:
    """A segment that VAD merged over two utterances 40 s apart marks only the seconds with words."""
    merged = {"start": 1.0, "end": 45.0, "text": "hello there",
              "words": [{"start": 1.2, "end": 1.6, "word": "hello"}, {"start": 43.1, "end": 44.5, "word": "there"}]}
    assert np.flatnonzero(speech_seconds([merged], 50)).tolist() == [1, 43, 44]


@pytest.mark.parametrize("n_seconds", [3, 5, 7])
def test_one_entry_per_frames_second_whatever_the_audio_length(n_seconds: int) -> None:
    cues = audio_cues(noise(4.5, 0.1), SR, [], n_seconds, P)
    assert len(cues) == n_seconds
    # seconds past the end of the audio are silent, i.e. far below the median
    assert all("quiet" in c["text"] for c in cues[5:])


@pytest.mark.parametrize("seconds", [0.01, 0.05, 2.5, 7.3])
def test_chunked_onsets_equal_one_stft_of_the_whole_signal(seconds: float, monkeypatch: pytest.MonkeyPatch) -> None:
    audio = noise(seconds, 0.05)
    audio[len(audio) // 2 :] *= 8  # a sudden loud second half
    monkeypatch.setattr(audio_cues_module, "CHUNK_SECONDS", 10**6)
    whole_flux, whole_seconds = onset_strength(audio, SR)
    whole_cues = audio_cues(audio, SR, [], 8, P)
    monkeypatch.setattr(audio_cues_module, "CHUNK_SECONDS", 1)
    flux, seconds = onset_strength(audio, SR)
    np.testing.assert_array_equal(flux, whole_flux)
    np.testing.assert_array_equal(seconds, whole_seconds)
    assert audio_cues(audio, SR, [], 8, P) == whole_cues


def test_memory_mapped_pcm_gives_the_cues_of_read_wav(tmp_path: Path) -> None:
    """summarize reads an hour's WAV memory-mapped as 16-bit PCM, the pipeline as floats: same cues."""
    audio = noise(6, 0.05)
    audio[int(3.2 * SR) : int(3.6 * SR)] += noise(0.4, 0.6, seed=2)
    scipy.io.wavfile.write(tmp_path / "a.wav", SR, (np.clip(audio, -1, 1) * 32767).astype(np.int16))
    rate, pcm = scipy.io.wavfile.read(tmp_path / "a.wav", mmap=True)
    assert rate == SR and pcm.dtype == np.int16
    cues = audio_cues(pcm, SR, [], 6, P)
    assert cues == audio_cues(read_wav(tmp_path / "a.wav", SR), SR, [], 6, P)
    assert [c["second"] for c in cues if c["onset"]] == [3]


def test_cue_words() -> None:
    assert cue_words(0.0, False, False, P) == "none"
    assert cue_words(7.0, True, True, P) == "loud, sudden sound, speech"
    assert cue_words(-12.0, True, False, P) == "quiet, speech"


def test_read_wav(tmp_path: Path) -> None:
    stereo = np.stack([np.full(100, 16384), np.zeros(100)], axis=1).astype(np.int16)
    scipy.io.wavfile.write(tmp_path / "s.wav", SR, stereo)
    audio = read_wav(tmp_path / "s.wav", SR)
    assert audio.dtype == np.float32 and audio.shape == (100,)
    assert audio[0] == pytest.approx(0.25)
    with pytest.raises(InputError, match="expected 8000 Hz"):
        read_wav(tmp_path / "s.wav", 8000)
    with pytest.raises(InputError, match="not found"):
        read_wav(tmp_path / "missing.wav", SR)
    (tmp_path / "bad.wav").write_bytes(b"not a wav at all")
    with pytest.raises(InputError, match="unreadable WAV"):
        read_wav(tmp_path / "bad.wav", SR)


def test_corpus_cues_one_entry_per_stored_second_and_bad_videos_reported(tmp_path: Path) -> None:
    # 'a' has 100 frames at 30000/1001 fps: ceil(100 * 1001 / 30000) = 4 seconds (from the store, not the WAV length)
    videos = {v: StoredVideo(v, Fraction(30000, 1001), 100, 4) for v in ("a", "b", "c")}
    scipy.io.wavfile.write(tmp_path / "a.wav", SR, (noise(3.5, 0.1) * 32767).astype(np.int16))
    scipy.io.wavfile.write(tmp_path / "c.wav", SR, (noise(3.5, 0.1) * 32767).astype(np.int16))
    transcripts = {"a": [{"start": 1.2, "end": 1.8, "text": "hi"}], "b": []}  # 'b' has no WAV, 'c' no transcript
    report = BadInputReport("skip")
    cues = corpus_cues(videos, tmp_path, transcripts, SR, P, report)
    assert list(cues) == ["a"] and [c["second"] for c in cues["a"]] == [0, 1, 2, 3]
    assert [c["speech"] for c in cues["a"]] == [False, True, False, False]
    skipped = {s["item"]: s for s in report.skipped}
    assert set(skipped) == {"b", "c"}
    assert skipped["b"]["path"] == str(tmp_path / "b.wav") and "not found" in skipped["b"]["problem"]
    assert "no transcript for c" in skipped["c"]["problem"]
    with pytest.raises(InputError, match="b.wav"):
        corpus_cues(videos, tmp_path, transcripts, SR, P, BadInputReport("stop"))
