"""Training curves through dvclive, DVC's own logger.

A trainer keeps its per-epoch history in its checkpoint and replays the whole of it into a
fresh dvclive folder after every epoch. So the folder is complete while training runs, a
resumed run writes exactly the files an uninterrupted one does, and nothing in it depends on
the wall clock (same params, same bytes).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from deevisum.io import atomic_path

STEP = "epoch"
"""The history key that numbers the rows (dvclive's step)."""


def write_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], directory: str | Path) -> None:
    """``directory`` = dvclive's ``metrics.json`` (each run's last row, under the run's name) and
    ``plots/metrics/<run>/<name>.tsv`` per run and column: one folder for all runs of a role."""
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
        live.make_summary()
