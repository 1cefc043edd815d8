"""The extract_frames stage on a copy of the mini demo corpus with bad inputs added, under both policies."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
import wave
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from deevisum.data.benchmarks import TVSUM_ANNO, TVSUM_INFO, read_tvsum
from deevisum.data.frames_store import read_index
from deevisum.io import read_json
from deevisum.timebase import n_units

STAGE = Path(__file__).resolve().parents[1] / "stages" / "extract_frames.py"
OUTPUTS = ["data/processed/frames.h5", "data/processed/audio", "data/processed/extract_frames_report.json"]
"""The stage's outputs, as dvc.yaml's cmd passes them (relative to the working directory)."""
S = 8
BAD = {  # video id -> what the stage must say about it
    "missingvid": "video file not found",
    "truncated": "not a readable video",
    "garbage": "not a readable video",
    "empty": "empty file",
    "wrongcount": "frames but the video has",
}


def _add_video(root: Path, vid: str, like: str, n_frames: int | None = None) -> None:
    """Annotation and info rows for ``vid``, copied from ``like`` (cut or padded to ``n_frames``)."""
    anno, info = root / "data" / TVSUM_ANNO, root / "data" / TVSUM_INFO
    rows = [ln.split("\t") for ln in anno.read_text().splitlines() if ln.startswith(like + "\t")]
    scores = [r[2].split(",") for r in rows]
    if n_frames is not None:
        scores = [(s * 2)[:n_frames] for s in scores]
    with anno.open("a") as f:
        f.writelines(f"{vid}\t{r[1]}\t{','.join(s)}\n" for r, s in zip(rows, scores))
    row = next(ln.split("\t") for ln in info.read_text().splitlines() if f"\t{like}\t" in ln)
    with info.open("a") as f:
        f.write("\t".join([row[0], vid, *row[2:]]) + "\n")


@pytest.fixture(scope="module")
def corpus(mini_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The mini corpus plus one video of every bad kind in BAD; returns (root, good ids)."""
    root = tmp_path_factory.mktemp("bad_corpus") / "demo"
    shutil.copytree(mini_corpus, root)
    good = list(read_tvsum(root).videos)
    src = root / "video" / f"{good[0]}.mp4"
    data = src.read_bytes()
    (root / "video" / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "video" / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))
    (root / "video" / "empty.mp4").write_bytes(b"")
    shutil.copy(src, root / "video" / "wrongcount.mp4")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(src), "-an", "-c", "copy",
                    str(root / "video" / "silent.mp4")], check=True)
    n_frames = read_tvsum(root).videos[good[0]].n_frames
    for vid in BAD:
        _add_video(root, vid, good[0], n_frames - 3 if vid == "wrongcount" else None)
    _add_video(root, "silent", good[0])
    return root, [*good, "silent"]


def run_stage(workdir: Path, dataset_dir: Path, on_error: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run stages/extract_frames.py as DVC would (dvc.yaml's cmd line), in ``workdir`` with its own params.yaml."""
    params = {"data": {"dataset": "tvsum", "dataset_dir": str(dataset_dir), "on_error": on_error},
              "frames": {"image_size": S, "sample_rate": 16000}}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    frames, audio, report = OUTPUTS
    monkeypatch.setattr(sys, "argv", [str(STAGE), "--dataset", str(dataset_dir), "--frames", frames, "--audio", audio,
                                      "--report", report])
    runpy.run_path(str(STAGE), run_name="__main__")


def test_skip_processes_good_and_reports_exactly_the_bad(corpus, tmp_path, monkeypatch, capsys):
    root, good = corpus
    monkeypatch.chdir(tmp_path)
    run_stage(tmp_path, root, "skip", monkeypatch)
    report = read_json("data/processed/extract_frames_report.json")
    assert report["on_error"] == "skip" and report["n_skipped"] == len(BAD)
    assert sorted(report["processed"]) == sorted(good)
    skipped = {s["item"]: s for s in report["skipped"]}
    assert set(skipped) == set(BAD)
    for vid, problem in BAD.items():
        assert problem in skipped[vid]["problem"]
        assert skipped[vid]["path"] == str(root / "video" / f"{vid}.mp4")
    out = capsys.readouterr().out
    assert "skipping truncated" in out
    assert f"extract_frames: {len(good)} videos" in out and f"{len(BAD)} skipped" in out

    bench = read_tvsum(root)
    index = read_index("data/processed/frames.h5")
    assert sorted(index) == sorted(good)
    with h5py.File("data/processed/frames.h5") as f:
        assert sorted(f) == sorted(good)
        for vid in good:
            ann, g, meta = bench.videos[vid], f[vid], index[vid]
            assert meta.rate == Fraction(15)  # the demo corpus's exact rate, stored as fps_num / fps_den
            assert (g.attrs["fps_num"], g.attrs["fps_den"]) == (15, 1)
            n_seconds = n_units(ann.n_frames, meta.rate)
            assert n_seconds == int(np.ceil(ann.n_frames / 15))
            assert g["frames"].dtype == np.uint8 and g["frames"].shape == (n_seconds, S, S, 3)
            assert g.attrs["n_frames"] == ann.n_frames == meta.n_frames
            assert g.attrs["n_seconds"] == n_seconds == meta.n_seconds
            assert "fps" not in g.attrs and "duration" not in g.attrs  # no float timebase next to the exact one
            assert g["frames"][:].std() > 0  # real pictures, not a blank buffer
    assert sorted(p.name for p in Path("data/processed/audio").iterdir()) == sorted(f"{v}.wav" for v in good)
    with wave.open(f"data/processed/audio/{good[0]}.wav") as w:
        assert (w.getnchannels(), w.getframerate()) == (1, 16000) and w.getnframes() > 0
    # a valid video without an audio track keeps its place: its WAV has no samples
    with wave.open("data/processed/audio/silent.wav") as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 16000, 0)

    # wall times are not outputs: the stage writes no metrics file
    assert not Path("metrics").exists()


def test_same_inputs_give_identical_outputs(corpus, tmp_path, monkeypatch):
    root, _ = corpus
    digests = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        run_stage(tmp_path / run, root, "skip", monkeypatch)
        digests.append([Path(p).read_bytes() for p in ["data/processed/frames.h5",
                        "data/processed/extract_frames_report.json", *sorted(Path("data/processed/audio").iterdir())]])
    assert digests[0] == digests[1]


@pytest.mark.parametrize("bad", sorted(BAD))
def test_stop_writes_nothing_and_names_the_file(bad, corpus, mini_corpus, tmp_path, monkeypatch):
    root, good = corpus
    one_bad = tmp_path / "one_bad"
    shutil.copytree(mini_corpus, one_bad)
    if (root / "video" / f"{bad}.mp4").exists():
        shutil.copy(root / "video" / f"{bad}.mp4", one_bad / "video")
    n_frames = read_tvsum(one_bad).videos[good[0]].n_frames
    _add_video(one_bad, bad, good[0], n_frames - 3 if bad == "wrongcount" else None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        run_stage(tmp_path, one_bad, "stop", monkeypatch)
    assert str(one_bad / "video" / f"{bad}.mp4") in str(e.value) and BAD[bad] in str(e.value)
    assert not any(Path(p).exists() for p in OUTPUTS)
    assert not list(Path("data/processed").glob(".*"))  # no temp leftovers either


@pytest.mark.parametrize("on_error", ["stop", "skip"])
def test_non_utf8_info_file_stops_either_way(on_error, mini_corpus, tmp_path, monkeypatch):
    root = tmp_path / "latin1"
    shutil.copytree(mini_corpus, root)
    info = root / "data" / TVSUM_INFO
    info.write_bytes(info.read_bytes().rstrip(b"\n") + b" caf\xe9\n")  # Latin-1 e-acute in the last title
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        run_stage(tmp_path, root, on_error, monkeypatch)
    assert str(info) in str(e.value) and "not valid UTF-8" in str(e.value)
    assert not any(Path(p).exists() for p in OUTPUTS)
