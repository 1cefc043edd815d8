"""The ``deevisum`` console script: one argparse subcommand per tool.

Each subcommand's module provides ``add_arguments(parser)`` (which sets ``func``) and keeps its
logic out of this file; adding a command is one entry in ``COMMANDS``. A command's errors end here:
a bad file or value (InputError, ParamsError, OSError, ValueError) is one line on stderr and exit
status 1; bad arguments are argparse's usage error, status 2. Command modules import only what
parsing and checking need, so a missing input is answered before torch is ever imported.

Messages go through :mod:`logging` (logger ``deevisum``, one ``<command>: ...`` line each, on stderr,
written through tqdm so they never break a progress bar): ``-q`` keeps warnings and errors only and
hides every progress bar, ``-v`` adds debug messages (the resolved settings).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import math
import sys
from collections.abc import Iterator, Sequence
from functools import partialmethod
from importlib import metadata

from deevisum.config import ParamsError
from deevisum.io import InputError, install_cleanup, one_line

COMMANDS = {
    "evaluate": ("deevisum.evaluation.command", "score importance predictions against TVSum/SumMe annotations"),
    "export-h5": ("deevisum.evaluation.export", "write the processed dataset as the field's eccv16 h5 file and split file"),
    "plan": ("deevisum.scale.command", "GPU memory per pipeline stage for a params file (weights, LoRA, activations)"),
    "summarize": ("deevisum.app.summarize", "summarize a video: keyshots chosen by the early-exit student, cut with ffmpeg"),
}
"""Subcommand -> (module with ``add_arguments``, one-line help)."""


LOG = logging.getLogger("deevisum")
"""Parent of every command's logger (``deevisum.<command>``); its handler is set up by :func:`main`."""


def version() -> str:
    """The installed package's version (``pip install -e .`` / ``pip install .``), from its metadata."""
    try:
        return metadata.version("deevisum")
    except metadata.PackageNotFoundError:
        return "unknown (the package is not installed: pip install -e .)"


def _verbosity_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """-q / -v, on the top-level parser and on every subcommand (``deevisum summarize -q x.mp4``)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", dest="log_level", action="store_const", const=logging.WARNING, default=default,
                       help="only warnings and errors: no progress messages, no progress bars")
    group.add_argument("-v", "--verbose", dest="log_level", action="store_const", const=logging.DEBUG, default=default,
                       help="also debug messages (the settings each step resolved)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deevisum", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    _verbosity_flags(parser, logging.INFO)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        _verbosity_flags(command, argparse.SUPPRESS)  # not given after the command: the top level's value stands
        importlib.import_module(module).add_arguments(command)
    return parser


class _Formatter(logging.Formatter):
    """``summarize: reading frames`` / ``summarize: warning: ...``: the command's name, then the level
    unless it is plain information."""

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"{record.name.rsplit('.', 1)[-1]}: {level}{record.getMessage()}"


class _BarSafeHandler(logging.Handler):
    """Writes each message on stderr through ``tqdm.write``, so it never cuts a progress bar in two."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging's own convention: report, never raise
            self.handleError(record)


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """Every tqdm bar created inside (the pipeline's, transformers', huggingface_hub's: all are
    ``tqdm.std.tqdm``) starts disabled, unless its caller asks otherwise. tqdm's own ``TQDM_DISABLE``
    is read when tqdm is imported, which the parser has done already."""
    from tqdm.std import tqdm

    init = tqdm.__dict__["__init__"]  # a partialmethod (tqdm's TQDM_* environment overrides)
    func, args, keywords = (init.func, init.args, init.keywords) if isinstance(init, partialmethod) else (init, (), {})
    tqdm.__init__ = partialmethod(func, *args, **{**keywords, "disable": True})
    try:
        yield
    finally:
        tqdm.__init__ = init


@contextlib.contextmanager
def logging_to_stderr(level: int) -> Iterator[None]:
    """The ``deevisum`` logger at ``level`` on stderr for the duration of one command (then as before)."""
    handler = _BarSafeHandler()
    handler.setFormatter(_Formatter())
    old_level = LOG.level
    LOG.addHandler(handler)
    LOG.setLevel(level)
    try:
        with no_progress_bars() if level > logging.INFO else contextlib.nullcontext():
            yield
    finally:
        LOG.removeHandler(handler)
        LOG.setLevel(old_level)


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
        with logging_to_stderr(args.log_level):
            return int(args.func(args) or 0)
    except (InputError, OSError, ValueError) as e:
        where = f"{args.params}: " if isinstance(e, ParamsError) and getattr(args, "params", None) else ""
        print(f"deevisum {args.command}: error: {where}{one_line(e)}", file=sys.stderr)
        return 1
    finally:
        restore_signals()


if __name__ == "__main__":
    raise SystemExit(main())
