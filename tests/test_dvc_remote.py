"""Pipeline outputs survive a DVC remote round trip: push, fresh clone, pull, nothing to re-run.

This is what ``dvc pull`` promises a teammate who clones the repository: the processed data
and the models come from the remote, the training curves come with git, and ``dvc status``
agrees they are exactly what the committed ``dvc.lock`` describes, so ``dvc repro`` would not
retrain anything. The test uses a miniature two-stage pipeline shaped like the real one (data
-> model, with ``vars: paths`` templating, paths passed on the command line, a params
dependency, a directory out with a model per (fold, seed) run, and a folder of all runs' curves
declared as a ``cache: false`` output like the real training stages) and a local-directory remote.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DVC = Path(sys.executable).parent / "dvc"
REPO = Path(__file__).resolve().parents[1]

PIPELINE = """\
vars:
  - paths:
      processed: data/processed
      models: models
      curves: dvclive
stages:
  prepare:
    cmd: python prepare.py --out ${paths.processed}
    deps: [prepare.py]
    params: [prepare.n]
    outs: ["${paths.processed}"]
  train:
    cmd: python train.py --data ${paths.processed} --model ${paths.models}/student --curves ${paths.curves}/student
    deps: [train.py, "${paths.processed}"]
    outs: ["${paths.models}/student", "${paths.curves}/student": {cache: false}]
"""

PREPARE = """\
import pathlib, sys, yaml
n = yaml.safe_load(open("params.yaml"))["prepare"]["n"]
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1]); out.mkdir(parents=True, exist_ok=True)
(out / "examples.jsonl").write_text("".join(f'{{"second": {i}}}\\n' for i in range(n)))
"""

TRAIN = """\
import pathlib, sys
from deevisum.tracking import write_curves
arg = lambda name: pathlib.Path(sys.argv[sys.argv.index(name) + 1])
rows = (arg("--data") / "examples.jsonl").read_text().splitlines()
runs = ("fold0-seed0", "fold1-seed0")
for k, run in enumerate(runs):
    (arg("--model") / run).mkdir(parents=True, exist_ok=True)
    (arg("--model") / run / "model.safetensors").write_bytes(bytes(range(k, len(rows))))
write_curves({run: [{"epoch": e, "train_loss": 1 / e, "val_ce": 2 / e} for e in (1, 2)] for run in runs}, arg("--curves"))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_TERMINAL_PROMPT="0")
    env["PATH"] = f"{DVC.parent}{os.pathsep}{env.get('PATH', '')}"  # stages run `python` from the venv
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))  # deevisum.tracking
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):  # never touch the project's repository
        env.pop(key, None)
    return env


def _run(cwd: Path, *cmd: str | Path) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, check=False)
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
    # dvclive (deevisum.tracking) fails in a git repository without commits: start from one, as any clone does
    _run(origin, "git", "commit", "-q", "-m", "dvc init")
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
    assert not (clone / "models" / "student").exists()  # cached outputs are not in git
    assert (clone / "dvclive" / "student" / "curves.tsv").is_file()  # cache: false curves are, committed with dvc.lock
    _run(clone, DVC, "pull", "-q")

    curves = sorted(p.relative_to(origin).as_posix() for p in (origin / "dvclive").rglob("*") if p.is_file())
    assert {"dvclive/student/metrics.json", "dvclive/student/curves.tsv", "dvclive/student/plots/metrics/fold1-seed0/val_ce.tsv"} <= set(curves)
    models = [f"models/student/{run}/model.safetensors" for run in ("fold0-seed0", "fold1-seed0")]
    for rel in ("data/processed/examples.jsonl", *models, *curves):
        assert (clone / rel).read_bytes() == (origin / rel).read_bytes(), rel
    assert json.loads(_run(clone, DVC, "status", "--json")) == {}
    model = clone / models[0]
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
    done = subprocess.run([str(DVC), "pull"], cwd=repo, env=_env(), capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "remote" in (done.stdout + done.stderr).lower()


def _declared_outputs(stages: dict[str, dict]) -> list[tuple[str, str, dict]]:
    """(stage, path, flags) of every out / metric / plot the (resolved) stages declare."""
    found = []
    for name, stage in stages.items():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                for path, flags in (entry.items() if isinstance(entry, dict) else [(entry, {})]):
                    found.append((name, posixpath.normpath(path), flags or {}))
    return found


def test_project_outputs_come_back_with_a_clone_and_pull() -> None:
    """Every output of the project's pipeline reaches a fresh clone: cached ones via ``dvc pull``,
    ``cache: false`` ones through git, so those must be committed (git must not ignore them) and
    fit in git: small text the stages write deterministically, i.e. metrics, reports, plot data and
    a role's folder of training curves (deevisum.tracking; the round trip above shows such a
    committed folder comes back clean), or a folder of metrics files. Any other ``cache: false`` folder (e.g. training
    checkpoints) is neither pushed nor sensibly committed, so in a clone ``dvc status`` would
    report the stage changed and ``dvc repro`` retrain; resumable scratch state (``paths.checkpoints``)
    must not be a declared output at all."""
    from test_stage_params import DVC_YAML, PARAMS, resolved_stages, template_context

    stages = resolved_stages(DVC_YAML, PARAMS)
    outputs = _declared_outputs(stages)
    assert outputs
    uncached = [(stage, path) for stage, path, flags in outputs if flags.get("cache") is False]
    assert uncached

    small = {posixpath.normpath(template_context(DVC_YAML, PARAMS)["paths"][k]) for k in ("curves", "metrics")}
    bad = [f"{stage}: {path}" for stage, path in uncached if not posixpath.splitext(path)[1] and posixpath.dirname(path) not in small]
    assert not bad, f"cache: false folders other than a role's curves or metrics cannot sensibly come back with a clone: {bad}"
    checkpoints = posixpath.normpath(template_context(DVC_YAML, PARAMS)["paths"]["checkpoints"])
    scratch = [f"{stage}: {path}" for stage, path, _ in outputs if path == checkpoints or path.startswith(checkpoints + "/")]
    assert not scratch, f"training checkpoints are resumable scratch state, not outputs: {scratch}"
    ignored = subprocess.run(["git", "check-ignore", *sorted({p for _, p in uncached})],
                             cwd=REPO, env=_env(), capture_output=True, text=True, check=False).stdout.split()
    assert not ignored, f"cache: false outputs must be committed to git, but git ignores {ignored}"
