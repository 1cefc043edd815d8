"""``dvc plots show``: a handful of plots that mean something, drawn with no network.

The project's plots are dvc.yaml's top-level ``plots`` alone: stages declare the files behind
them as plain outputs, since every plot file a stage declares is a plot of its own (the dvclive
folders once gave 344). The page's HTML template (.dvc/config ``plots.html_template``) carries
the vega bundle of vendor/vega inline.

The checks run on a scratch DVC repository holding the project's dvc.yaml, params.yaml,
.dvc/config, .dvc/plots templates and vendor/vega, with placeholder data written by the
project's own writers (:func:`deevisum.tracking.write_curves` for training curves,
:func:`deevisum.evaluation.ablation.ci_rows` for the per-model plot) or holding exactly the
columns a plot definition names, so a malformed definition fails here rather than after a full
``dvc repro``. The numbers are placeholders; the real files come from the stages.
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
from test_stage_params import interpolate, outputs, resolved_stages, template_context

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import check_plots_offline  # noqa: E402

DVC = Path(sys.executable).parent / "dvc"
MAX_PLOTS = 8
"""What a reader takes in on one page."""
DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
STAGES = resolved_stages(DVC_YAML, PARAMS)
PLOTS = {plot_id: props for entry in interpolate(DVC_YAML.get("plots", []), template_context(DVC_YAML, PARAMS))
         for plot_id, props in entry.items()}
RUNS = ("fold0-seed0", "fold1-seed0")
"""Runs (deevisum.data.splits.Run.name) whose placeholder curves each curves folder gets."""


def _fields(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def trainer_columns() -> set[str]:
    """The per-epoch history keys of the VLM trainer (deevisum.distill.trainer.train_vlm's ``row``)."""
    tree = ast.parse((REPO / "deevisum" / "distill" / "trainer.py").read_text(encoding="utf-8"))
    rows = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
            and any(isinstance(t, ast.Name) and t.id == "row" for t in node.targets)]
    assert len(rows) == 1, "train_vlm's per-epoch `row = {...}` not found"
    return {k.value for k in rows[0].keys if isinstance(k, ast.Constant)} - {"epoch"}


def _scripts_calling(function: str) -> set[str]:
    """Stages whose script calls ``function``."""
    found = set()
    for name, stage in STAGES.items():
        script = next((w for w in str(stage["cmd"]).split() if w.startswith("stages/") and w.endswith(".py")), None)
        if script and re.search(rf"\b{function}\(", (REPO / script).read_text(encoding="utf-8")):
            found.add(name)
    return found


def test_a_handful_of_plots_and_no_stage_plots() -> None:
    assert 0 < len(PLOTS) <= MAX_PLOTS, f"{len(PLOTS)} plots: {sorted(PLOTS)}"
    declaring = [name for name, stage in STAGES.items() if stage.get("plots")]
    assert not declaring, f"stages {declaring} declare plots: each file would be a plot of its own; use the top-level plots"


def test_training_plots_show_what_the_trainer_logs() -> None:
    """The curves plots read the :data:`deevisum.tracking.CURVES` table of curves folders that stages
    write, plot a metric train_vlm logs every epoch, and cover every VLM role's folder."""
    from deevisum.tracking import CURVES

    produced = set().union(*(outputs(s) for s in STAGES.values()))
    columns = trainer_columns()
    plotted = set()
    for plot_id, props in PLOTS.items():
        if props.get("template") != "curves":
            continue
        for path, ys in props["y"].items():
            folder = posixpath.dirname(path)
            assert posixpath.basename(path) == CURVES and folder in produced, f"plot {plot_id}: {path} is no stage's curves table"
            assert set(_fields(ys)) <= columns, f"plot {plot_id}: {ys} is not what train_vlm logs ({sorted(columns)})"
            plotted.add(folder)
    roles = _scripts_calling("train_jobs") | _scripts_calling("pretrain_roles")
    assert roles, "no stage trains a VLM role"
    curves = posixpath.normpath(template_context(DVC_YAML, PARAMS)["paths"]["curves"])
    for name in roles:
        folders = {o for o in outputs(STAGES[name]) if posixpath.dirname(o) == curves}
        assert folders and folders <= plotted, f"stage {name}: curves {sorted(folders - plotted)} are in no plot"


def _placeholders(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file the plots read, written by the project's writer where it has one."""
    from deevisum.evaluation.ablation import ci_rows
    from deevisum.headlines import QUALITY
    from deevisum.io import write_csv
    from deevisum.tracking import write_curves

    monkeypatch.chdir(root)  # dvclive looks for a git/DVC repository from here: none yet, the project's never
    history = [{"epoch": e, **{m: float(e + k) for k, m in enumerate(sorted(trainer_columns()))}} for e in (1, 2, 3)]
    columns: dict[str, set[str]] = {}
    for props in PLOTS.values():
        for path, ys in props["y"].items():
            if props.get("template") == "curves":
                write_curves({run: history for run in RUNS}, root / posixpath.dirname(path))
            elif props.get("template") == "ci_bars":
                row = {f"{m}{suffix}": value for m in QUALITY for suffix, value in (("_pooled", 0.5), ("_ci95", [0.4, 0.6]))}
                write_csv(root / path, ci_rows({"table": {"student": row, "baseline_random": row}}))
            else:
                columns.setdefault(path, set()).update(_fields(props.get("x")) + _fields(ys))
    for path, cols in columns.items():
        names = sorted(cols)
        write_csv(root / path, [{c: i + k for k, c in enumerate(names)} for i in range(1, 4)])


@pytest.fixture(scope="module")
def plots_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dvc plots show`` of a scratch copy of the project holding placeholder data: the page."""
    if not DVC.is_file():
        pytest.skip(f"dvc not installed next to {sys.executable}")
    root = tmp_path_factory.mktemp("plots")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _placeholders(root, monkeypatch)
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env=env)
    subprocess.run([DVC, "init", "-q"], cwd=root, check=True, env=env)
    for name in ("dvc.yaml", "params.yaml", ".dvc/config", ".dvc/plots", "vendor/vega"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy(REPO / name, root / name)

    shown = subprocess.run([DVC, "plots", "show", "--json"], cwd=root, env=env, capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    if report.get("errors"):  # the JSON only says "validation failed": show DVC's explanation
        detail = subprocess.run([DVC, "stage", "list"], cwd=root, env=env, capture_output=True, text=True, check=False)
        pytest.fail(f"dvc plots show: {report['errors']}\n{detail.stderr}")
    assert sorted(report["data"]) == sorted(PLOTS), "dvc plots show renders other plots than dvc.yaml's"
    assert all(report["data"][p] for p in PLOTS)

    html = subprocess.run([DVC, "plots", "show"], cwd=root, env=env, capture_output=True, text=True, check=False)
    assert html.returncode == 0, html.stderr
    return root / "dvc_plots" / "index.html"


def test_plots_page_carries_its_own_vega(plots_page: Path) -> None:
    page = plots_page.read_text(encoding="utf-8")
    assert check_plots_offline.PLOT_DIV.findall(page) == list(PLOTS)
    assert not re.search(r"<script[^>]+src=", page), "the page loads a script from elsewhere"
    assert "vega@5" in page and "vega-lite@5" in page and "vega-embed@6" in page


@pytest.mark.skipif(check_plots_offline.find_chromium() is None,
                    reason="no Chromium to load the page (apt-get install chromium); scripts/check_plots_offline.py")
def test_plots_page_draws_every_plot_offline(plots_page: Path) -> None:
    """Headless Chromium with the network off draws a vega canvas for every plot."""
    drawn = check_plots_offline.drawn_plots(plots_page, check_plots_offline.rendered_dom(plots_page, check_plots_offline.find_chromium()))
    assert drawn and all(drawn.values()), f"not drawn offline: {[p for p, ok in drawn.items() if not ok]}"
