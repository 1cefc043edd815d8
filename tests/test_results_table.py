"""scripts/results_table.py: the README's results block comes from the metrics files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import read_tvsum
from deevisum.early_exit.timing import TimedPass, layer_summary
from deevisum.evaluation.ablation import ablation_report
from deevisum.io import BadInputReport

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "results_table.py"
spec = importlib.util.spec_from_file_location("results_table", SCRIPT)
results_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results_table)


@pytest.fixture(scope="module")
def ablation(mini_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real ablation report (deevisum.evaluation.ablation) of two made-up variants on the mini corpus."""
    bench = read_tvsum(mini_corpus)
    rng = np.random.default_rng(0)
    files = {}
    for name in ("teacher", "student"):
        scores = {v: {"scores": rng.random(int(np.ceil(a.n_frames / a.fps))).tolist(), "frames_per_score": a.fps}
                  for v, a in bench.videos.items()}
        files[name] = tmp_path_factory.mktemp("scores") / f"{name}.json"
        files[name].write_text(json.dumps(scores))
    params = EvaluateParams(shots="fixed", n_bootstrap=20, random_trials=1)
    return ablation_report(files, bench, params, None, BadInputReport("stop"))


def _eval_metrics() -> dict:
    """metrics/eval.json as stage evaluate writes it (deevisum.early_exit.report): the layer figures come
    from the real ``layer_summary`` of made-up passes (4 segments leaving after 1, 2, 3, 4 of 4 layers)."""
    logits = torch.zeros(4, 5)
    full = TimedPass(logits, torch.full((4,), 4), torch.full((4,), float("nan")), [1.0])
    ee = TimedPass(logits, torch.tensor([1, 2, 3, 4]), torch.zeros(4), [0.5])
    return {
        "threshold": 0.9, "f1": 0.41, "kendall_tau": 0.12, "spearman_rho": 0.15, **layer_summary(ee, full, depth=4),
        "f1_drop": 0.01,
        "full_depth": {"f1": 0.42, "kendall_tau": 0.13, "spearman_rho": 0.16, "max_abs_logit_diff_vs_scoring": 0.0},
        "depth": 4, "exit_layers": [1, 2, 3], "n_segments": 300, "n_videos": 3,
        "bad_input": {"n_skipped": 0, "on_error": "skip", "skipped": []},
    }


EVAL = _eval_metrics()


def test_tables_show_every_variant_with_its_ci(ablation: dict) -> None:
    text = results_table.render(ablation, EVAL)
    for name, row in ablation["table"].items():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {results_table.LABELS.get(name, name)} |"))
        lo, hi = row["f1_ci95"]
        assert f"{row['f1']:.3f} [{lo:.3f}, {hi:.3f}]" in line
    # decoder layers run (mean 2.5 of 4), the layer bound depth / mean layers, and the F1 drop vs full depth
    assert "| early exit, threshold 0.9 | 0.410 | 0.120 | 0.150 | 2.50 | 1.60× | +0.010 |" in text
    assert "| full depth | 0.420 | 0.130 | 0.160 | 4 | 1.00× | – |" in text


def test_early_exit_table_ignores_wall_times(ablation: dict) -> None:
    """Wall times differ run to run: even where a metrics file still carries them (older eval.json),
    the README block does not show them, so it is the same after every run with the same results."""
    text = results_table.render(ablation, EVAL)
    timed = {**EVAL, "seconds_per_segment": 0.002, "speedup": 1.4,
             "full_depth": {**EVAL["full_depth"], "seconds_per_segment": 0.0028}}
    assert results_table.render(ablation, timed) == text
    assert "speedup |" not in text and "s / segment" not in text


def test_readme_block_is_rewritten_in_place(ablation: dict, tmp_path: Path) -> None:
    (tmp_path / "ablation.json").write_text(json.dumps(ablation))
    (tmp_path / "eval.json").write_text(json.dumps(EVAL))
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{results_table.START}\nstale numbers\n{results_table.END}\nafter\n")
    args = ["--ablation", str(tmp_path / "ablation.json"), "--eval", str(tmp_path / "eval.json"), "--readme", str(readme)]
    assert results_table.main(args) == 0
    text = readme.read_text()
    assert "stale numbers" not in text and text.startswith("# title\n\nbefore\n") and text.endswith("after\n")
    assert results_table.render(ablation, EVAL) in text
    assert results_table.main(args) == 0 and readme.read_text() == text  # idempotent


def test_missing_metrics_are_reported_not_fatal(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "eval.json").write_text(json.dumps(EVAL))
    assert results_table.main(["--ablation", str(tmp_path / "nope.json"), "--eval", str(tmp_path / "eval.json")]) == 0
    out, err = capsys.readouterr()
    assert "nope.json not found" in err and "run `dvc repro evaluate_ablation`" in out and "1.60×" in out
    assert results_table.main(["--ablation", str(tmp_path / "a"), "--eval", str(tmp_path / "b")]) == 1


def test_readme_without_markers_is_an_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    assert results_table.main(["--eval", str(tmp_path / "x"), "--readme", str(readme)]) == 1
    assert readme.read_text() == "no markers\n"
