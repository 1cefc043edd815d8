"""Training curves through dvclive, DVC's own logger.

A trainer keeps its per-epoch history in its checkpoint and replays the whole of it into a
fresh dvclive folder after every epoch. So the folder is complete while training runs, a
resumed run writes exactly the files an uninterrupted one does, and nothing in it depends on
the wall clock (same params, same bytes).
"""

from __future__ import annotations

import contextlib
import csv
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from deevisum.io import atomic_path

STEP = "epoch"
"""The history key that numbers the rows (dvclive's step)."""
KEPT_BY = "val_ce"
"""The trainers keep the weights of the epoch with the lowest validation CE (deevisum.distill.trainer),
or the last epoch's when there is no validation CE (exit heads, training without validation videos)."""
CURVES = "curves.tsv"
"""All runs' histories in one long table (columns ``run``, ``epoch``, then the metrics): what the
project's plots draw, every run of a role overlaid (dvc.yaml's top-level ``plots``)."""


def kept_row(history: Sequence[Mapping[str, float]]) -> Mapping[str, float]:
    """The history row of the epoch whose weights the trainer kept (:data:`KEPT_BY`; the first of ties)."""
    scored = [row for row in history if not math.isnan(row.get(KEPT_BY, math.nan))]
    return min(scored, key=lambda row: row[KEPT_BY]) if scored else history[-1]


def write_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], directory: str | Path) -> None:
    """``directory`` = dvclive's ``metrics.json`` (each run's kept epoch, :func:`kept_row`, under the run's
    name), its ``plots/metrics/<run>/<name>.tsv`` per run and column, and :data:`CURVES`: one folder for
    all runs of a role."""
    from dvclive import Live

    with atomic_path(directory) as tmp:
        tmp.mkdir()
        target = str(tmp.resolve())
        # dvclive looks for a DVC repo from the working directory to link experiments, which this
        # does not use (DVC runs the stage) and which fails in a git repo without commits; from
        # outside any repo it only writes the files.
        with contextlib.chdir(tempfile.gettempdir()):
            live = Live(target, save_dvc_exp=False, dvcyaml=None, report=None)
        for run in sorted(histories):
            for row in histories[run]:
                live.step = int(row[STEP])
                for name in sorted(row):  # not insertion order: a resumed history comes back key-sorted
                    if name != STEP:
                        live.log_metric(f"{run}/{name}", float(row[name]))
        # dvclive's summary holds the last values logged; the kept epoch is what the model is
        live.summary = {run: {name: int(v) if name == STEP else float(v) for name, v in sorted(kept_row(histories[run]).items())}
                        for run in sorted(histories) if histories[run]}
        live.make_summary()
        _write_long_table(histories, tmp / CURVES)


def _write_long_table(histories: Mapping[str, Sequence[Mapping[str, float]]], path: Path) -> None:
    names = sorted({name for rows in histories.values() for row in rows for name in row} - {STEP})
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["run", STEP, *names], delimiter="\t", lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows({"run": run, **row} for run in sorted(histories) for row in histories[run])
