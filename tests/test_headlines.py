"""What ``dvc metrics show`` shows: at most MAX_HEADLINES numbers across the pipeline (deevisum.headlines).

The reports here have the full shape the stages write (every ablation variant and baseline with
per-fold rows, CIs and comparisons; the early-exit report's calibration, AUROCs, per-run
thresholds...): everything beyond the headline must end up in the report only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from deevisum.evaluation.ablation import COMPARISONS, VARIANTS, ci_rows
from deevisum.headlines import EARLY_EXIT, HEADLINES, MAX_HEADLINES, PER_MODEL, QUALITY, count_numbers, headline, publish

REPO = Path(__file__).resolve().parents[1]
FOLDS = range(5)


def _row(x: float) -> dict:
    """A table row as deevisum.evaluation.ablation._row builds it."""
    row: dict = {"per_fold": {f"fold{k}": {"fold": k, **{m: x for m in QUALITY}} for k in FOLDS}}
    for m in QUALITY:
        row |= {m: x, f"{m}_std": 0.1, f"{m}_pooled": x, f"{m}_ci95": [x - 0.1, x + 0.1]}
    return row


ABLATION = {
    "protocol": {"budget": 0.15, "n_bootstrap": 1000}, "folds": list(FOLDS), "n_seeds": 1, "n_test_videos": 20,
    "table": {name: _row(0.5) for name in (*VARIANTS, "baseline_random", "baseline_human", "baseline_oracle")},
    "comparisons": {name: {"a": a, "b": b, **{m: {"mean_diff": 0.0, "ci95": [-0.1, 0.1], "p_value": 0.5, "holds": False,
                                                  "n_videos": 20} for m in QUALITY}} for name, (a, b) in COMPARISONS.items()},
    "bad_input": {"n_skipped": 0, "on_error": "skip", "skipped": []},
}
EARLY = {
    "agreement_vs_full": 0.96, "mean_layers": 5.4, "speedup": 1.1, "speedup_fastest": 1.1, "seconds_per_segment": 0.002,
    "f1": 0.59, "kendall_tau": 0.34, "spearman_rho": 0.45, "layer_bound": 1.1, "threshold": None,
    "thresholds": {f"fold{k}-seed0": 0.5 for k in FOLDS},
    "calibration": {f"fold{k}-seed0": {"threshold": 0.5, "p_value": 0.05, "n_rows": 100} for k in FOLDS},
    "confidence_auroc_by_measure": {m: {"2": 0.8, "4": 0.9} for m in ("classifier", "gamma", "max_prob")},
    "full_depth": {m: 0.5 for m in QUALITY}, "depth": 6, "exit_layers": [2, 4], "n_segments": 800, "n_videos": 20,
}
TRANSCRIPTION = {"wer": 0.09, "edits": 20, "reference_words": 231, "engine": "whisper", "model": "tiny",
                 "wer_per_video": {f"v{i}": 0.1 for i in range(20)}, "n_skipped": 0}
REPORTS = {"ablation": ABLATION, "early_exit": EARLY, "transcription": TRANSCRIPTION}


def test_the_pipelines_headlines_fit_a_terminal() -> None:
    assert set(REPORTS) == set(HEADLINES)
    counts = {kind: count_numbers(headline(kind, report)) for kind, report in REPORTS.items()}
    assert sum(counts.values()) <= MAX_HEADLINES, counts
    assert headline("ablation", ABLATION) == {name: {m: 0.5 for m in QUALITY} for name in VARIANTS}  # per-model tau/rho/F1
    assert headline("early_exit", EARLY) == {k: EARLY[k] for k in EARLY_EXIT}
    assert headline("transcription", TRANSCRIPTION) == {"wer": 0.09}


def test_publish_writes_the_whole_report_and_the_headline(tmp_path: Path) -> None:
    for kind, report in REPORTS.items():
        metrics = tmp_path / "metrics" / (kind if kind in PER_MODEL else f"{kind}.json")
        publish(kind, report, metrics, tmp_path / "reports" / f"{kind}.json")
        assert json.loads((tmp_path / "reports" / f"{kind}.json").read_text()) == report
        if kind in PER_MODEL:  # one file per model, the same names in each: one row each in dvc metrics show
            assert sorted(p.stem for p in metrics.iterdir()) == sorted(VARIANTS)
            assert all(json.loads(p.read_text()) == {m: 0.5 for m in QUALITY} for p in metrics.iterdir())
        else:
            assert json.loads(metrics.read_text()) == headline(kind, report)


def test_every_metrics_output_is_a_published_headline() -> None:
    """Each ``metrics:`` entry of dvc.yaml is written by a stage that calls publish (never a whole report)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    with_metrics = {name: stage for name, stage in stages.items() if stage.get("metrics")}
    assert with_metrics
    for name, stage in with_metrics.items():
        script = re.search(r"stages/\w+\.py", stage["cmd"]).group(0)
        assert re.search(r"\bpublish\(", (REPO / script).read_text()), f"stage {name} writes metrics without deevisum.headlines.publish"


def test_ci_rows_give_each_model_and_metric_its_interval() -> None:
    rows = ci_rows(ABLATION)
    assert len(rows) == len(ABLATION["table"]) * len(QUALITY)
    assert rows[0] == {"model": VARIANTS[0], "metric": QUALITY[0], "value": 0.5, "ci_low": 0.4, "ci_high": 0.6}
