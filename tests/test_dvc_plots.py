"""``dvc plots show`` renders every plot the project's dvc.yaml defines.

Runs on a scratch DVC repository holding the project's own dvc.yaml and placeholder CSVs
with exactly the columns the plot definitions name, so a malformed definition (dvc.yaml
schema error, a plot whose x/y column is not declared) fails here rather than after a
full ``dvc repro``. The numbers are placeholders; the real files come from the stages.
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
DVC = Path(sys.executable).parent / "dvc"


def _fields(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def plot_columns(dvc_yaml: dict) -> tuple[dict[str, set[str]], list[str]]:
    """Columns each plot file needs ({file: columns}) and the plot ids ``dvc plots show`` should render."""
    columns: dict[str, set[str]] = {}
    ids: list[str] = []
    for stage in dvc_yaml.get("stages", {}).values():
        for entry in stage.get("plots", []):
            for path, props in (entry.items() if isinstance(entry, dict) else [(entry, {})]):
                props = props or {}
                columns.setdefault(path, set()).update(_fields(props.get("x")) + _fields(props.get("y")))
                ids.append(path)
    for entry in dvc_yaml.get("plots", []):
        for plot_id, props in entry.items():
            ids.append(plot_id)
            x = props.get("x")
            for path, ys in props.get("y", {}).items():
                xs = _fields(x.get(path)) if isinstance(x, dict) else _fields(x)
                columns.setdefault(path, set()).update(xs + _fields(ys))
    return columns, ids


@pytest.mark.skipif(not DVC.is_file(), reason=f"dvc not installed next to {sys.executable}")
def test_plots_show_renders_every_plot(tmp_path: Path) -> None:
    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    columns, ids = plot_columns(dvc_yaml)
    assert ids, "dvc.yaml defines no plots"
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    subprocess.run([DVC, "init", "-q"], cwd=tmp_path, check=True, env=env)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    for path, cols in columns.items():
        assert path.endswith((".csv", ".tsv", ".json")), f"plot {path}: not a data file"
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(cols)
        rows = [",".join(names)] + [",".join(str(i + k) for k in range(len(names))) for i in range(1, 4)]
        target.write_text("\n".join(rows) + "\n")

    shown = subprocess.run([DVC, "plots", "show", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    if report.get("errors"):  # the JSON only says "validation failed": show DVC's explanation
        detail = subprocess.run([DVC, "stage", "list"], cwd=tmp_path, env=env, capture_output=True, text=True)
        pytest.fail(f"dvc plots show: {report['errors']}\n{detail.stderr}")
    missing = [i for i in ids if not report["data"].get(i)]
    assert not missing, f"dvc plots show rendered nothing for {missing}"

    html = subprocess.run([DVC, "plots", "show", "-o", "report"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert html.returncode == 0, html.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    assert all(i in page for i in ids)
