"""``deevisum plan``: the GPU memory each pipeline stage needs for a params file, as a table (and JSON).

The plan (``deevisum.scale.plan``: torch, transformers) is imported when the command runs, so
``deevisum --help`` and the other commands, which import this module to build their parser, do
not pay for it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deevisum.config import load_params
from deevisum.io import check_output_path, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default params.yaml)")
    parser.add_argument("--gpu-gb", type=float, default=80.0, help="GPU memory in GiB (default 80)")
    parser.add_argument("--segments", type=int, help="examples in the dataset, one per second (default: TVSum's)")
    parser.add_argument("--prompt-tokens", type=int, help="prompt length in tokens (default: estimated from prompts)")
    parser.add_argument("--json", type=Path, help="also write the plan as JSON here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the plan; exit status 1 on bad params (:func:`deevisum.app.cli.main`), 3 when a stage does not fit."""
    if args.json:
        check_output_path(args.json, [args.params])
    params = load_params(args.params)
    from deevisum.scale.plan import make_plan  # torch: only once the arguments are known to be good

    plan = make_plan(params, args.gpu_gb, args.segments, args.prompt_tokens)
    print(plan.table())
    report = plan.to_json()
    if args.json:
        write_json(args.json, report)
    return 0 if report["all_fit"] else 3
