"""The ``deevisum`` command itself: --version, -q/-v, and checks answered before torch is imported."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import deevisum
from deevisum.app.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(Path(deevisum.__file__).resolve().parents[1])}
"""Environment of the subprocesses: the deevisum under test."""


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, env=ENV)


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"deevisum {metadata.version('deevisum')}\n"


@pytest.mark.parametrize(("argv", "level"), [
    (["summarize", "v.mp4"], logging.INFO),
    (["summarize", "-q", "v.mp4"], logging.WARNING),
    (["-q", "summarize", "v.mp4"], logging.WARNING),  # before the command too
    (["summarize", "v.mp4", "--verbose"], logging.DEBUG),
    (["-v", "evaluate", "s.json", "--root", "r"], logging.DEBUG),
])
def test_quiet_and_verbose_set_the_log_level(argv: list[str], level: int) -> None:
    assert build_parser().parse_args(argv).log_level == level


def test_quiet_and_verbose_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["summarize", "-q", "-v", "v.mp4"])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def _video(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=64x48:rate=10:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_a_missing_student_says_what_to_do_before_torch_is_imported(tmp_path: Path) -> None:
    """Outside the repository (no dvc.yaml here, the default model path relative to here): one line that
    says how to get the model, torch never imported, no output written."""
    _video(tmp_path / "clip.mp4")
    code = "import sys; from deevisum.app.cli import main; rc = main(['summarize', 'clip.mp4']); print(rc, 'torch' in sys.modules)"
    run = _run(code, tmp_path)
    assert run.stdout.split() == ["1", "False"]
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("deevisum summarize: error: models/student/fold0-seed0: ")
    repo = Path(deevisum.__file__).resolve().parents[1]  # the repository of this (editable) deevisum
    if (repo / "models" / "student" / "fold0-seed0").exists():  # trained there: run there, or point at it
        assert f"run from {repo} or pass --student {repo}/models/student/fold0-seed0" in run.stderr
    else:
        assert "`dvc repro`" in run.stderr and "--student" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    # a student that is there, exit heads that are not: the same, for the heads
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")
    code = code.replace("'clip.mp4'", f"'clip.mp4', '--student', '{student}', '--exits', 'heads'")
    run = _run(code, tmp_path)
    assert run.stdout.split() == ["1", "False"] and "heads: no exit heads here" in run.stderr
    assert "--no-early-exit" in run.stderr


def test_heads_without_calibration_are_refused_before_torch_is_imported(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"not read: the model folders are checked before the video is probed")
    for folder, files in (("student", ["config.json"]), ("exits", ["config.json", "model.safetensors"])):
        (tmp_path / folder).mkdir()
        for name in files:
            (tmp_path / folder / name).write_text("{}")
    code = ("import sys; from deevisum.app.cli import main; "
            "rc = main(['summarize', 'clip.mp4', '--student', 'student', '--exits', 'exits']); print(rc, 'torch' in sys.modules)")
    run = _run(code, tmp_path)
    assert run.stdout.split() == ["1", "False"]
    assert "exits/validation.safetensors: missing" in run.stderr and "--threshold" in run.stderr


def test_model_card_of_a_folder_without_metadata() -> None:
    """The card never fails on a model folder: what it cannot read, it leaves out."""
    from deevisum.app.summarize import model_card, unlike_training
    from deevisum.config import Params

    card = model_card(Path("/nonexistent/student"), Params(), None)
    assert card == {"model": "/nonexistent/student", "prompt_modalities": "not recorded (all)", "decoder": {}, "vision": {},
                    "training_data": None, "training_data_unknown": "no params file read"}
    assert unlike_training(card, 1280, 720, 30.0) is None
    json.dumps(card)  # it goes into the JSON report
