"""The ``deevisum`` console script: one argparse subcommand per tool.

Each subcommand's module provides ``add_arguments(parser)`` (which sets ``func``) and keeps its
logic out of this file; adding a command is one entry in ``COMMANDS``. A command's errors end here:
a bad file or value (InputError, ParamsError, OSError, ValueError) is one line on stderr and exit
status 1; bad arguments are argparse's usage error, status 2. Command modules import only what
parsing and checking need, so a missing input is answered before torch is ever imported.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from collections.abc import Sequence

from deevisum.config import ParamsError
from deevisum.io import InputError, install_cleanup, one_line

COMMANDS = {
    "evaluate": ("deevisum.evaluation.command", "score importance predictions against TVSum/SumMe annotations"),
    "export-h5": ("deevisum.evaluation.export", "write the processed dataset as the field's eccv16 h5 file and split file"),
    "plan": ("deevisum.scale.command", "GPU memory per pipeline stage for a params file (weights, LoRA, activations)"),
    "summarize": ("deevisum.app.summarize", "summarize a video: keyshots chosen by the early-exit student, cut with ffmpeg"),
}
"""Subcommand -> (module with ``add_arguments``, one-line help)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deevisum", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        importlib.import_module(module).add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def fraction(text: str) -> float:
    """argparse type of a summary budget: a fraction in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction in (0, 1]")
    return value


def threshold(text: str) -> float:
    """argparse type of an early-exit threshold: a confidence >= 0 (confidences lie in [0, 1]: 0 always
    exits at the first head, above 1 never exits)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a threshold >= 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    restore_signals = install_cleanup()
    try:
        return int(args.func(args) or 0)
    except (InputError, OSError, ValueError) as e:
        where = f"{args.params}: " if isinstance(e, ParamsError) and getattr(args, "params", None) else ""
        print(f"deevisum {args.command}: error: {where}{one_line(e)}", file=sys.stderr)
        return 1
    finally:
        restore_signals()


if __name__ == "__main__":
    raise SystemExit(main())
