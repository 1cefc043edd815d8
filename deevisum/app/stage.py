"""What every stage script shares: its paths come from ``dvc.yaml`` as command-line arguments.

``dvc.yaml`` is the one place that names the pipeline's files (its ``vars: paths``): each stage's
``cmd`` passes the paths it reads and writes, and declares the same ones as deps and outs.
Parsing them also sets up the clean-up of temporary paths (:func:`deevisum.io.install_cleanup`) and
turns a named bad input or a failed read or write (InputError, ParamsError, OSError) into one line
on stderr instead of a traceback, and hides the libraries' own progress bars (transformers' "Loading
weights" for every model loaded): a stage's log is its own messages and bars.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from deevisum.config import ParamsError
from deevisum.io import InputError, install_cleanup, one_line


def _one_line_errors(kind: type[BaseException], err: BaseException, tb: TracebackType | None) -> None:
    """sys.excepthook: these name the file and the problem already, a traceback adds nothing."""
    if isinstance(err, (InputError, ParamsError, OSError)):
        print(f"{Path(sys.argv[0]).name}: error: {one_line(err)}", file=sys.stderr)
    else:
        sys.__excepthook__(kind, err, tb)


def stage_args(doc: str | None, paths: Sequence[str], items: Sequence[str] = (), lists: Sequence[str] = ()) -> argparse.Namespace:
    """Parse ``--<path> PATH`` for each of ``paths`` (all required), positional ``items`` and
    positional ``lists`` (one or more names each, e.g. the roles a stage scores)."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    for name in items:
        parser.add_argument(name)
    for name in lists:
        parser.add_argument(name, nargs="+")
    for name in paths:
        parser.add_argument(f"--{name.replace('_', '-')}", type=Path, required=True, dest=name)
    args = parser.parse_args()
    install_cleanup(getattr(args, name) for name in paths)
    sys.excepthook = _one_line_errors
    _quiet_libraries()
    return args


def _quiet_libraries() -> None:
    """No huggingface_hub / transformers progress bars, in this process and the workers it starts."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read when they are imported
    if "transformers" in sys.modules:  # imported already by the stage's imports
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
