"""A valid video without an audio track goes through every dataset stage: no speech, "no audio" cues."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from deevisum.config import AsrParams, CuesParams, PromptsParams
from deevisum.data.asr import load_asr, transcribe_dir
from deevisum.data.audio_cues import NO_AUDIO, corpus_cues
from deevisum.data.benchmarks import read_tvsum
from deevisum.data.examples import corpus_examples
from deevisum.data.extraction import extract_benchmark
from deevisum.data.frames_store import read_index
from deevisum.io import BadInputReport


def test_silent_video_is_processed_not_dropped(mini_corpus: Path, tmp_path: Path) -> None:
    root = tmp_path / "demo"
    shutil.copytree(mini_corpus, root)
    for mp4 in (root / "video").glob("*.mp4"):  # strip every audio track
        silent = mp4.with_name("silent.mp4")
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(mp4), "-an", "-c", "copy", str(silent)], check=True)
        silent.replace(mp4)
    bench = read_tvsum(root)
    report = BadInputReport("stop")  # nothing may be skipped
    extract_benchmark(bench, tmp_path / "frames.h5", tmp_path / "audio", 8, 16000, report)
    index = read_index(tmp_path / "frames.h5")
    assert sorted(index) == sorted(bench.videos)
    transcripts = transcribe_dir(load_asr(AsrParams()), tmp_path / "audio", report)
    assert transcripts == {vid: [] for vid in bench.videos}
    cues = corpus_cues(index, tmp_path / "audio", transcripts, 16000, CuesParams(), report)
    assert all(c["text"] == NO_AUDIO for video in cues.values() for c in video)
    examples = corpus_examples(bench, index, transcripts, cues, PromptsParams(), report)
    assert {e["video_id"] for e in examples} == set(bench.videos)
    assert all(e["speech"] == "none" and e["audio"] == NO_AUDIO and "audio: no audio." in e["prompt"] for e in examples)
    assert not report.skipped
