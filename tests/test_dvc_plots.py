"""``dvc plots show`` renders every plot the project's dvc.yaml defines.

Runs on a scratch DVC repository holding the project's own dvc.yaml and params.yaml, with
placeholder data files holding exactly the columns the plot definitions name, so a malformed
definition (dvc.yaml schema error, a plot whose x/y column is not declared) fails here rather
than after a full ``dvc repro``. The training curves are dvclive folders, one per role
(``<curves>/metrics.json`` + ``<curves>/plots/metrics/<run>/<name>.tsv`` for each (fold, seed) run,
declared as a stage's metrics and plots): they are written by the project's own
:func:`deevisum.tracking.write_curves`, so the plots over them are checked against the files it
really writes. The numbers are placeholders; the real files come from the stages.
"""

from __future__ import annotations

import ast
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_stage_params import interpolate, resolved_stages, template_context

REPO = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).parent / "dvc"
DVCLIVE_PLOTS = "plots"
"""A dvclive folder's plots subfolder (``write_curves``: ``plots/metrics/<run>/<name>.tsv``, x column ``step``)."""
RUNS = ("fold0-seed0", "fold1-seed0")
"""Runs (deevisum.data.splits.Run.name) whose placeholder curves each dvclive folder gets."""


def resolved(dvc_yaml: dict, params: dict) -> tuple[dict[str, dict], list]:
    """(stages as DVC runs them, ``name@item`` for foreach stages; the top-level plots), templating resolved."""
    return resolved_stages(dvc_yaml, params), interpolate(dvc_yaml.get("plots", []), template_context(dvc_yaml, params))


def _fields(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _entries(stage: dict, kind: str) -> list[tuple[str, dict]]:
    return [(path, props or {}) for entry in stage.get(kind, [])
            for path, props in (entry.items() if isinstance(entry, dict) else [(entry, {})])]


def plot_inputs(stages: dict[str, dict], plots: list) -> tuple[dict[str, set[str]], dict[str, set[str]], list[str]]:
    """(columns each plain plot file needs {file: columns}; the curves each dvclive folder must hold
    {folder: ``<run>/<name>``}; the plot ids ``dvc plots show`` should render, a plots folder standing for its files)."""
    files: dict[str, set[str]] = {}
    folders: dict[str, set[str]] = {}
    ids: list[str] = []
    for name, stage in stages.items():
        metrics = {path for path, _ in _entries(stage, "metrics")}
        for path, props in _entries(stage, "plots"):
            if posixpath.splitext(path)[1]:
                files.setdefault(path, set()).update(_fields(props.get("x")) + _fields(props.get("y")))
                ids.append(path)
                continue
            folder = posixpath.dirname(posixpath.normpath(path))  # a folder: dvclive's <curves>/plots
            assert posixpath.basename(posixpath.normpath(path)) == DVCLIVE_PLOTS and f"{folder}/metrics.json" in metrics, (
                f"stage {name}: plots folder {path} is not the plots of a dvclive folder whose metrics.json it declares")
            folders.setdefault(folder, set())
            ids.append(path)
    for entry in plots:
        for plot_id, props in entry.items():
            ids.append(plot_id)
            x = props.get("x")
            for path, ys in props.get("y", {}).items():
                xs = _fields(x.get(path)) if isinstance(x, dict) else _fields(x)
                folder = next((f for f in folders if path.startswith(f"{f}/{DVCLIVE_PLOTS}/")), None)
                if folder is None:
                    files.setdefault(path, set()).update(xs + _fields(ys))
                else:  # a metric of a dvclive folder: one <run>/<name>.tsv with columns step, <name>
                    curve = posixpath.relpath(path, f"{folder}/{DVCLIVE_PLOTS}/metrics")
                    assert re.fullmatch(r"fold\d+-seed\d+/\w+\.tsv", curve), f"plot {plot_id}: {path} is no <run>/<name>.tsv"
                    assert xs == ["step"] and _fields(ys) == [Path(path).stem], f"plot {plot_id}: {path} has columns step, {Path(path).stem}"
                    folders[folder].add(posixpath.splitext(curve)[0])
    return files, folders, ids


def trainer_columns() -> set[str]:
    """The per-epoch history keys of the VLM trainer (deevisum.distill.trainer.train_vlm's ``row``)."""
    tree = ast.parse((REPO / "deevisum" / "distill" / "trainer.py").read_text(encoding="utf-8"))
    rows = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
            and any(isinstance(t, ast.Name) and t.id == "row" for t in node.targets)]
    assert len(rows) == 1, "train_vlm's per-epoch `row = {...}` not found"
    return {k.value for k in rows[0].keys if isinstance(k, ast.Constant)} - {"epoch"}


def _scripts_calling(stages: dict[str, dict], function: str) -> set[str]:
    """Stages whose script calls ``function``."""
    found = set()
    for name, stage in stages.items():
        script = next((w for w in str(stage["cmd"]).split() if w.startswith("stages/") and w.endswith(".py")), None)
        if script and re.search(rf"\b{function}\(", (REPO / script).read_text(encoding="utf-8")):
            found.add(name)
    return found


def test_curve_plots_show_what_the_trainer_logs() -> None:
    """Each VLM role's dvclive folder is a declared plot, and a top-level plot over one names a metric
    that train_vlm logs every epoch."""
    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    stages, plots = resolved(dvc_yaml, yaml.safe_load((REPO / "params.yaml").read_text()))
    _, folders, _ = plot_inputs(stages, plots)
    columns = trainer_columns()
    assert {"train_loss", "val_ce"} <= columns
    roles = _scripts_calling(stages, "train_jobs")
    assert roles, "no stage trains a VLM role"
    pretraining = _scripts_calling(stages, "pretrain_roles")
    assert pretraining, "no stage pretrains the roles"
    roles |= pretraining
    for name in roles:
        curves = [posixpath.dirname(p) for p, _ in _entries(stages[name], "metrics") if p.endswith("/metrics.json")]
        assert curves and all(c in folders for c in curves), f"stage {name}: a dvclive folder of it is not a declared plot"
        shown = {posixpath.basename(m) for c in curves for m in folders[c]}
        assert shown <= columns, f"stage {name}: plots show {sorted(shown - columns)}, which train_vlm never logs"


@pytest.mark.skipif(not DVC.is_file(), reason=f"dvc not installed next to {sys.executable}")
def test_plots_show_renders_every_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deevisum.tracking import write_curves

    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    stages, plots = resolved(dvc_yaml, yaml.safe_load((REPO / "params.yaml").read_text()))
    files, folders, ids = plot_inputs(stages, plots)
    assert ids, "dvc.yaml defines no plots"
    assert folders, "no stage declares a dvclive folder of training curves"
    for path, cols in files.items():
        assert path.endswith((".csv", ".tsv", ".json")), f"plot {path}: not a data file"
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(cols)
        rows = [",".join(names)] + [",".join(str(i + k) for k in range(len(names))) for i in range(1, 4)]
        target.write_text("\n".join(rows) + "\n")
    columns = trainer_columns()
    monkeypatch.chdir(tmp_path)  # dvclive looks for a git/DVC repository from here: none yet, the project's never
    for folder, shown in folders.items():  # three epochs of every metric the trainer logs, for each run
        metrics = sorted(columns | {posixpath.basename(m) for m in shown})
        history = [{"epoch": e, **{m: float(e + k) for k, m in enumerate(metrics)}} for e in (1, 2, 3)]
        write_curves({run: history for run in {*RUNS, *(posixpath.dirname(m) for m in shown)}}, tmp_path / folder)
    # a plots folder stands for its files, each a plot of its own
    ids = [i for i in ids if i.rstrip("/") not in {f"{f}/{DVCLIVE_PLOTS}" for f in folders}]
    ids += sorted(p.relative_to(tmp_path).as_posix() for f in folders for p in (tmp_path / f / DVCLIVE_PLOTS).rglob("*.tsv"))

    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    subprocess.run([DVC, "init", "-q"], cwd=tmp_path, check=True, env=env)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")

    shown = subprocess.run([DVC, "plots", "show", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    if report.get("errors"):  # the JSON only says "validation failed": show DVC's explanation
        detail = subprocess.run([DVC, "stage", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        pytest.fail(f"dvc plots show: {report['errors']}\n{detail.stderr}")
    missing = [i for i in ids if not report["data"].get(i)]
    assert not missing, f"dvc plots show rendered nothing for {missing} (rendered: {sorted(report['data'])})"

    html = subprocess.run([DVC, "plots", "show", "-o", "report"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert html.returncode == 0, html.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    assert all(i in page for i in ids)
