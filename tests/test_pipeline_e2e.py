"""End-to-end smoke test: the whole DVC pipeline on a miniature config, from a fresh copy.

It runs the real stage scripts through ``dvc repro`` (demo corpus -> frames -> ASR -> cues ->
prompts; pretraining corpus -> tokenizer -> pretrained roles; teacher -> MSKD -> ablations -> exits -> evaluation) with tiny sizes, then checks what a
user relies on: metrics are written, a second ``dvc repro`` re-runs nothing, a rerun from scratch
reproduces every tracked file (byte for byte, except the measured wall times of early exit),
changing ``ee.threshold`` or ``ee.target_agreement`` re-runs only evaluation (no training), and a
code edit in the trainer retrains instead of resuming the old checkpoint. Two folds run, so the
per-run loops and the all-fold tables are exercised.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deevisum.early_exit.timing import ORACLE_AT_TARGET
from deevisum.headlines import MAX_HEADLINES, count_numbers

REPO = Path(__file__).resolve().parents[1]

# Overrides of params.yaml that shrink every stage; the keys must exist in the real schema
# (load_params rejects unknown keys, so a renamed param fails this test loudly).
MINI = {
    "demo": {"n_videos": 5, "min_seconds": 8, "max_seconds": 10, "width": 64, "height": 48,
             "min_shot_seconds": 2.0, "max_shot_seconds": 4.0},
    "prompts": {"n_folds": 5, "folds": [0, 1], "val_videos": 1},
    "tokenizer": {"vocab_size": 300},
    # every role pretrained (as its models.<role>.source, models/pretrained/<role>, expects) at a tiny size
    "pretrain": {"corpus": {"n_videos": 6, "min_seconds": 6, "max_seconds": 8}, "val_videos": 2,
                 "batch_size": 8, "warmup_steps": 1,
                 **{role: {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 128,
                           "vision_hidden_size": 64, "vision_layers": 1, "patch_size": 8, "epochs": 1}
                    for role in ("teacher", "mentor", "student")}},
    "train": {"epochs": 1, "batch_size": 8},
    # the corpus's first 3 videos train the heads beside the fold's rows, the other 3 calibrate them
    "ee": {"exit_layers": [1], "sweep": [0.0, 0.5, 1.01], "timing_repeats": 1, "calibration_videos": 3,
           "train": {"epochs": 2, "unlabelled_videos": 3}},
    "evaluate": {"n_bootstrap": 20, "n_permutations": 100, "random_trials": 1},
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
    ablation = json.loads((work / "reports" / "ablation.json").read_text())
    assert ablation["folds"] == [0, 1] and ablation["n_test_videos"] == 2
    assert set(ablation["table"]["student"]["per_fold"]) == {"fold0", "fold1"}
    assert {"mskd_vs_kd", "kd_vs_ce", "teacher_vs_student"} <= set(ablation["comparisons"])
    assert "baseline_oracle" in ablation["table"]
    ee = json.loads((work / "reports" / "eval.json").read_text())
    assert ee["runs"] == ["fold0-seed0", "fold1-seed0"] and ee["threshold_source"] == "calibrated"
    assert ee["calibration_set"] == "3 unannotated videos of the pretraining corpus" and all(c["n_videos"] == 3 for c in ee["calibration"].values())
    assert 0 <= ee["agreement_vs_full"] <= 1 and "speedup" in ee
    with (work / "plots" / "exit_hist.csv").open() as f:  # what the latency benchmark replays
        hist = list(csv.DictReader(f))
    for column, method in (("fraction", "early_exit"), (ORACLE_AT_TARGET, "oracle_at_target")):
        mean_layers = sum(int(r["layers"]) * float(r[column]) for r in hist)
        assert mean_layers == pytest.approx(next(b["mean_layers"] for b in ee["baselines"] if b["method"] == method))
    shown = json.loads(_run(["dvc", "metrics", "show", "--json"], work, env).stdout)
    assert count_numbers(shown) <= MAX_HEADLINES, f"dvc metrics show: {count_numbers(shown)} numbers"

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
    left = sorted(p.relative_to(work).as_posix() for p in (work / "models").rglob("*") if p.is_file())
    assert left == ["models/.gitignore", "models/pretrained/.gitignore"]  # no model left to reuse
    _run(["dvc", "repro"], work, env)
    changed = set(_run(["git", "diff", "--name-only"], work, env).stdout.split())
    assert changed <= {"metrics/eval.json", "reports/eval.json", "plots/ee_sweep.csv"}, f"a rerun from scratch changed {sorted(changed)}"
    assert not _run(["git", "status", "--porcelain", "--untracked-files=all"], work, env).stdout.count("??")
    for name in changed:  # only measured wall times may differ
        before = _run(["git", "show", f"HEAD:{name}"], work, env).stdout
        assert _without_wall_times(before, name) == _without_wall_times((work / name).read_text(), name), name


def _without_wall_times(text: str, name: str) -> object:
    """A report's content with the measured wall-time fields (``WALL_TIME_FIELDS``) left out."""
    from deevisum.early_exit.timing import WALL_TIME_FIELDS

    def strip(x: object) -> object:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in WALL_TIME_FIELDS}
        return [strip(v) for v in x] if isinstance(x, list) else x

    if name.endswith(".json"):
        return strip(json.loads(text))
    rows = [line.split(",") for line in text.splitlines()]
    keep = [i for i, col in enumerate(rows[0]) if col not in WALL_TIME_FIELDS]
    return [[row[i] for i in keep] for row in rows]


@pytest.mark.slow
@pytest.mark.parametrize("change", ["ee.threshold=0.7", "ee.target_agreement=0.99"])
def test_early_exit_params_rerun_only_evaluation(mini_repo: tuple[Path, dict], change: str) -> None:
    work, env = mini_repo
    exp = _run(["dvc", "exp", "run", "-S", change], work, env)
    ran = _ran_stages(exp.stdout)
    assert ran == {"evaluate"}, f"{change} re-ran {sorted(ran)}"
    _run(["dvc", "metrics", "diff", "--json"], work, env)  # the headline may not move on the mini config
    key, value = change.split("=")
    assert json.loads((work / "reports" / "eval.json").read_text())[key.split(".")[1]] == float(value)
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
