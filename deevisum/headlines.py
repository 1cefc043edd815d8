"""What ``dvc metrics show`` and ``dvc exp show`` show: a few headline numbers, everything else in reports.

Each stage that measures something builds one full report (per fold, per video, calibration,
paired comparisons, baselines...) and hands it to :func:`publish`, which writes the whole report
as a plain JSON output (``reports/``, not a DVC metric) and only :func:`headline` of it as the
stage's metrics. A figure added to a report therefore stays out of the metrics tables until the
selection below names it, and the whole pipeline's metrics stay within :data:`MAX_HEADLINES`
numbers (tests/test_headlines.py counts them). ``dvc metrics show`` prints one row per metrics
file and one column per name, so the models' figures go one file per model, under the same
names: a table of models x (F1, tau, rho) rather than one row of every model's columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from deevisum.io import atomic_path, write_json

MAX_HEADLINES = 30
"""At most this many numbers across all the pipeline's metrics files: what fits a terminal."""
QUALITY = ("f1", "kendall_tau", "spearman_rho")
"""The field's summary-quality figures: keyshot F1 and the rank correlations with the annotators."""
EARLY_EXIT = ("agreement_vs_full", "mean_layers", "speedup")
"""Early exit at its operating point: agreement with full depth, decoder layers run, measured speedup."""


def _ablation(report: Mapping[str, Any]) -> dict[str, Any]:
    """F1, tau and rho of each trained model (the baselines do not change with params: report only)."""
    return {name: {m: row[m] for m in QUALITY} for name, row in report["table"].items() if not name.startswith("baseline_")}


def _early_exit(report: Mapping[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in EARLY_EXIT if k in report}  # no speedup when timing is off


def _transcription(report: Mapping[str, Any]) -> dict[str, Any]:
    return {"wer": report["wer"]}


HEADLINES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "ablation": _ablation, "early_exit": _early_exit, "transcription": _transcription}
"""Report kind -> its headline selection."""
PER_MODEL = {"ablation"}
"""Kinds whose headline is {model: numbers}, written as a metrics folder of ``<model>.json`` files."""


def headline(kind: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers of a ``kind`` report that go to its metrics file."""
    return HEADLINES[kind](report)


def publish(kind: str, report: Mapping[str, Any], metrics: str | Path, report_path: str | Path) -> None:
    """Write ``report`` whole to ``report_path`` and its :func:`headline` to ``metrics`` (a folder for
    the :data:`PER_MODEL` kinds)."""
    write_json(report_path, report)
    numbers = headline(kind, report)
    if kind not in PER_MODEL:
        write_json(metrics, numbers)
        return
    with atomic_path(metrics) as tmp:
        tmp.mkdir()
        for model, row in numbers.items():
            write_json(tmp / f"{model}.json", row)


def count_numbers(obj: object) -> int:
    """Leaf values of a metrics file (numbers, and anything else a metrics table would show as a column)."""
    if isinstance(obj, Mapping):
        return sum(count_numbers(v) for v in obj.values())
    if isinstance(obj, list):
        return sum(count_numbers(v) for v in obj)
    return 1
