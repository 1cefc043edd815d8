"""End-to-end smoke test: the whole DVC pipeline on a miniature config, from a fresh copy.

It runs the real stage scripts through ``dvc repro`` (demo corpus -> frames -> ASR -> cues ->
prompts -> teacher -> MSKD -> ablations -> exits -> evaluation) with tiny sizes, then checks what a
user relies on: metrics are written, a second ``dvc repro`` re-runs nothing, a rerun from scratch
reproduces every tracked file byte for byte (so ``git status`` stays clean), changing
``ee.threshold`` re-runs only the stages that read it (no training), and a code edit in the
trainer retrains instead of resuming the old checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Overrides of params.yaml that shrink every stage; the keys must exist in the real schema
# (load_params rejects unknown keys, so a renamed param fails this test loudly).
MINI = {
    "demo": {"n_videos": 5, "min_seconds": 8, "max_seconds": 10, "width": 64, "height": 48,
             "min_shot_seconds": 2.0, "max_shot_seconds": 4.0},
    "prompts": {"n_folds": 5, "val_videos": 1},
    "tokenizer": {"vocab_size": 300},
    "models": {role: {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 128,
                      "vision_layers": 1} for role in ("teacher", "mentor", "student")},
    "train": {"epochs": 1, "batch_size": 8},
    "ee": {"exit_layers": [1], "sweep": [-1.0, 0.5, 1.01], "timing_repeats": 1, "train": {"epochs": 2}},
    "evaluate": {"n_bootstrap": 20, "random_trials": 1},
}


def _merge(base: dict, over: dict) -> dict:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


@pytest.fixture(scope="module")
def mini_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A fresh git+DVC copy of the project (tracked and unignored files only) with MINI params."""
    work = tmp_path_factory.mktemp("e2e") / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("data/", "models/", "checkpoints/")):
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / rel)
    (work / "dvc.lock").unlink(missing_ok=True)
    params = _merge(yaml.safe_load((work / "params.yaml").read_text()), MINI)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # PYTHONPATH: the stages import this copy's deevisum, not the one installed (editable) in the venv
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONHASHSEED": "0", "PYTHONPATH": str(work),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "mini"]):
        _run(cmd, work, env)
    return work, env


@pytest.mark.slow
def test_pipeline_runs_and_is_reproducible(mini_repo: tuple[Path, dict]) -> None:
    work, env = mini_repo
    first = _run(["dvc", "repro"], work, env)
    stages = set(yaml.safe_load((work / "dvc.yaml").read_text())["stages"])
    assert {s.split("@")[0] for s in _ran_stages(first.stdout)} == stages  # foreach runs as name@item
    for name in ("ablation", "eval"):
        report = json.loads((work / "metrics" / f"{name}.json").read_text())
        assert report, f"metrics/{name}.json is empty"

    again = _run(["dvc", "repro"], work, env)
    assert not _ran_stages(again.stdout), f"second repro re-ran stages:\n{again.stdout}"
    assert json.loads(_run(["dvc", "status", "--json"], work, env).stdout or "{}") == {}


@pytest.mark.slow
def test_rerun_from_scratch_leaves_git_clean(mini_repo: tuple[Path, dict]) -> None:
    work, env = mini_repo
    _run(["git", "add", "-A"], work, env)
    _run(["git", "commit", "-qm", "after repro"], work, env)
    # what a fresh clone lacks: every git-ignored file (DVC-cached outputs, the DVC cache and run
    # cache, checkpoints, untracked reports); committed metrics, curves and .gitignore files stay
    _run(["git", "clean", "-fdqX"], work, env)
    assert [p.name for p in (work / "models").iterdir()] == [".gitignore"]  # no model left to reuse
    _run(["dvc", "repro"], work, env)
    status = _run(["git", "status", "--porcelain"], work, env).stdout
    assert not status, f"a rerun from scratch changed tracked files:\n{status}"


@pytest.mark.slow
def test_threshold_change_reruns_only_evaluation(mini_repo: tuple[Path, dict]) -> None:
    work, env = mini_repo
    exp = _run(["dvc", "exp", "run", "-S", "ee.threshold=0.7"], work, env)
    ran = _ran_stages(exp.stdout)
    assert ran and ran <= {"evaluate", "results"}, f"threshold change re-ran {sorted(ran)}"
    diff = _run(["dvc", "metrics", "diff", "--json"], work, env).stdout
    assert "metrics/eval.json" in diff
    _run(["git", "checkout", "--", "."], work, env)


@pytest.mark.slow
def test_code_edit_in_the_trainer_retrains(mini_repo: tuple[Path, dict]) -> None:
    work, env = mini_repo
    trainer = work / "deevisum" / "distill" / "trainer.py"
    trainer.write_text(trainer.read_text() + "\n# an edit\n")
    status = _run(["dvc", "status", "finetune_teacher"], work, env).stdout
    assert "deevisum/distill" in status, status
    run = _run(["dvc", "repro", "-s", "finetune_teacher"], work, env)
    assert _ran_stages(run.stdout) == {"finetune_teacher"}
    assert "resuming" not in run.stdout + run.stderr, "the trainer resumed a checkpoint made by other code"
