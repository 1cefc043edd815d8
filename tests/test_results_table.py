"""scripts/results_table.py: the README's results block comes from the metrics files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import read_tvsum
from deevisum.evaluation.ablation import ablation_report
from deevisum.headlines import headline
from deevisum.io import BadInputReport

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "results_table.py"
spec = importlib.util.spec_from_file_location("results_table", SCRIPT)
results_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results_table)


def _ablation(corpus: Path, scores_dir: Path, n_folds: int, names: tuple[str, ...] = ("teacher", "student", "student_kd")) -> dict:
    """A real ablation report (deevisum.evaluation.ablation) of made-up variants' scores, two seeds each,
    with the mini corpus's videos dealt over ``n_folds`` folds."""
    bench = read_tvsum(corpus)
    rng = np.random.default_rng(0)
    files: dict[str, list[Path]] = {}
    for name in names:
        for seed in range(2):
            scores = {v: {"scores": rng.random(int(np.ceil(a.n_frames / a.fps))).tolist(), "frames_per_score": a.fps}
                      for v, a in bench.videos.items()}
            files.setdefault(name, []).append(scores_dir / f"{name}-seed{seed}.json")
            files[name][-1].write_text(json.dumps(scores))
    video_fold = {v: k % n_folds for k, v in enumerate(sorted(bench.videos))}
    params = EvaluateParams(shots="fixed", n_bootstrap=20, n_permutations=100, random_trials=1)
    return ablation_report(files, bench, params, None, video_fold, BadInputReport("stop"))


@pytest.fixture(scope="module")
def ablation(mini_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _ablation(mini_corpus, tmp_path_factory.mktemp("scores"), n_folds=2)


EVAL = {
    "agreement_vs_full": 0.962, "mean_layers": 2.5, "layer_bound": 1.6, "f1": 0.41, "kendall_tau": 0.12,
    "spearman_rho": 0.15, "speedup": 1.31, "speedup_fastest": 1.35, "seconds_per_segment": 0.002,
    "max_abs_logit_diff_runner_vs_states": 0.0, "threshold_source": "calibrated", "threshold": 0.9,
    "thresholds": {"fold0-seed0": 0.9, "fold1-seed0": 0.9}, "confidence": "classifier", "target_agreement": 0.95,
    "delta": 0.1, "score_tolerance": 0.25, "calibration": {}, "f1_drop": 0.01, "kendall_tau_drop": 0.01,
    "spearman_rho_drop": -0.02, "confidence_auroc": {"1": 0.8, "2": 0.85, "3": 0.9},
    "full_depth": {"f1": 0.42, "kendall_tau": 0.13, "spearman_rho": 0.13, "seconds_per_segment": 0.0026,
                   "max_abs_logit_diff_vs_scoring": 0.0},
    "depth": 4, "exit_layers": [1, 2, 3], "n_segments": 300, "n_videos": 3, "runs": ["fold0-seed0", "fold1-seed0"],
    "bad_input": {"n_skipped": 0, "on_error": "skip", "skipped": []},
}
"""metrics/eval.json as stage evaluate writes it (deevisum.early_exit.report.early_exit_report)."""


def _line(text: str, label: str) -> str:
    return next(ln for ln in text.splitlines() if ln.startswith(f"| {label} |"))


def test_ablation_table_gives_mean_and_std_over_folds(ablation: dict) -> None:
    assert ablation["folds"] == [0, 1] and ablation["n_seeds"] == 2
    text = results_table.render(ablation, EVAL)
    assert set(ablation["table"]) == {"teacher", "student", "student_kd", "baseline_random", "baseline_human",
                                      "baseline_oracle"}
    for name, row in ablation["table"].items():
        line = _line(text, results_table.LABELS[name])
        assert all(f"{row[m]:.3f} ± {row[f'{m}_std']:.3f}" in line for m, _ in results_table.QUALITY)
    labels = [ln.split(" | ")[0][2:] for ln in text.splitlines() if ln.startswith("| ") and " ± " in ln]
    assert labels == [results_table.LABELS[k] for k in ("teacher", "student", "student_kd", "baseline_random",
                                                        "baseline_human", "baseline_oracle")]
    assert "Test videos: 3 (folds 0, 1; 2 seed(s) per fold" in text and "Mean ± std over the 2 folds" in text


def test_probes_are_compared_with_their_model_but_are_not_models(mini_corpus: Path, tmp_path: Path) -> None:
    report = _ablation(mini_corpus, tmp_path, 2, ("teacher", "student", "teacher_no_title"))
    assert set(report["probes"]) == {"teacher_no_title"} and "teacher_no_title" not in report["table"]
    assert report["comparisons"]["teacher_title"]["a"] == "teacher" and "teacher_no_title" not in headline("ablation", report)
    assert "| teacher − the same teacher scored without category and title |" in results_table.render(report, EVAL)


def test_single_fold_shows_the_bootstrap_ci(mini_corpus: Path, tmp_path: Path) -> None:
    """One fold has no spread over folds: its cells give the CI over videos instead of a zero std."""
    report = _ablation(mini_corpus, tmp_path, n_folds=1)
    text = "\n".join(results_table.ablation_table(report))
    row = report["table"]["student"]
    lo, hi = row["kendall_tau_ci95"]
    assert f"{row['kendall_tau']:.3f} [{lo:.3f}, {hi:.3f}]" in _line(text, results_table.LABELS["student"])
    assert " ± " not in text and "One fold" in text


def test_comparisons_table_gives_difference_ci_p_and_verdict(ablation: dict) -> None:
    text = results_table.render(ablation, EVAL)
    assert set(ablation["comparisons"]) == {"mskd_vs_kd", "teacher_vs_student"}
    for name, c in ablation["comparisons"].items():
        line = _line(text, results_table.COMPARISONS[name])
        for m, _ in results_table.QUALITY:
            lo, hi = c[m]["ci95"]
            verdict = "✓" if c[m]["holds"] else "✗"
            assert f"{c[m]['mean_diff']:+.3f} [{lo:.3f}, {hi:.3f}], p = {c[m]['p_value']:.3f} {verdict}" in line
    unknown = {**ablation, "comparisons": {"x_vs_y": {**ablation["comparisons"]["mskd_vs_kd"], "a": "x", "b": "y"}}}
    assert "| x_vs_y (x − y) |" in "\n".join(results_table.comparisons_table(unknown))


def test_early_exit_table_shows_the_operating_point_against_full_depth(ablation: dict) -> None:
    text = results_table.render(ablation, EVAL)
    # agreement, quality with the change from full depth, layers run, layer bound depth / mean layers, speedup
    assert ("| early exit | 0.9 | 96.2% | 0.410 (-0.010) | 0.120 (-0.010) | 0.150 (+0.020) | 2.50 | 1.60× | 1.31× |"
            in text)
    assert "| full depth | – | 100% | 0.420 | 0.130 | 0.130 | 4 | 1.00× | 1.00× |" in text
    assert "speedup (measured)" in text and "Speedup: measured wall time" in text
    assert "calibrated per run on its validation videos" in text and "≥ 95% agreement" in text
    differ = {**EVAL, "threshold": None, "thresholds": {"fold0-seed0": 0.9, "fold1-seed0": None}}
    assert "| early exit | per run: fold0-seed0 0.9, fold1-seed0 – |" in results_table.render(ablation, differ)
    never = {**EVAL, "threshold": None, "thresholds": {"fold0-seed0": None, "fold1-seed0": None}}
    assert "| early exit | none certified (full depth) |" in results_table.render(ablation, never)
    manual = results_table.render(ablation, {**EVAL, "threshold_source": "manual"})
    assert "Threshold set by hand (`ee.threshold`)" in manual and "calibrated" not in manual


def _ci(mean: float, lo: float, hi: float) -> dict:
    return {"mean": mean, "ci95": [lo, hi], "n_videos": 20}


def test_early_exit_is_shown_beside_its_baselines(ablation: dict) -> None:
    rows = [{"method": m, "mean_layers": layers, "layer_bound": 6 / layers, "agreement_vs_full": _ci(agree, agree - 0.02, agree + 0.01),
             "kendall_tau": _ci(0.1, 0.05, 0.15), "f1": _ci(0.4, 0.3, 0.5), "spearman_rho": _ci(0.1, 0.0, 0.2)}
            for m, layers, agree in [("early_exit", 5.4, 0.96), ("static_2", 2, 0.8), ("random_mix", 5.4, 0.94),
                                     ("patience_1", 5.0, 0.9), ("oracle", 4.1, 1.0)]]
    paired = {"mean_diff": 0.02, "ci95": [0.01, 0.03], "p_value": 0.0004, "n_videos": 20, "holds": True}
    text = results_table.render(ablation, {**EVAL, "baselines": rows, "ee_minus_random_mix": {
        "mean_layers": 5.4, "random_draws": 3, "agreement_vs_full": paired,
        "kendall_tau": {**paired, "mean_diff": -0.001, "ci95": [-0.01, 0.008], "p_value": 0.8, "holds": False}}})
    assert "| static depth: every segment leaves after layer 2 | 2.00 | 3.00× | 80.0% [78.0%, 81.0%] | 0.100 [0.050, 0.150] |" in text
    assert "| random exit at the same mean layers | 5.40 | 1.11× | 94.0%" in text and "| patience (PABEE), 1 repeated" in text
    assert "| oracle (first exit that agrees) | 4.10 |" in text
    assert ("random exit at the same 5.40 mean layers, paired over the 20 test videos: agreement +2.0 pp [+1.0 pp, +3.0 pp] (per-video shares), "
            "p < 0.001 ✓; Kendall τ -0.001 [-0.010, 0.008], p = 0.800 ✗.") in text
    assert "Does the confidence beat chance" not in results_table.render(ablation, EVAL)  # older metrics: no section


def test_latency_section_comes_from_the_benchmark_results(ablation: dict, tmp_path: Path) -> None:
    def setting(p50: float, speedup: float, bound: float) -> dict:
        return {"latency_p50_s": p50, "latency_p95_s": 2 * p50, "segments_per_s": 1 / p50, "mean_layers": 6 / bound,
                "layer_bound": bound, "speedup": {"median": speedup, "ci95": [speedup - 0.1, speedup + 0.1], "rounds": 10},
                "speedup_over_bound": speedup / bound, "bound_with_vision": 0.9 * bound}
    batches = {str(b): {"batch": b, "seq": 40, "vision_share_of_full": 0.15, "vision_share_of_measured": 0.2,
                        "settings": {"full": setting(0.1 * b, 1.0, 1.0), "measured": setting(0.05 * b, 1.8, 2.0),
                                     "oracle_at_target": setting(0.045 * b, 2.2, 2.4), "exit_2": setting(0.04 * b, 2.5, 3.0)}}
               for b in (1, 16, 128)}
    speed = {"demo": {"model": "demo student (6 layers)", "exit_layers": [2, 4], "exit_distribution": {"2": 0.75, "6": 0.25},
                      "oracle_at_target_distribution": {"2": 0.9, "6": 0.1},
                      "machine": {"cpu": "AMD EPYC", "cores": 2, "torch_threads": 2, "torch": "2.13.0"}, "repeats": 10,
                      "when": "2026-12-02T04:00:00Z", "batches": batches}}
    text = results_table.render_latency(speed)
    assert "AMD EPYC, 2 cores, 2 torch threads" in text and "75% at 2, 25% at 6 (oracle at the target: 90% at 2, 10% at 6)" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| 1") and "s |" in ln]
    assert [r.split(" |")[0] for r in rows] == ["| 1", "| 16", "| 128"]  # batch sizes in numeric order
    assert rows[0] == "| 1 | 0.1 / 0.2 s | 0.05 / 0.1 s | 10 → 20 | 1.80× [1.70, 1.90] | 2.00× | 0.90 | 15% | 1.80× | 2.20× [2.10, 2.30] | 2.50× [2.40, 2.60] |"
    older = {"demo": {k: v for k, v in speed["demo"].items() if k != "oracle_at_target_distribution"}}
    older["demo"]["batches"] = {b: {**row, "settings": {k: v for k, v in row["settings"].items() if k != "oracle_at_target"}}
                                for b, row in batches.items()}
    assert rows[0].replace("| 2.20× [2.10, 2.30] |", "| – |") in results_table.render_latency(older)  # a run before the oracle's replay
    assert "latency" not in results_table.render(ablation, EVAL)  # the README block leaves it to the early-exit page
    (tmp_path / "eval.json").write_text(json.dumps(EVAL))
    (tmp_path / "speed.json").write_text(json.dumps(speed))
    readme, page = tmp_path / "README.md", tmp_path / "early-exit.md"
    readme.write_text(f"intro\n{results_table.START}\nold\n{results_table.END}\nrest\n")
    page.write_text("before\n{}\nold\n{}\nafter\n".format(*results_table.LATENCY_MARKERS))
    assert results_table.main(["--ablation", str(tmp_path / "a"), "--eval", str(tmp_path / "eval.json"),
                               "--speed", str(tmp_path / "speed.json"), "--readme", str(readme),
                               "--latency-doc", str(page)]) == 0
    assert "### Early exit" in readme.read_text() and "latency" not in readme.read_text()
    assert rows[0] in page.read_text() and page.read_text().endswith("after\n")

def test_metrics_of_an_older_format_are_reported_not_fatal(ablation: dict, capsys: pytest.CaptureFixture) -> None:
    old = {k: v for k, v in EVAL.items() if k != "agreement_vs_full"}
    text = results_table.render(ablation, old)
    assert "_not available: the metrics lack 'agreement_vs_full'; re-run `dvc repro evaluate`_" in text
    assert "agreement_vs_full" in capsys.readouterr().err
    assert "± " in text  # the ablation table still renders


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


def test_the_papers_point_is_a_sentence_beside_the_baselines() -> None:
    assert results_table._paper_point(EVAL) == ""
    reached = {**EVAL, "paper_point": {"speedup": 1.2658, "f1_drop": 0.013, "f1_drop_here_at_that_speedup": 0.004}}
    assert "1.27× (21% less time) for -0.013 F1: on this sweep's measured curve F1 changes by -0.004 at 1.27×" in \
        results_table._paper_point(reached)
    never = {**reached, "paper_point": {**reached["paper_point"], "f1_drop_here_at_that_speedup": None}}
    assert "no threshold of this sweep got that fast" in results_table._paper_point(never)
