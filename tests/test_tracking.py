"""The curves folder of a role (deevisum.tracking.write_curves): dvclive's files and the long table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from deevisum.tracking import CURVES, kept_row, write_curves


def test_summary_holds_the_kept_epoch_and_the_table_every_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # dvclive looks for a git/DVC repository from the working directory: not the project's
    history = [{"epoch": 0, "val_ce": 2.5}, {"epoch": 1, "train_loss": 1.0, "val_ce": 1.5, "lr": 1e-3},
               {"epoch": 2, "train_loss": 0.5, "val_ce": 1.8, "lr": 0.0}]
    write_curves({"fold1-seed0": history, "fold0-seed0": history[:1]}, tmp_path / "curves")
    written = sorted(p.relative_to(tmp_path / "curves").as_posix() for p in (tmp_path / "curves").rglob("*") if p.is_file())
    assert written == sorted([CURVES, "metrics.json", "plots/metrics/fold0-seed0/val_ce.tsv",
                              *(f"plots/metrics/fold1-seed0/{n}.tsv" for n in ("lr", "train_loss", "val_ce"))])
    summary = json.loads((tmp_path / "curves" / "metrics.json").read_text())
    assert summary["fold1-seed0"] == {"epoch": 1, "train_loss": 1.0, "val_ce": 1.5, "lr": 1e-3}  # not the last epoch (lr 0)
    assert summary["fold0-seed0"] == {"epoch": 0, "val_ce": 2.5}
    with (tmp_path / "curves" / CURVES).open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [(r["run"], r["epoch"]) for r in rows] == [("fold0-seed0", "0"), ("fold1-seed0", "0"), ("fold1-seed0", "1"), ("fold1-seed0", "2")]
    assert rows[1]["train_loss"] == "" and float(rows[3]["val_ce"]) == 1.8


def test_kept_row_without_validation_is_the_last() -> None:
    """Exit heads and training without validation videos keep their last epoch's weights."""
    history = [{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 3.0}]
    assert kept_row(history) == history[-1]
    nan = float("nan")
    assert kept_row([{"epoch": 1, "val_ce": nan}, {"epoch": 2, "val_ce": nan}])["epoch"] == 2
    assert kept_row([{"epoch": 1, "val_ce": 1.0}, {"epoch": 2, "val_ce": 1.0}])["epoch"] == 1  # ties: the first, as the trainer
