"""Pipeline outputs survive a DVC remote round trip: push, fresh clone, pull, nothing to re-run.

This is what ``dvc pull`` promises a teammate who clones the repository: the processed data
and the models come from the remote, and ``dvc status`` agrees they are exactly what the
committed ``dvc.lock`` describes, so ``dvc repro`` would not retrain anything. The test uses
a miniature two-stage pipeline (data -> model, with a params dependency and a directory out,
like the real ``extract_frames`` -> training stages) and a local-directory remote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DVC = Path(sys.executable).parent / "dvc"

PIPELINE = """\
stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py]
    params: [prepare.n]
    outs: [data/processed]
  train:
    cmd: python train.py
    deps: [train.py, data/processed]
    outs: [models/student]
"""

PREPARE = """\
import pathlib, yaml
n = yaml.safe_load(open("params.yaml"))["prepare"]["n"]
out = pathlib.Path("data/processed"); out.mkdir(parents=True, exist_ok=True)
(out / "examples.jsonl").write_text("".join(f'{{"second": {i}}}\\n' for i in range(n)))
"""

TRAIN = """\
import pathlib
rows = pathlib.Path("data/processed/examples.jsonl").read_text().splitlines()
out = pathlib.Path("models/student"); out.mkdir(parents=True, exist_ok=True)
(out / "model.safetensors").write_bytes(bytes(range(len(rows))))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_TERMINAL_PROMPT="0")
    env["PATH"] = f"{DVC.parent}{os.pathsep}{env.get('PATH', '')}"  # stages run `python` from the venv
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):  # never touch the project's repository
        env.pop(key, None)
    return env


def _run(cwd: Path, *cmd: str | Path) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed in {cwd}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _git_repo(path: Path) -> None:
    _run(path, "git", "init", "-q")
    _run(path, "git", "config", "user.email", "test@localhost")
    _run(path, "git", "config", "user.name", "test")


@pytest.mark.skipif(not DVC.is_file(), reason=f"dvc not installed next to {sys.executable}")
@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_push_clone_pull_leaves_nothing_to_rerun(tmp_path: Path) -> None:
    origin, remote, clone = tmp_path / "origin", tmp_path / "remote", tmp_path / "clone"
    origin.mkdir()
    _git_repo(origin)
    _run(origin, DVC, "init", "-q")
    (origin / "dvc.yaml").write_text(PIPELINE)
    (origin / "params.yaml").write_text("prepare:\n  n: 5\n")
    (origin / "prepare.py").write_text(PREPARE)
    (origin / "train.py").write_text(TRAIN)
    _run(origin, DVC, "repro", "-q")
    _run(origin, DVC, "remote", "add", "-d", "storage", remote)
    _run(origin, "git", "add", "-A")
    _run(origin, "git", "commit", "-q", "-m", "pipeline")
    _run(origin, DVC, "push", "-q")
    assert any(p.is_file() for p in remote.rglob("*")), "dvc push put nothing in the remote"

    _run(tmp_path, "git", "clone", "-q", origin, clone)
    assert not (clone / "models" / "student").exists()  # outputs are not in git
    _run(clone, DVC, "pull", "-q")

    for rel in ("data/processed/examples.jsonl", "models/student/model.safetensors"):
        assert (clone / rel).read_bytes() == (origin / rel).read_bytes(), rel
    assert json.loads(_run(clone, DVC, "status", "--json")) == {}
    model = clone / "models" / "student" / "model.safetensors"
    before = model.stat().st_mtime_ns
    out = _run(clone, DVC, "repro")  # nothing to reproduce: no stage runs, no output is rewritten
    assert "Running stage" not in out, out
    assert model.stat().st_mtime_ns == before


@pytest.mark.skipif(not DVC.is_file(), reason=f"dvc not installed next to {sys.executable}")
def test_pull_without_remote_fails_clearly(tmp_path: Path) -> None:
    """A clone with no remote configured must say so, not silently leave outputs missing."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git_repo(repo)
    _run(repo, DVC, "init", "-q")
    (repo / "data.txt").write_text("x")
    _run(repo, DVC, "add", "-q", "data.txt")
    (repo / "data.txt").unlink()
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
    done = subprocess.run([str(DVC), "pull"], cwd=repo, env=_env(), capture_output=True, text=True)
    assert done.returncode != 0
    assert "remote" in (done.stdout + done.stderr).lower()


def _declared_outputs(dvc_yaml: dict) -> list[tuple[str, str, dict]]:
    """(stage, path, flags) of every out / metric / plot file the stages declare."""
    found = []
    for name, stage in dvc_yaml.get("stages", {}).items():
        stage = stage.get("do", stage)  # foreach stages
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                for path, flags in (entry.items() if isinstance(entry, dict) else [(entry, {})]):
                    found.append((name, path, flags or {}))
    return found


def test_project_outputs_come_back_with_a_clone_and_pull() -> None:
    """Every output of the project's pipeline reaches a fresh clone: cached ones via ``dvc pull``,
    ``cache: false`` ones through git. A ``cache: false`` folder (e.g. training checkpoints) is
    neither pushed nor sensibly committed, so in a clone ``dvc status`` reports the stage
    changed and ``dvc repro`` retrains; resumable scratch state must not be a declared output."""
    import yaml

    repo = Path(__file__).resolve().parents[1]
    outputs = _declared_outputs(yaml.safe_load((repo / "dvc.yaml").read_text()))
    assert outputs
    bad = [f"{stage}: {path}" for stage, path, flags in outputs
           if flags.get("cache") is False and (not Path(path).suffix or path.endswith("/"))]
    assert not bad, f"cache: false folders cannot come back with a clone + dvc pull: {bad}"
    ignored = subprocess.run(["git", "check-ignore", *[p for _, p, f in outputs if f.get("cache") is False]],
                             cwd=repo, env=_env(), capture_output=True, text=True).stdout.split()
    assert not ignored, f"cache: false outputs must be committed to git, but git ignores {ignored}"
