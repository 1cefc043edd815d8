"""The ``deevisum`` console script: one argparse subcommand per tool.

Each subcommand's module provides ``add_arguments(parser)`` (which sets ``func``) and keeps its
logic out of this file; adding a command is one entry in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
